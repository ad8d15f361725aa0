import { appendFile, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { ColumnInfo } from './dataset-meta.ts';
import { datasetGone } from './gather-rows.ts';

/** Bytes of text a column buffers before it appends them to its file. */
const CHUNK_BYTES = 1024 * 1024;

/**
 * A column uploaded as raw text (the upload's `text` option): each row's UTF-8 bytes are
 * appended to one file and its end offset to another, in chunks, so a column of any length
 * costs a bounded amount of memory while it streams in. The text is stored as sent; the
 * job's `data.text` decides how it is normalized and split.
 */
export class TextColumnFile {
  readonly type = 'text';
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private ends: number[] = [];
  private end = 0;
  private maxChars = 0;
  private touched = false;
  rows = 0;

  constructor(
    readonly name: string,
    readonly file: string,
    readonly offsets: string,
    private readonly dir: string,
  ) {}

  push(value: string) {
    const bytes = Buffer.from(value, 'utf8');
    this.pending.push(bytes);
    this.pendingBytes += bytes.length;
    this.end += bytes.length;
    this.ends.push(this.end);
    if (value.length > this.maxChars) this.maxChars = value.length;
    this.rows++;
  }

  /** Whether enough is buffered to be worth an append. */
  get full() {
    return this.pendingBytes >= CHUNK_BYTES;
  }

  async flush() {
    if (this.pending.length === 0 && this.touched) return;
    const write = this.touched ? appendFile : writeFile;
    await write(path.join(this.dir, this.file), Buffer.concat(this.pending));
    await write(path.join(this.dir, this.offsets), new Uint8Array(Float64Array.from(this.ends).buffer));
    this.touched = true;
    this.pending = [];
    this.pendingBytes = 0;
    this.ends = [];
  }

  async close(): Promise<ColumnInfo> {
    await this.flush();
    return {
      name: this.name,
      type: 'text',
      shape: [],
      dtype: 'uint8',
      file: this.file,
      offsets: this.offsets,
      maxChars: this.maxChars,
    };
  }
}

/** The texts of `rows` (row numbers) of a stored text column, in that order. */
export async function readTexts(dir: string, column: ColumnInfo, rows: ArrayLike<number>): Promise<string[]> {
  if (column.type !== 'text' || !column.offsets) throw new Error(`column ${column.name} is not a text column`);
  const [bytes, offsetBytes] = await Promise.all([
    readFile(path.join(dir, column.file)).catch(datasetGone),
    readFile(path.join(dir, column.offsets)).catch(datasetGone),
  ]);
  const ends = new Float64Array(
    offsetBytes.buffer.slice(offsetBytes.byteOffset, offsetBytes.byteOffset + offsetBytes.byteLength),
  );
  const texts = new Array<string>(rows.length);
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i];
    const start = row === 0 ? 0 : ends[row - 1];
    texts[i] = bytes.toString('utf8', start, ends[row]);
  }
  return texts;
}
