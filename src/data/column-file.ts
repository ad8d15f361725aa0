import { open, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { ClassCount, ColumnDtype, ColumnInfo, ColumnType } from './dataset-meta.ts';

/** Largest chunk a column buffers before it is written out. */
export const MAX_CHUNK_VALUES = 64 * 1024;
/** A column's first buffer; it doubles up to its chunk size, so a short upload or a wide one costs little. */
const FIRST_BUFFER_VALUES = 256;
/** A numeric scalar column with at most this many distinct whole numbers reports them as classes. */
const MAX_NUMERIC_CLASSES = 50;

/**
 * One column being written: values are buffered in a chunk and appended to the file, so a
 * column of any length costs a bounded amount of memory. The buffer starts small and grows
 * to `chunkValues`, which a table sizes from a fixed budget divided among its columns. The
 * file is opened only to append a chunk, so a wide table holds no file handles between
 * flushes. Statistics (min/max/mean, and class counts) are gathered on the way.
 */
export class ColumnFile {
  private buffer: Float32Array | Uint8Array;
  /** Chunks filled since the last flush (a reader may push a whole network chunk between flushes). */
  private full: (Float32Array | Uint8Array)[] = [];
  private used = 0;
  private written = false;
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
    private readonly chunkValues = MAX_CHUNK_VALUES,
  ) {
    this.buffer = this.allocate(Math.min(FIRST_BUFFER_VALUES, chunkValues));
    if (shape.length > 0) this.distinct = undefined;
  }

  private allocate(values: number) {
    return this.dtype === 'uint8' ? new Uint8Array(values) : new Float32Array(values);
  }

  /** Makes room for one more value: grows the buffer, or sets a full chunk aside for the next flush. */
  private room() {
    if (this.buffer.length < this.chunkValues) {
      const bigger = this.allocate(Math.min(this.buffer.length * 2, this.chunkValues));
      bigger.set(this.buffer);
      this.buffer = bigger;
    } else {
      this.full.push(this.buffer);
      this.buffer = this.allocate(this.chunkValues);
      this.used = 0;
    }
  }

  /** Appends one numeric value; call `flushIfFull` between rows. */
  push(value: number) {
    if (this.used === this.buffer.length) this.room();
    this.buffer[this.used++] = value;
    this.count++;
    this.sum += value;
    if (value < this.min) this.min = value;
    if (value > this.max) this.max = value;
    if (this.distinct) {
      if (Number.isInteger(value) && value >= 0) this.distinct.set(value, (this.distinct.get(value) ?? 0) + 1);
      if (!Number.isInteger(value) || value < 0 || this.distinct.size > MAX_NUMERIC_CLASSES) this.distinct = undefined;
    }
    if (this.used === this.chunkValues) this.pending = true;
  }

  /** Appends a string value as its code; `onNew` sees a value before it becomes a new class (and may refuse it by throwing). */
  pushString(value: string, onNew: (value: string, classes: number) => void) {
    let code = this.codes.get(value);
    if (code === undefined) {
      onNew(value, this.codes.size);
      code = this.codes.size;
      this.codes.set(value, code);
      this.codeCounts.push(0);
    }
    this.codeCounts[code]++;
    if (this.used === this.buffer.length) this.room();
    this.buffer[this.used++] = code;
    if (this.used === this.chunkValues) this.pending = true;
  }

  private pending = false;

  /** Writes the chunk out once it is full (the caller awaits this between rows). */
  async flushIfFull() {
    if (this.pending || this.full.length > 0) await this.flush();
  }

  async flush() {
    this.pending = false;
    if (this.used === 0 && this.full.length === 0) return;
    const handle = await open(path.join(this.dir, this.file), 'a');
    try {
      for (const chunk of this.full) await handle.write(new Uint8Array(chunk.buffer, 0, chunk.byteLength));
      await handle.write(new Uint8Array(this.buffer.buffer, 0, this.used * this.buffer.BYTES_PER_ELEMENT));
    } finally {
      await handle.close();
    }
    this.full = [];
    this.used = 0;
    this.written = true;
  }

  /** Flushes the last values; returns what the store records about the column. */
  async close(): Promise<ColumnInfo> {
    await this.flush();
    if (!this.written) await writeFile(path.join(this.dir, this.file), new Uint8Array(0));
    const info: ColumnInfo = {
      name: this.name,
      type: this.type,
      shape: this.shape,
      dtype: this.dtype,
      file: this.file,
    };
    if (this.type === 'string') {
      info.classes = [...this.codes.keys()].map((name, code): ClassCount => ({ name, count: this.codeCounts[code] }));
    } else if (this.count > 0) {
      info.min = this.min;
      info.max = this.max;
      info.mean = this.sum / this.count;
      if (this.distinct) {
        info.classes = [...this.distinct.entries()]
          .sort((a, b) => a[0] - b[0])
          .map(([v, count]) => ({ name: String(v), count }));
      }
    }
    return info;
  }
}
