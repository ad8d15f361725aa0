import type { Readable } from 'node:stream';
import { parse, CsvError } from 'csv-parse';
import type { ColumnInfo } from './dataset-meta.ts';
import { DEFAULT_INGEST_LIMITS, type IngestLimits } from './ingest-limits.ts';
import { CsvShape } from './csv-shape.ts';
import { sliced, Turns } from './pacing.ts';
import { TableBuilder } from './table-builder.ts';
import { invalidDataset } from './upload-errors.ts';

export interface CsvOptions {
  delimiter?: string;
  limits?: IngestLimits;
}

/**
 * Streams a CSV file with a header row into column files in `dir`. Quoting, escaped quotes,
 * CRLF and a BOM are the parser's business; rows of the wrong length are refused with their
 * line number. The parser holds one row at a time, and refuses a row longer than the widest
 * one the caps allow (DATASET_MAX_COLUMNS cells of DATASET_MAX_CELL_CHARS), so a file with
 * no line breaks is not read whole into memory; CsvShape, ahead of it, refuses a row of more
 * than DATASET_MAX_COLUMNS fields (empty ones weigh nothing against that size) and tells it
 * the line ending. The input is read in slices, a turn of the event loop apart.
 */
export async function readCsv(
  source: Readable,
  dir: string,
  options: CsvOptions = {},
): Promise<{ rows: number; columns: ColumnInfo[] }> {
  const limits = options.limits ?? DEFAULT_INGEST_LIMITS;
  // Raw-text columns (the `text` option) may each be DATASET_MAX_TEXT_CHARS long on top.
  const maxRowChars =
    limits.maxColumns * (limits.maxCellChars + 1) + (limits.textColumns?.length ?? 0) * (limits.maxTextChars + 1);
  const delimiter = options.delimiter ?? ',';
  // The header as the parser saw it: it may refuse a later row before the loop below has read the header.
  let header: string[] | undefined;
  const slices = sliced();
  const shape = new CsvShape(delimiter, limits.maxColumns, maxRowChars);
  source.on('error', (err) => slices.destroy(err));
  slices.on('error', (err) => shape.destroy(err));
  source.pipe(slices).pipe(shape);
  let table: TableBuilder | undefined;
  const turns = new Turns();
  try {
    const parser = shape.pipe(
      parse({
        delimiter,
        record_delimiter: await shape.recordDelimiter,
        bom: true,
        skip_empty_lines: true,
        relax_quotes: false,
        max_record_size: maxRowChars,
        on_record: (record: string[]) => {
          header ??= record;
          return record;
        },
      }),
    );
    // The shape may have refused a line already, while the line ending was being awaited.
    const refuse = (err: Error) => parser.destroy(err);
    if (shape.errored) refuse(shape.errored);
    else shape.on('error', refuse);
    for await (const record of parser as AsyncIterable<string[]>) {
      // Before each row: the parser may just have spent the budget on a wide one.
      if (turns.due) await turns.turn();
      if (!table) {
        table = new TableBuilder(
          record.map((name) => name.trim()),
          dir,
          limits,
        );
        continue;
      }
      table.addRow(record, `/rows/${table.rows + 1}`);
      if (table.needsFlush) await table.flush();
    }
    if (!table) throw invalidDataset('/rows', 'the file is empty: a CSV upload needs a header row and data rows');
    return { rows: table.rows, columns: await table.finish() };
  } catch (err) {
    if (err instanceof CsvError) {
      const { lines, column } = err as CsvError & { lines?: number; column?: number | string | null };
      const row = lines !== undefined ? lines - 1 : '?';
      if (err.code === 'CSV_MAX_RECORD_SIZE') {
        const where =
          row === 0
            ? `/columns/${column ?? '?'}`
            : `/rows/${row}/${header?.[Number(column)]?.trim().slice(0, limits.maxCellChars) ?? column ?? '?'}`;
        throw invalidDataset(
          where,
          `line ${lines ?? '?'} is longer than ${maxRowChars} characters, the longest row allowed (DATASET_MAX_COLUMNS=${limits.maxColumns} cells of at most DATASET_MAX_CELL_CHARS=${limits.maxCellChars})`,
        );
      }
      throw invalidDataset(`/rows/${row}`, `malformed CSV at line ${lines ?? '?'}: ${err.message}`);
    }
    throw err;
  }
}
