import { isForbiddenKey } from '../json-guard.ts';
import { ColumnFile } from './column-file.ts';
import type { ColumnInfo } from './dataset-meta.ts';
import { invalidDataset, MAX_STRING_VALUES, parseNumber } from './upload-errors.ts';

export type Cell = string | number | null | undefined;

const FLUSH_EVERY_ROWS = 1024;

/**
 * Builds a table of scalar columns row by row (CSV rows, JSON records). A column's type is
 * set by its first row: numeric when that value is a number, string otherwise; a later
 * value that does not fit is refused with its row and column.
 */
export class TableBuilder {
  private columns: ColumnFile[] | undefined;
  rows = 0;

  constructor(
    readonly header: string[],
    private readonly dir: string,
  ) {
    const seen = new Set<string>();
    header.forEach((name, i) => {
      if (name === '') throw invalidDataset(`/columns/${i}`, 'the header has an empty column name');
      if (seen.has(name)) throw invalidDataset(`/columns/${i}`, `column name ${JSON.stringify(name)} appears twice in the header`);
      // Column names become keys of records at predict and of the stored category lists.
      if (isForbiddenKey(name)) throw invalidDataset(`/columns/${i}`, `column name ${JSON.stringify(name)} is reserved; rename the column`);
      seen.add(name);
    });
    if (header.length === 0) throw invalidDataset('/columns', 'the header names no columns');
  }

  /** `path` names the row in error messages, e.g. `/rows/7` (data rows count from 1). */
  async addRow(cells: Cell[], path: string) {
    const columns = (this.columns ??= this.header.map((name, i) => {
      const first = cells[i];
      const numeric = typeof first === 'number' || (typeof first === 'string' && parseNumber(first.trim()) !== undefined);
      return new ColumnFile(name, numeric ? 'numeric' : 'string', [], 'float32', `c${i}.bin`, this.dir);
    }));
    for (let i = 0; i < columns.length; i++) {
      const column = columns[i];
      const cell = cells[i];
      const at = `${path}/${column.name}`;
      if (cell === null || cell === undefined || (typeof cell === 'string' && cell.trim() === '')) {
        throw invalidDataset(at, `is missing (column ${JSON.stringify(column.name)} is empty in this row)`);
      }
      if (column.type === 'numeric') {
        const value = typeof cell === 'number' ? cell : parseNumber(cell.trim());
        if (value === undefined || !Number.isFinite(value)) {
          throw invalidDataset(at, `${JSON.stringify(cell)} is not a number, but column ${JSON.stringify(column.name)} is numeric (its first value is a number)`);
        }
        column.push(value);
      } else if (!column.pushString(String(cell).trim(), MAX_STRING_VALUES)) {
        throw invalidDataset(at, `column ${JSON.stringify(column.name)} has more than ${MAX_STRING_VALUES} distinct text values`);
      }
    }
    this.rows++;
    // Columns buffer whole chunks between flushes; checking every row would cost an await per cell.
    if (this.rows % FLUSH_EVERY_ROWS === 0) for (const column of columns) await column.flushIfFull();
  }

  async finish(): Promise<ColumnInfo[]> {
    if (!this.columns || this.rows === 0) throw invalidDataset('/rows', 'the dataset has no data rows');
    const infos: ColumnInfo[] = [];
    for (const column of this.columns) infos.push(await column.close());
    return infos;
  }

  async abort() {
    for (const column of this.columns ?? []) await column.abort();
  }
}
