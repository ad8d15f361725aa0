import { Transform } from 'node:stream';
import { setImmediate as nextTurn } from 'node:timers/promises';

/**
 * Uploads are parsed on the API's event loop, which every tenant's requests share. A parser
 * handed a whole network chunk (64 KiB) works through it in one go, and what one byte costs
 * depends on the upload (a CSV header of thousands of columns, a JSON record of thousands of
 * keys): so readers take their input in slices of this many bytes, and give the loop a turn
 * between slices.
 */
export const SLICE_BYTES = 8 * 1024;

/** Longest a reader's own loop (over rows, values, tokens) runs before it gives the loop a turn. */
export const TURN_MS = 8;

/**
 * Passes bytes through in slices of at most `sliceBytes`, one slice per turn of the event
 * loop: whatever runs synchronously downstream of a push (a parser's transform, the records
 * it emits) handles one slice before other requests get their turn.
 */
export function sliced(sliceBytes = SLICE_BYTES): Transform {
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      let offset = 0;
      const next = () => {
        if (this.destroyed) return;
        this.push(chunk.subarray(offset, offset + sliceBytes));
        offset += sliceBytes;
        if (offset >= chunk.length) done();
        else setImmediate(next);
      };
      if (chunk.length <= sliceBytes) done(null, chunk);
      else next();
    },
  });
}

/**
 * A loop's share of the event loop: `turn()` resolves at once while the loop has run for less
 * than `budgetMs` since its last turn, and otherwise after the event loop has had one.
 */
export class Turns {
  private since = performance.now();
  constructor(private readonly budgetMs = TURN_MS) {}

  /** Whether the budget is spent (a synchronous check for hot loops). */
  get due(): boolean {
    return performance.now() - this.since >= this.budgetMs;
  }

  async turn(): Promise<void> {
    if (!this.due) return;
    await nextTurn();
    this.since = performance.now();
  }
}
