import { Transform, type TransformCallback } from 'node:stream';
import { invalidDataset } from './upload-errors.ts';

const QUOTE = 0x22;
const CR = 0x0d;
const LF = 0x0a;

/** What csv-parse takes when the first line is too long to tell: any of the line endings it knows. */
const ANY_LINE_ENDING = ['\r\n', '\n', '\r'];

/**
 * Reads a CSV's bytes ahead of csv-parse, tracking quotes, for the two things the parser
 * would otherwise pay for per byte or per field:
 *
 * - Its line ending. Left to discover it, csv-parse allocates three buffers for every byte of
 *   the first line until the first line break outside quotes; this finds that line break the
 *   same way (`\r\n`, `\n` or `\r`), holding the first line back until then, so the parser is
 *   told (`recordDelimiter`). A first line still running after `maxLineBytes` is longer than
 *   the parser would take anyway: it gets every line ending, and refuses the line.
 * - The fields of a line. csv-parse keeps a line's fields in an array until the line ends,
 *   and empty fields count nothing against its record size: a line of commas alone would grow
 *   it without bound. A line with more than `maxFields` fields is passed on no further; its
 *   fields are counted (nothing is kept) to its end, and it is refused with that count.
 *
 * Quotes toggle as the parser reads them (`""` inside quotes is a quote), so for well-formed
 * CSV this agrees with the parser; malformed quoting is the parser's to refuse.
 */
export class CsvShape extends Transform {
  /** The line ending to give csv-parse's `record_delimiter`; undefined: let it discover one. */
  readonly recordDelimiter: Promise<string | string[] | undefined>;
  private settle!: (value: string | string[] | undefined) => void;
  private fail!: (err: Error) => void;
  private readonly delimiter: Buffer;
  /** The first line's bytes, until its line ending is known. */
  private held: Buffer[] | undefined = [];
  private heldBytes = 0;
  /** Bytes ready to go on, pushed one per turn of the event loop (a held first line can be long). */
  private out: Buffer[] = [];
  /** A CR at the end of a chunk, while the line ending is still unknown: `\r` or `\r\n`? */
  private pendingCr = false;
  private quoting = false;
  /** Fields of the current line so far, its bytes, and the non-empty lines before it (the header is the first). */
  private fields = 1;
  private lineBytes = 0;
  private records = 0;
  private over = false;

  constructor(
    delimiter: string,
    private readonly maxFields: number,
    private readonly maxLineBytes: number,
  ) {
    super();
    this.delimiter = Buffer.from(delimiter);
    this.recordDelimiter = new Promise((resolve, reject) => {
      this.settle = resolve;
      this.fail = reject;
    });
    // Whoever reads the stream sees its errors; the promise only until the line ending is known.
    this.recordDelimiter.catch(() => undefined);
    this.on('error', (err) => this.fail(err));
    // A delimiter that is itself a line break leaves nothing to count or discover here.
    if (this.bypass) this.discovered(undefined);
  }

  private get bypass() {
    return this.delimiter.includes(CR) || this.delimiter.includes(LF);
  }

  private discovered(ending: string | string[] | undefined) {
    this.out.push(...(this.held ?? []));
    this.held = undefined;
    this.settle(ending);
  }

  private pass(chunk: Buffer) {
    if (chunk.length === 0) return;
    if (this.held) {
      this.held.push(chunk);
      this.heldBytes += chunk.length;
    } else {
      this.out.push(chunk);
    }
  }

  private release(done: TransformCallback) {
    const next = () => {
      if (this.destroyed) return;
      const chunk = this.out.shift();
      if (chunk === undefined) return done();
      this.push(chunk);
      if (this.out.length === 0) done();
      else setImmediate(next);
    };
    next();
  }

  private refusal() {
    const count = this.lineBytes > this.maxLineBytes ? `more than ${this.fields - 1}` : String(this.fields);
    if (this.records === 0)
      return invalidDataset(
        '/columns',
        `the header names ${count} columns; a dataset may have at most ${this.maxFields} (DATASET_MAX_COLUMNS)`,
      );
    return invalidDataset(
      `/rows/${this.records}`,
      `has ${count} values; a row holds one value per column, and a dataset at most ${this.maxFields} columns (DATASET_MAX_COLUMNS)`,
    );
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback) {
    if (this.bypass) return done(null, chunk);
    const d0 = this.delimiter[0];
    const single = this.delimiter.length === 1;
    let from = 0;
    for (let i = 0; i < chunk.length; i++) {
      const b = chunk[i];
      if (this.pendingCr) {
        this.pendingCr = false;
        this.discovered(b === LF ? '\r\n' : '\r');
      }
      this.lineBytes++;
      if (this.quoting) {
        if (b === QUOTE) this.quoting = false;
      } else if (b === QUOTE) {
        this.quoting = true;
      } else if (b === CR || b === LF) {
        if (this.over) return done(this.refusal());
        if (this.lineBytes > 1) this.records++;
        this.fields = 1;
        this.lineBytes = 0;
        if (this.held) {
          if (b === LF) this.discovered('\n');
          else if (i + 1 < chunk.length) this.discovered(chunk[i + 1] === LF ? '\r\n' : '\r');
          else this.pendingCr = true;
          // The bytes so far were held (or pushed just now, if the ending is known): carry on after them.
          if (!this.held) {
            this.out.push(chunk.subarray(from, i + 1));
            from = i + 1;
          }
        }
      } else if (b === d0 && (single || chunk.subarray(i, i + this.delimiter.length).equals(this.delimiter))) {
        if (++this.fields > this.maxFields && !this.over) {
          this.over = true;
          this.pass(chunk.subarray(from, i));
        }
      }
      if (this.over && this.lineBytes > this.maxLineBytes) return done(this.refusal());
    }
    if (!this.over) this.pass(chunk.subarray(from));
    if (this.held && this.heldBytes > this.maxLineBytes) this.discovered(ANY_LINE_ENDING);
    this.release(done);
  }

  override _flush(done: TransformCallback) {
    if (this.over) return done(this.refusal());
    // No line break outside quotes (or only a last CR): any line ending reads it as the parser would.
    if (this.held) this.discovered(this.pendingCr ? '\r' : ANY_LINE_ENDING);
    this.release(done);
  }
}
