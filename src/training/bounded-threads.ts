import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import pLimit, { type LimitFunction } from 'p-limit';
import { Piscina } from 'piscina';
import { AppError } from '../errors.ts';
import { type ThreadOutput, unwrapOutput, WARM_UP } from './thread-call.ts';

/** How one kind of work answers when it is refused: codes, the field path, messages naming the settings. */
export interface ThreadAnswers {
  /** The field a time or heap refusal names (e.g. `/model`, `/file`). */
  path: string;
  timeout: { code: string; message: (timeoutMs: number) => string };
  memory: { code: string; message: (memoryMb: number) => string };
  busy: { code: string; message: (waiting: number) => string };
}

/** The entry of a thread whose module is TypeScript (under tsx only: see the file). */
const TS_THREAD = path.join(path.dirname(fileURLToPath(import.meta.url)), 'ts-thread.mjs');

export interface BoundedThreadsOptions {
  /** The thread's module (.ts under tsx, .js once compiled): its default export takes an input (or WARM_UP) and returns a ThreadOutput. */
  filename: string;
  threads: number;
  timeoutMs: number;
  memoryMb: number;
  /** Calls that may wait for a thread; more are a 503. */
  maxWaiting: number;
  answers: ThreadAnswers;
}

/**
 * Synchronous, size-dependent work off the API's event loop: a Piscina pool whose threads
 * have a heap limit and are ended when a call's time is up, so hostile input costs its sender
 * a 422 and nobody else anything. The clock starts when a thread takes the call, not while it
 * waits; a new thread loads its module untimed first. A thread's AppError crosses as data
 * (thread-call.ts) and is thrown here as the AppError it was.
 */
export class BoundedThreads<I, O> {
  private readonly pool: Piscina<I | typeof WARM_UP, ThreadOutput<O> | undefined>;
  private warm: Promise<unknown>;
  private readonly slots: LimitFunction;

  constructor(private readonly options: BoundedThreadsOptions) {
    const typescript = path.extname(options.filename) === '.ts';
    this.pool = new Piscina({
      filename: typescript ? TS_THREAD : options.filename,
      workerData: typescript ? { thread: pathToFileURL(options.filename).href } : undefined,
      minThreads: options.threads,
      maxThreads: options.threads,
      idleTimeout: Number.POSITIVE_INFINITY,
      resourceLimits: { maxOldGenerationSizeMb: options.memoryMb, maxYoungGenerationSizeMb: 32 },
    });
    this.slots = pLimit(options.threads);
    this.warm = this.warmUp();
  }

  /** A thread that was ended (or is new) loads its module untimed, so no call's clock counts it. */
  private warmUp() {
    return Promise.all(Array.from({ length: this.options.threads }, () => this.pool.run(WARM_UP))).catch(
      () => undefined,
    );
  }

  /** Runs `input` in a thread; `answers` replaces the options' for one kind of call. */
  async run(input: I, answers = this.options.answers): Promise<O> {
    if (this.slots.pendingCount >= this.options.maxWaiting) {
      throw new AppError(503, answers.busy.code, answers.busy.message(this.slots.pendingCount), [], {
        'Retry-After': '2',
      });
    }
    return unwrapOutput(await this.slots(() => this.runNow(input, answers)));
  }

  private async runNow(input: I, answers: ThreadAnswers): Promise<ThreadOutput<O>> {
    const { timeoutMs, memoryMb } = this.options;
    await this.warm;
    try {
      return (await this.pool.run(input, { signal: AbortSignal.timeout(timeoutMs) }))!;
    } catch (err) {
      const e = err as Error & { code?: string };
      this.warm = this.warmUp(); // the thread was ended: its replacement loads before the next call
      if (e.name === 'AbortError' || e.name === 'TimeoutError') {
        const message = answers.timeout.message(timeoutMs);
        throw new AppError(422, answers.timeout.code, message, [{ path: answers.path, message }]);
      }
      if (e.code === 'ERR_WORKER_OUT_OF_MEMORY') {
        const message = answers.memory.message(memoryMb);
        throw new AppError(422, answers.memory.code, message, [{ path: answers.path, message }]);
      }
      throw err;
    }
  }

  close(): Promise<void> {
    return this.pool.destroy();
  }
}
