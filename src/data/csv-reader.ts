import type { Readable } from 'node:stream';
import { parse, CsvError } from 'csv-parse';
import type { ColumnInfo } from './dataset-meta.ts';
import { TableBuilder } from './table-builder.ts';
import { invalidDataset } from './upload-errors.ts';

export interface CsvOptions {
  delimiter?: string;
}

/**
 * Streams a CSV file with a header row into column files in `dir`. Quoting, escaped quotes,
 * CRLF and a BOM are the parser's business; rows of the wrong length are refused with their
 * line number.
 */
export async function readCsv(source: Readable, dir: string, options: CsvOptions = {}): Promise<{ rows: number; columns: ColumnInfo[] }> {
  const parser = source.pipe(
    parse({ delimiter: options.delimiter ?? ',', bom: true, skip_empty_lines: true, relax_quotes: false }),
  );
  source.on('error', (err) => parser.destroy(err));
  let table: TableBuilder | undefined;
  try {
    for await (const record of parser as AsyncIterable<string[]>) {
      if (!table) {
        table = new TableBuilder(record.map((name) => name.trim()), dir);
        continue;
      }
      await table.addRow(record, `/rows/${table.rows + 1}`);
    }
    if (!table) throw invalidDataset('/rows', 'the file is empty: a CSV upload needs a header row and data rows');
    return { rows: table.rows, columns: await table.finish() };
  } catch (err) {
    await table?.abort();
    if (err instanceof CsvError) {
      const line = (err as CsvError & { lines?: number }).lines;
      throw invalidDataset(`/rows/${line !== undefined ? line - 1 : '?'}`, `malformed CSV at line ${line ?? '?'}: ${err.message}`);
    }
    throw err;
  }
}
