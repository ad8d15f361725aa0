import type { Readable } from 'node:stream';
import parserStream from 'stream-json';
import Assembler from 'stream-json/assembler.js';
import { FORBIDDEN_KEYS, forbiddenKeyMessage, tooDeepMessage } from '../json-guard.ts';
import { ColumnFile } from './column-file.ts';
import type { ColumnInfo } from './dataset-meta.ts';
import { TableBuilder, type Cell } from './table-builder.ts';
import { invalidDataset, MAX_STRING_VALUES } from './upload-errors.ts';

type Token = { name: string; value?: unknown };

/**
 * Streams a JSON upload into column files: either `{"x": [...], "y": [...]}` (samples as
 * numbers or nested arrays; labels as numbers, arrays or class names) or an array of flat
 * records `[{"col": value, ...}]`. Only one sample is ever assembled in memory at a time.
 * Prototype keys (`__proto__`, ...) and nesting deeper than `maxDepth` are refused as they
 * stream by, before any object is assembled from them.
 */
export async function readJson(source: Readable, dir: string, maxDepth = 64): Promise<{ rows: number; columns: ColumnInfo[] }> {
  const tokens = source.pipe(parserStream({ streamValues: false, packValues: true }));
  source.on('error', (err) => tokens.destroy(err));
  let sink: ElementSink | undefined;
  try {
    const iterator = (tokens as AsyncIterable<Token>)[Symbol.asyncIterator]();
    /** The sample or record being read, for error paths. */
    let where = '';
    let depth = 0;
    const next = async () => {
      const r = await iterator.next();
      if (r.done) throw invalidDataset('/', 'the JSON document ended early');
      const token = r.value;
      if (token.name === 'startArray' || token.name === 'startObject') {
        if (++depth > maxDepth) throw invalidDataset(where || '/', tooDeepMessage(maxDepth));
      } else if (token.name === 'endArray' || token.name === 'endObject') depth--;
      else if (token.name === 'keyValue' && FORBIDDEN_KEYS.has(token.value as string)) {
        throw invalidDataset(`${where}/${token.value as string}`, forbiddenKeyMessage(token.value as string));
      }
      return token;
    };
    /** Assembles the value that starts with `first` (one sample or record). */
    const assemble = async (first: Token): Promise<unknown> => {
      const asm = new Assembler();
      asm.consume(first as never);
      while (!asm.done) asm.consume((await next()) as never);
      return asm.current;
    };
    /** Feeds every element of the array whose `startArray` was just read to `each`. */
    const eachElement = async (base: string, each: (value: unknown, index: number) => Promise<void>) => {
      for (let i = 0; ; i++) {
        where = `${base}/${i}`;
        const token = await next();
        if (token.name === 'endArray') return;
        await each(await assemble(token), i);
      }
    };

    const first = await next();
    if (first.name === 'startArray') {
      const records = new RecordSink(dir);
      sink = records;
      await eachElement('', (value, i) => records.add(value, i));
    } else if (first.name === 'startObject') {
      const x = new TensorSink('x', dir, false);
      const y = new TensorSink('y', dir, true);
      sink = { abort: async () => (await x.abort(), await y.abort()) } as ElementSink;
      for (;;) {
        where = '';
        const token = await next();
        if (token.name === 'endObject') break;
        const key = token.value as string;
        if (key !== 'x' && key !== 'y') throw invalidDataset(`/${key}`, 'is not a known field: a JSON dataset is {"x": [...], "y": [...]} or an array of records');
        if ((await next()).name !== 'startArray') throw invalidDataset(`/${key}`, 'must be an array with one entry per sample');
        const target = key === 'x' ? x : y;
        await eachElement(`/${key}`, (value, i) => target.add(value, i));
      }
      if (x.rows === 0 || y.rows === 0) throw invalidDataset(x.rows === 0 ? '/x' : '/y', 'is missing or empty');
      if (x.rows !== y.rows) throw invalidDataset('/y', `has ${y.rows} labels for ${x.rows} samples in /x`);
      const columns = [await x.close(), await y.close()];
      return { rows: x.rows, columns };
    } else {
      throw invalidDataset('/', 'a JSON dataset is {"x": [...], "y": [...]} or an array of records');
    }
    return { rows: sink.rows, columns: await sink.close() };
  } catch (err) {
    await sink?.abort();
    if (err instanceof Error && !('status' in err)) throw invalidDataset('/', `not valid JSON: ${err.message}`);
    throw err;
  } finally {
    tokens.destroy();
  }
}

interface ElementSink {
  rows: number;
  close(): Promise<ColumnInfo[]>;
  abort(): Promise<void>;
}

/** Records: flat objects with the same keys as the first one. */
class RecordSink implements ElementSink {
  private table: TableBuilder | undefined;
  constructor(private readonly dir: string) {}
  get rows() {
    return this.table?.rows ?? 0;
  }
  async add(value: unknown, i: number) {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw invalidDataset(`/${i}`, 'must be a record: an object of column -> number or text');
    }
    const record = value as Record<string, unknown>;
    this.table ??= new TableBuilder(Object.keys(record), this.dir);
    const extra = Object.keys(record).find((k) => !this.table!.header.includes(k));
    if (extra !== undefined) throw invalidDataset(`/${i}/${extra}`, 'is not a column of the first record');
    const cells = this.table.header.map((name): Cell => {
      const cell = record[name];
      if (cell !== null && cell !== undefined && typeof cell !== 'number' && typeof cell !== 'string') {
        throw invalidDataset(`/${i}/${name}`, `must be a number or text, got ${JSON.stringify(cell).slice(0, 40)}`);
      }
      return cell as Cell;
    });
    await this.table.addRow(cells, `/${i}`);
  }
  async close() {
    if (!this.table) throw invalidDataset('/', 'the array of records is empty');
    return this.table.finish();
  }
  async abort() {
    await this.table?.abort();
  }
}

/** One of `x`/`y`: every element shaped like the first; `y` may hold class names instead. */
class TensorSink {
  private column: ColumnFile | undefined;
  private shape: number[] = [];
  rows = 0;
  constructor(
    private readonly name: string,
    private readonly dir: string,
    private readonly allowText: boolean,
  ) {}

  async add(value: unknown, i: number) {
    const at = `/${this.name}/${i}`;
    if (!this.column) {
      const text = typeof value === 'string';
      if (text && !this.allowText) throw invalidDataset(at, 'must be a number or nested arrays of numbers');
      this.shape = text ? [] : shapeOf(value);
      this.column = new ColumnFile(this.name, text ? 'string' : 'numeric', this.shape, 'float32', `${this.name}.bin`, this.dir);
    }
    const column = this.column;
    if (column.type === 'string') {
      if (typeof value !== 'string') throw invalidDataset(at, `must be a class name like the first label, got ${JSON.stringify(value)?.slice(0, 40)}`);
      if (!column.pushString(value, MAX_STRING_VALUES)) throw invalidDataset(at, `more than ${MAX_STRING_VALUES} distinct class names`);
    } else {
      walk(value, this.shape, 0, at, (v) => column.push(v));
    }
    this.rows++;
    await column.flushIfFull();
  }
  async close() {
    return this.column!.close();
  }
  async abort() {
    await this.column?.abort();
  }
}

function shapeOf(sample: unknown): number[] {
  const shape: number[] = [];
  for (let cursor = sample; Array.isArray(cursor); cursor = cursor[0]) shape.push(cursor.length);
  return shape;
}

function walk(value: unknown, shape: number[], depth: number, at: string, push: (v: number) => void) {
  if (depth === shape.length) {
    if (typeof value !== 'number' || !Number.isFinite(value)) throw invalidDataset(at, `must be a finite number, got ${JSON.stringify(value)?.slice(0, 40)}`);
    push(value);
    return;
  }
  if (!Array.isArray(value) || value.length !== shape[depth] || value.length === 0) {
    const got = Array.isArray(value) ? `${value.length} entries` : JSON.stringify(value)?.slice(0, 40);
    throw invalidDataset(at, `must be an array of ${shape[depth]} entries like the first sample (ragged data), got ${got}`);
  }
  value.forEach((inner, j) => walk(inner, shape, depth + 1, `${at}/${j}`, push));
}
