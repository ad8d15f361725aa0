import { open, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { ClassCount, ColumnDtype, ColumnInfo, ColumnType } from './dataset-meta.ts';

const CHUNK_VALUES = 64 * 1024;
/** A numeric scalar column with at most this many distinct whole numbers reports them as classes. */
const MAX_NUMERIC_CLASSES = 50;

/**
 * One column being written: values are buffered in a small chunk and appended to the file,
 * so a column of any length costs a constant amount of memory. Statistics (min/max/mean,
 * and class counts) are gathered on the way.
 */
export class ColumnFile {
  private handle?: FileHandle;
  private buffer: Float32Array | Uint8Array;
  /** Chunks filled since the last flush (a reader may push a whole network chunk between flushes). */
  private full: (Float32Array | Uint8Array)[] = [];
  private used = 0;
  private sum = 0;
  private count = 0;
  private min = Infinity;
  private max = -Infinity;
  /** For numeric scalar columns: value -> count while the values look like class indices. */
  private distinct: Map<number, number> | undefined = new Map();
  /** For string columns: value -> code, and counts by code. */
  readonly codes = new Map<string, number>();
  private readonly codeCounts: number[] = [];
  rows = 0;

  constructor(
    readonly name: string,
    readonly type: ColumnType,
    readonly shape: number[],
    readonly dtype: ColumnDtype,
    readonly file: string,
    private readonly dir: string,
  ) {
    this.buffer = this.allocate();
    if (shape.length > 0) this.distinct = undefined;
  }

  private allocate() {
    return this.dtype === 'uint8' ? new Uint8Array(CHUNK_VALUES) : new Float32Array(CHUNK_VALUES);
  }

  private rotate() {
    this.full.push(this.buffer);
    this.buffer = this.allocate();
    this.used = 0;
  }

  /** Appends one numeric value; call `flushIfFull` between rows. */
  push(value: number) {
    if (this.used === this.buffer.length) this.rotate();
    this.buffer[this.used++] = value;
    this.count++;
    this.sum += value;
    if (value < this.min) this.min = value;
    if (value > this.max) this.max = value;
    if (this.distinct) {
      if (Number.isInteger(value) && value >= 0) this.distinct.set(value, (this.distinct.get(value) ?? 0) + 1);
      if (!Number.isInteger(value) || value < 0 || this.distinct.size > MAX_NUMERIC_CLASSES) this.distinct = undefined;
    }
    if (this.used === this.buffer.length) this.pending = true;
  }

  /** Appends a string value as its code; returns false when the column has too many distinct values. */
  pushString(value: string, maxDistinct: number): boolean {
    let code = this.codes.get(value);
    if (code === undefined) {
      if (this.codes.size >= maxDistinct) return false;
      code = this.codes.size;
      this.codes.set(value, code);
      this.codeCounts.push(0);
    }
    this.codeCounts[code]++;
    if (this.used === this.buffer.length) this.rotate();
    this.buffer[this.used++] = code;
    if (this.used === this.buffer.length) this.pending = true;
    return true;
  }

  private pending = false;

  /** Writes the chunk out once it is full (the caller awaits this between rows). */
  async flushIfFull() {
    if (this.pending || this.full.length > 0) await this.flush();
  }

  async flush() {
    this.pending = false;
    if (this.used === 0 && this.full.length === 0) return;
    this.handle ??= await open(path.join(this.dir, this.file), 'w');
    for (const chunk of this.full) await this.handle.write(new Uint8Array(chunk.buffer, 0, chunk.byteLength));
    this.full = [];
    await this.handle.write(new Uint8Array(this.buffer.buffer, 0, this.used * this.buffer.BYTES_PER_ELEMENT));
    this.used = 0;
  }

  /** Flushes and closes the file; returns what the store records about the column. */
  async close(): Promise<ColumnInfo> {
    await this.flush();
    if (!this.handle) this.handle = await open(path.join(this.dir, this.file), 'w');
    await this.handle.close();
    const info: ColumnInfo = { name: this.name, type: this.type, shape: this.shape, dtype: this.dtype, file: this.file };
    if (this.type === 'string') {
      info.classes = [...this.codes.keys()].map((name, code): ClassCount => ({ name, count: this.codeCounts[code] }));
    } else if (this.count > 0) {
      info.min = this.min;
      info.max = this.max;
      info.mean = this.sum / this.count;
      if (this.distinct) {
        info.classes = [...this.distinct.entries()].sort((a, b) => a[0] - b[0]).map(([v, count]) => ({ name: String(v), count }));
      }
    }
    return info;
  }

  /** Closes the file without recording anything (the upload failed). */
  async abort() {
    await this.handle?.close().catch(() => undefined);
  }
}
