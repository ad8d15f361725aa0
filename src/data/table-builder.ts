import pLimit from 'p-limit';
import { isForbiddenKey } from '../json-guard.ts';
import { ColumnFile, MAX_CHUNK_VALUES } from './column-file.ts';
import type { ColumnInfo } from './dataset-meta.ts';
import {
  CLASS_META_BYTES,
  COLUMN_META_BYTES,
  DEFAULT_INGEST_LIMITS,
  jsonBytes,
  MetaBudget,
  type IngestLimits,
} from './ingest-limits.ts';
import { TextColumnFile } from './text-column.ts';
import { invalidDataset, parseNumber } from './upload-errors.ts';

export type Cell = string | number | null | undefined;

/**
 * Values all the columns of a table buffer together before they are written out: each
 * column's chunk is this divided by the number of columns, so a table's buffers cost the
 * same whether it has 3 columns or thousands.
 */
const TABLE_BUFFER_VALUES = 2 * 1024 * 1024;
/** Smallest chunk of a column of a very wide table: below this, appends are too small to pay for their system calls. */
const MIN_CHUNK_VALUES = 64;

/**
 * Builds a table of scalar columns row by row (CSV rows, JSON records). A column's type is
 * set by its first row: numeric when that value is a number, string otherwise; a later
 * value that does not fit is refused with its row and column. The caps of `limits` are
 * checked as rows arrive, each refusal a 400 naming the cap, the row and the column.
 */
export class TableBuilder {
  private columns: (ColumnFile | TextColumnFile)[] | undefined;
  /** Rows between flushes: every column gets one value per row, so all their chunks fill together. */
  private readonly chunkValues: number;
  private readonly budget: MetaBudget;
  rows = 0;

  constructor(
    readonly header: string[],
    private readonly dir: string,
    private readonly limits: IngestLimits = DEFAULT_INGEST_LIMITS,
  ) {
    if (header.length === 0) throw invalidDataset('/columns', 'the header names no columns');
    if (header.length > limits.maxColumns) {
      throw invalidDataset(
        '/columns',
        `the header names ${header.length} columns; a dataset may have at most ${limits.maxColumns} (DATASET_MAX_COLUMNS)`,
      );
    }
    this.budget = new MetaBudget(limits.maxMetaBytes);
    const seen = new Set<string>();
    header.forEach((name, i) => {
      if (name === '') throw invalidDataset(`/columns/${i}`, 'the header has an empty column name');
      if (name.length > limits.maxCellChars) {
        throw invalidDataset(
          `/columns/${i}`,
          `column name is ${name.length} characters long; at most ${limits.maxCellChars} (DATASET_MAX_CELL_CHARS)`,
        );
      }
      if (seen.has(name))
        throw invalidDataset(`/columns/${i}`, `column name ${JSON.stringify(name)} appears twice in the header`);
      // Column names become keys of records at predict and of the stored category lists.
      if (isForbiddenKey(name))
        throw invalidDataset(`/columns/${i}`, `column name ${JSON.stringify(name)} is reserved; rename the column`);
      seen.add(name);
      this.budget.charge(
        jsonBytes(name) + COLUMN_META_BYTES,
        `/columns/${i}`,
        `column ${JSON.stringify(name.slice(0, 40))}`,
      );
    });
    limits.textColumns?.forEach((name, i) => {
      if (!seen.has(name))
        throw invalidDataset(`/text/${i}`, `names no column: the header has no column ${JSON.stringify(name)}`);
    });
    this.chunkValues = Math.max(
      MIN_CHUNK_VALUES,
      Math.min(MAX_CHUNK_VALUES, Math.floor(TABLE_BUFFER_VALUES / header.length)),
    );
  }

  /**
   * `path` names the row in error messages, e.g. `/rows/7` (data rows count from 1). Call
   * `flush` whenever `needsFlush` says so: rows are added synchronously, so a reader can add a
   * slice's worth of them in one go.
   */
  addRow(cells: Cell[], path: string) {
    this.columns ??= this.header.map((name, i) => {
      if (this.limits.textColumns?.includes(name)) return new TextColumnFile(name, `c${i}.txt`, `c${i}.off`, this.dir);
      const first = cells[i];
      const numeric =
        typeof first === 'number' || (typeof first === 'string' && parseNumber(first.trim()) !== undefined);
      return new ColumnFile(
        name,
        numeric ? 'numeric' : 'string',
        [],
        'float32',
        `c${i}.bin`,
        this.dir,
        this.chunkValues,
      );
    });
    const columns = this.columns;
    const { maxCellChars, maxClasses } = this.limits;
    // Every cell of every row passes here: its path is built only for an error.
    for (let i = 0; i < columns.length; i++) {
      const column = columns[i];
      const cell = cells[i];
      if (column instanceof TextColumnFile) {
        this.addText(column, cell, path);
        continue;
      }
      if (cell === null || cell === undefined || (typeof cell === 'string' && cell.trim() === '')) {
        throw invalidDataset(
          `${path}/${column.name}`,
          `is missing (column ${JSON.stringify(column.name)} is empty in this row)`,
        );
      }
      if (typeof cell === 'string' && cell.length > maxCellChars) {
        throw invalidDataset(
          `${path}/${column.name}`,
          `is ${cell.length} characters long; a cell may hold at most ${maxCellChars} (DATASET_MAX_CELL_CHARS)`,
        );
      }
      if (column.type === 'numeric') {
        const value = typeof cell === 'number' ? cell : parseNumber(cell.trim());
        if (value === undefined || !Number.isFinite(value)) {
          throw invalidDataset(
            `${path}/${column.name}`,
            `${JSON.stringify(cell.toString().slice(0, 40))} is not a number, but column ${JSON.stringify(column.name)} is numeric (its first value is a number)`,
          );
        }
        column.push(value);
      } else {
        const value = String(cell).trim();
        if (!column.codes.has(value)) {
          const at = `${path}/${column.name}`;
          if (column.codes.size >= maxClasses) {
            throw invalidDataset(
              at,
              `column ${JSON.stringify(column.name)} has more than ${maxClasses} distinct text values (DATASET_MAX_CLASSES)`,
            );
          }
          this.budget.charge(
            jsonBytes(value) + CLASS_META_BYTES,
            at,
            `a new value of column ${JSON.stringify(column.name)}`,
          );
        }
        column.pushString(value, checked);
      }
    }
    this.rows++;
    if (this.rows % this.chunkValues === 0) this.needsFlush = true;
  }

  /** A raw-text cell: empty text is a document too; only an absent cell is missing. */
  private addText(column: TextColumnFile, cell: Cell, path: string) {
    if (cell === null || cell === undefined)
      throw invalidDataset(`${path}/${column.name}`, `is missing (column ${JSON.stringify(column.name)} has no value)`);
    const text = String(cell);
    if (text.length > this.limits.maxTextChars) {
      throw invalidDataset(
        `${path}/${column.name}`,
        `is ${text.length} characters long; a text cell may hold at most ${this.limits.maxTextChars} (DATASET_MAX_TEXT_CHARS)`,
      );
    }
    column.push(text);
    if (column.full) this.needsFlush = true;
  }

  /** Whether every column's chunk is full (they fill together), to be written out with `flush`. */
  needsFlush = false;

  async flush() {
    this.needsFlush = false;
    await eachColumn(this.columns ?? [], (column) => column.flush());
  }

  async finish(): Promise<ColumnInfo[]> {
    if (!this.columns || this.rows === 0) throw invalidDataset('/rows', 'the dataset has no data rows');
    return eachColumn(this.columns, (column) => column.close());
  }
}

/** For `pushString` once `addRow` has checked a new value against the caps itself. */
const checked = () => undefined;

/** Column files written at once: a wide table's thousands of small appends overlap instead of queueing one by one. */
const PARALLEL_WRITES = 8;

const eachColumn = <T, C extends ColumnFile | TextColumnFile>(
  columns: C[],
  write: (column: C) => Promise<T>,
): Promise<T[]> => {
  const limit = pLimit(PARALLEL_WRITES);
  return Promise.all(columns.map((column) => limit(() => write(column))));
};
