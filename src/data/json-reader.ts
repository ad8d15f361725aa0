import { Transform, type Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import Assembler from 'stream-json/assembler.js';
import { jsonParser } from 'stream-json/core/parser.js';
import { FORBIDDEN_KEYS, forbiddenKeyMessage, tooDeepMessage } from '../json-guard.ts';
import { ColumnFile } from './column-file.ts';
import type { ColumnInfo } from './dataset-meta.ts';
import { CLASS_META_BYTES, DEFAULT_INGEST_LIMITS, jsonBytes, MetaBudget, type IngestLimits } from './ingest-limits.ts';
import { sliced, Turns } from './pacing.ts';
import { TableBuilder, type Cell } from './table-builder.ts';
import { invalidDataset } from './upload-errors.ts';

type Token = { name: string; value?: unknown };

const SCALARS = new Set(['stringValue', 'numberValue', 'trueValue', 'falseValue', 'nullValue']);

/**
 * stream-json's "no value" marker (stream-chain's `none`, a registered symbol): what its
 * tokenizer returns for text that completes no token, and what flushes it at the end.
 */
const NONE = Symbol.for('object-stream.none');
/** What the reader is given after the last token. */
const END: Token = { name: '(end)' };

type Tokenizer = (text: string | symbol) => typeof NONE | { values: Token[] };
type Result = { rows: number; columns: ColumnInfo[] };
interface Sink {
  add(value: unknown, index: number): void;
  flush(): Promise<void>;
}
/** A sample or record the reader has assembled, waiting to be added to its sink. */
interface Assembled {
  sink: Sink;
  value: unknown;
  index: number;
}

/**
 * Streams a JSON upload into column files: either `{"x": [...], "y": [...]}` (samples as
 * numbers or nested arrays; labels as numbers, arrays or class names) or an array of flat
 * records `[{"col": value, ...}]`. Only one sample is ever assembled in memory at a time,
 * and it is bounded as it streams by, before anything is assembled from it: prototype keys
 * (`__proto__`, ...), nesting deeper than `maxDepth`, a key, text or number longer than
 * DATASET_MAX_CELL_CHARS, a sample of more than DATASET_MAX_SAMPLE_VALUES numbers and a
 * record of more than DATASET_MAX_COLUMNS values are refused.
 *
 * The bytes come in slices, a turn of the event loop apart; each slice is tokenized in one
 * call and its tokens handed to the reader (`readDocument`, a generator) one by one, without
 * a stream, an object or a promise per token. What it assembles from a slice is then added
 * to the columns sample by sample, with a turn of the event loop whenever one is due (a
 * record of thousands of keys is a row of thousands of cells), and full chunks are written.
 */
export async function readJson(
  source: Readable,
  dir: string,
  maxDepth = 64,
  limits: IngestLimits = DEFAULT_INGEST_LIMITS,
): Promise<Result> {
  // The tokenizer packs each key, string and number whole: the scanner in front of it refuses
  // one whose text runs on for far longer than a cell may, before the tokenizer holds it.
  const slices = sliced();
  const scanner = lexemeLimit(maxStringChars(limits));
  source.on('error', (err) => slices.destroy(err));
  slices.on('error', (err) => scanner.destroy(err));
  source.pipe(slices).pipe(scanner);
  const tokenize = jsonParser({ packValues: true, streamValues: false }) as unknown as Tokenizer;
  const decoder = new StringDecoder('utf8');
  const sinks: Sink[] = [];
  const assembled: Assembled[] = [];
  const reader = readDocument(dir, maxDepth, limits, sinks, assembled);
  const turns = new Turns();
  let result: IteratorResult<void, () => Promise<Result>> = reader.next();
  let atStart = true;
  /** Tokenizes `text` (NONE: the end) and hands the reader its tokens until it has read the document. */
  const feed = (text: string | symbol) => {
    if (typeof text === 'string') {
      // As stream-json's own UTF-8 front does: a byte-order mark that starts the text is dropped.
      if (atStart && text.length > 0) {
        atStart = false;
        if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
      }
      if (text.length === 0) return;
    }
    const tokens = tokenize(text);
    if (tokens === NONE) return;
    for (const token of tokens.values) {
      result = reader.next(token);
      if (result.done) return;
    }
  };
  /**
   * Runs `read` (tokens to the reader), then adds what it assembled and writes full chunks: a
   * sample refused by its sink comes before a refusal the reader met later in the same slice.
   */
  const step = async (read: () => void) => {
    let failure: { err: unknown } | undefined;
    try {
      read();
    } catch (err) {
      failure = { err };
    }
    for (const { sink, value, index } of assembled.splice(0)) {
      if (turns.due) await turns.turn();
      sink.add(value, index);
    }
    for (const sink of sinks) await sink.flush();
    if (failure) throw failure.err;
  };
  try {
    for await (const chunk of scanner as AsyncIterable<Buffer>) {
      await step(() => feed(decoder.write(chunk)));
      if (result.done) break;
      if (turns.due) await turns.turn();
    }
    if (!result.done) await step(() => feed(decoder.end()));
    if (!result.done) await step(() => feed(NONE));
    if (!result.done) await step(() => (result = reader.next(END)));
    return await (result.value as () => Promise<Result>)();
  } catch (err) {
    if (err instanceof Error && !('status' in err)) throw invalidDataset('/', `not valid JSON: ${err.message}`);
    throw err;
  } finally {
    scanner.destroy();
  }
}

/**
 * Reads the document from the tokens it is given, checking each as it comes; each sample or
 * record it assembles goes to `assembled` for one of the sinks it adds to `sinks`. Returns
 * what checks and closes them once the document is read and they have all been added.
 */
function* readDocument(
  dir: string,
  maxDepth: number,
  limits: IngestLimits,
  sinks: Sink[],
  assembled: Assembled[],
): Generator<void, () => Promise<Result>, Token> {
  /** The sample or record being read, for error paths. */
  let where = '';
  let depth = 0;
  const tooLong = `longer than ${limits.maxCellChars} characters (DATASET_MAX_CELL_CHARS)`;
  function* next(): Generator<void, Token, Token> {
    const token = yield;
    if (token === END) throw invalidDataset('/', 'the JSON document ended early');
    if (
      (token.name === 'stringValue' || token.name === 'keyValue' || token.name === 'numberValue') &&
      (token.value as string).length > (token.name === 'stringValue' ? maxStringChars(limits) : limits.maxCellChars)
    ) {
      const what = token.name === 'keyValue' ? 'a key' : token.name === 'numberValue' ? 'a number' : 'a text value';
      const textCap = token.name === 'stringValue' && maxStringChars(limits) > limits.maxCellChars;
      const cap = textCap ? `longer than ${maxStringChars(limits)} characters (DATASET_MAX_TEXT_CHARS)` : tooLong;
      throw invalidDataset(where || '/', `holds ${what} ${cap}`);
    }
    if (token.name === 'startArray' || token.name === 'startObject') {
      if (++depth > maxDepth) throw invalidDataset(where || '/', tooDeepMessage(maxDepth));
    } else if (token.name === 'endArray' || token.name === 'endObject') depth--;
    else if (token.name === 'keyValue' && FORBIDDEN_KEYS.has(token.value as string)) {
      throw invalidDataset(`${where}/${token.value as string}`, forbiddenKeyMessage(token.value as string));
    }
    return token;
  }
  /**
   * Assembles the value that starts with `first` (one sample or record), refusing it once it
   * holds more than `maxValues` scalars: `tooMany` says which cap that is.
   */
  function* assemble(first: Token, maxValues: number, tooMany: string): Generator<void, unknown, Token> {
    const asm = new Assembler();
    let values = 0;
    for (let token = first; ; token = yield* next()) {
      if (SCALARS.has(token.name) && ++values > maxValues) throw invalidDataset(where, tooMany);
      asm.consume(token as never);
      if (asm.done) return asm.current;
    }
  }
  /** Feeds every element of the array whose `startArray` was just read to `each`. */
  /** Assembles every element of the array whose `startArray` was just read, for `sink`. */
  function* eachElement(base: string, maxValues: number, tooMany: string, sink: Sink): Generator<void, void, Token> {
    for (let index = 0; ; index++) {
      where = `${base}/${index}`;
      const token = yield* next();
      if (token.name === 'endArray') return;
      assembled.push({ sink, value: yield* assemble(token, maxValues, tooMany), index });
    }
  }

  const first = yield* next();
  if (first.name === 'startArray') {
    const records = new RecordSink(dir, limits);
    sinks.push(records);
    const tooWide = `has more than ${limits.maxColumns} values: a record holds one value per column, and a dataset at most ${limits.maxColumns} columns (DATASET_MAX_COLUMNS)`;
    yield* eachElement('', limits.maxColumns, tooWide, records);
    return async () => ({ rows: records.rows, columns: await records.close() });
  } else if (first.name === 'startObject') {
    const budget = new MetaBudget(limits.maxMetaBytes);
    const x = new TensorSink('x', dir, false, limits, budget);
    const y = new TensorSink('y', dir, true, limits, budget);
    sinks.push(x, y);
    const tooBig = `holds more than ${limits.maxSampleValues} values; a sample may hold at most ${limits.maxSampleValues} (DATASET_MAX_SAMPLE_VALUES)`;
    for (;;) {
      where = '';
      const token = yield* next();
      if (token.name === 'endObject') break;
      const key = token.value as string;
      if (key !== 'x' && key !== 'y')
        throw invalidDataset(
          `/${key}`,
          'is not a known field: a JSON dataset is {"x": [...], "y": [...]} or an array of records',
        );
      if ((yield* next()).name !== 'startArray')
        throw invalidDataset(`/${key}`, 'must be an array with one entry per sample');
      const target = key === 'x' ? x : y;
      yield* eachElement(`/${key}`, limits.maxSampleValues, tooBig, target);
    }
    return async () => {
      if (x.rows === 0 || y.rows === 0) throw invalidDataset(x.rows === 0 ? '/x' : '/y', 'is missing or empty');
      if (x.rows !== y.rows) throw invalidDataset('/y', `has ${y.rows} labels for ${x.rows} samples in /x`);
      return { rows: x.rows, columns: [await x.close(), await y.close()] };
    };
  } else {
    throw invalidDataset('/', 'a JSON dataset is {"x": [...], "y": [...]} or an array of records');
  }
}

/** Longest text value: a raw-text column's cells (the `text` option) may be longer than other cells; the table checks which is which. */
const maxStringChars = (limits: IngestLimits) =>
  limits.textColumns?.length ? Math.max(limits.maxCellChars, limits.maxTextChars) : limits.maxCellChars;

/** Records: flat objects with the same keys as the first one. */
class RecordSink {
  private table: TableBuilder | undefined;
  private columns: ReadonlySet<string> = new Set();
  constructor(
    private readonly dir: string,
    private readonly limits: IngestLimits,
  ) {}
  get rows() {
    return this.table?.rows ?? 0;
  }
  add(value: unknown, i: number) {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw invalidDataset(`/${i}`, 'must be a record: an object of column -> number or text');
    }
    const record = value as Record<string, unknown>;
    if (!this.table) {
      this.table = new TableBuilder(Object.keys(record), this.dir, this.limits);
      this.columns = new Set(this.table.header);
    }
    const extra = Object.keys(record).find((k) => !this.columns.has(k));
    if (extra !== undefined) throw invalidDataset(`/${i}/${extra}`, 'is not a column of the first record');
    const cells = this.table.header.map((name): Cell => {
      const cell = record[name];
      if (cell !== null && cell !== undefined && typeof cell !== 'number' && typeof cell !== 'string') {
        throw invalidDataset(`/${i}/${name}`, `must be a number or text, got ${JSON.stringify(cell).slice(0, 40)}`);
      }
      return cell as Cell;
    });
    this.table.addRow(cells, `/${i}`);
  }
  async flush() {
    if (this.table?.needsFlush) await this.table.flush();
  }
  async close() {
    if (!this.table) throw invalidDataset('/', 'the array of records is empty');
    return this.table.finish();
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
    private readonly limits: IngestLimits,
    private readonly budget: MetaBudget,
  ) {}

  add(value: unknown, i: number) {
    const at = `/${this.name}/${i}`;
    if (!this.column) {
      const text = typeof value === 'string';
      if (text && !this.allowText) throw invalidDataset(at, 'must be a number or nested arrays of numbers');
      this.shape = text ? [] : shapeOf(value);
      if (this.shape.includes(0))
        throw invalidDataset(at, 'holds an empty array; a sample needs at least one number in every dimension');
      this.column = new ColumnFile(
        this.name,
        text ? 'string' : 'numeric',
        this.shape,
        'float32',
        `${this.name}.bin`,
        this.dir,
      );
    }
    const column = this.column;
    if (column.type === 'string') {
      if (typeof value !== 'string')
        throw invalidDataset(
          at,
          `must be a class name like the first label, got ${JSON.stringify(value)?.slice(0, 40)}`,
        );
      column.pushString(value, (name, classes) => {
        if (classes >= this.limits.maxClasses)
          throw invalidDataset(at, `more than ${this.limits.maxClasses} distinct class names (DATASET_MAX_CLASSES)`);
        this.budget.charge(jsonBytes(name) + CLASS_META_BYTES, at, 'a new class name');
      });
    } else {
      walk(value, this.shape, 0, at, (v) => column.push(v));
    }
    this.rows++;
  }
  async flush() {
    await this.column?.flushIfFull();
  }
  async close() {
    return this.column!.close();
  }
}

function shapeOf(sample: unknown): number[] {
  const shape: number[] = [];
  for (let cursor = sample; Array.isArray(cursor); cursor = cursor[0]) shape.push(cursor.length);
  return shape;
}

function walk(value: unknown, shape: number[], depth: number, at: string, push: (v: number) => void) {
  if (depth === shape.length) {
    if (typeof value !== 'number' || !Number.isFinite(value))
      throw invalidDataset(at, `must be a finite number, got ${JSON.stringify(value)?.slice(0, 40)}`);
    push(value);
    return;
  }
  if (!Array.isArray(value) || value.length !== shape[depth] || value.length === 0) {
    const got = Array.isArray(value) ? `${value.length} entries` : JSON.stringify(value)?.slice(0, 40);
    throw invalidDataset(
      at,
      `must be an array of ${shape[depth]} entries like the first sample (ragged data), got ${got}`,
    );
  }
  for (const [j, inner] of value.entries()) walk(inner, shape, depth + 1, `${at}/${j}`, push);
}

/** Bytes a JSON text may take per character it stands for (`\u00e9` is six for one; UTF-8 at most four). */
const ESCAPED_CHARS = 6;

/**
 * Passes JSON bytes through, failing once a string (key or text) or a number runs on for more
 * than `ESCAPED_CHARS` × `maxChars` bytes: the parser would hold such a lexeme whole, whatever
 * its size. The exact character count of every value is checked once it is parsed, with the
 * row and column it is in.
 */
function lexemeLimit(maxChars: number): Transform {
  const maxBytes = ESCAPED_CHARS * maxChars;
  let inString = false;
  let escaped = false;
  let run = 0;
  let offset = 0;
  const tooLong = (what: string) =>
    invalidDataset(
      '/',
      `holds ${what} of more than ${maxBytes} bytes at byte ${offset}; a value may hold at most ${maxChars} characters (DATASET_MAX_CELL_CHARS)`,
    );
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      for (let i = 0; i < chunk.length; i++, offset++) {
        const b = chunk[i];
        if (inString) {
          if (escaped) escaped = false;
          else if (b === 0x5c) escaped = true;
          else if (b === 0x22) inString = false;
          if (inString && ++run > maxBytes) return done(tooLong('a text or key'));
        } else if (b === 0x22) {
          inString = true;
          run = 0;
        } else if ((b >= 0x30 && b <= 0x39) || b === 0x2d || b === 0x2b || b === 0x2e || b === 0x65 || b === 0x45) {
          if (++run > maxBytes) return done(tooLong('a number'));
        } else {
          run = 0;
        }
      }
      done(null, chunk);
    },
  });
}
