import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pLimit, { type LimitFunction } from 'p-limit';
import { Piscina } from 'piscina';
import { AppError } from '../errors.ts';
import type { DatasetCatalog } from '../data/dataset-meta.ts';
import type { JobRequest } from '../schemas/job-request.ts';
import { WARM_UP, type DryRunInput, type DryRunOutput, type DryRunResult } from './dry-run-thread.ts';
import type { ParentModel, PlanLimits } from './plan.ts';

export interface DryRunOptions {
  threads: number;
  timeoutMs: number;
  memoryMb: number;
  /** Dry runs that may wait for a thread; more are a 503. */
  maxWaiting: number;
}

// The thread runs the same kind of file as this one: .ts under tsx, .js once compiled.
const here = fileURLToPath(import.meta.url);
const THREAD_FILE = path.join(path.dirname(here), `dry-run-thread${path.extname(here)}`);

/**
 * Dry runs off the API's event loop. Building a model, even with zeros for weights, is
 * synchronous work whose cost grows with the model; here it runs in a worker thread with a
 * time limit (the thread is ended when it is up) and a heap limit, so a hostile model costs
 * its sender a 422 and nobody else anything. The clock starts when a thread takes the dry
 * run, not while it waits.
 */
export class DryRuns {
  private readonly pool: Piscina<DryRunInput | typeof WARM_UP, DryRunOutput | undefined>;
  private warm: Promise<unknown>;
  private readonly slots: LimitFunction;

  constructor(private readonly options: DryRunOptions) {
    this.pool = new Piscina({
      filename: THREAD_FILE,
      minThreads: options.threads,
      maxThreads: options.threads,
      idleTimeout: Number.POSITIVE_INFINITY,
      resourceLimits: { maxOldGenerationSizeMb: options.memoryMb, maxYoungGenerationSizeMb: 32 },
    });
    this.slots = pLimit(options.threads);
    this.warm = this.warmUp();
  }

  /** A thread that was ended (or is new) loads tfjs untimed, so no dry run's clock counts it. */
  private warmUp() {
    return Promise.all(Array.from({ length: this.options.threads }, () => this.pool.run(WARM_UP))).catch(
      () => undefined,
    );
  }

  async run(
    request: JobRequest,
    limits: PlanLimits,
    catalog?: DatasetCatalog,
    parent?: ParentModel,
  ): Promise<DryRunResult> {
    if (this.slots.pendingCount >= this.options.maxWaiting) {
      throw new AppError(
        503,
        'dry_run_busy',
        `${this.slots.pendingCount} dry runs are waiting for a thread; try again shortly`,
        [],
        { 'Retry-After': '2' },
      );
    }
    const datasets = catalog
      ? { entries: [...catalog.entries()], memoryLimitBytes: catalog.memoryLimitBytes }
      : undefined;
    const output = await this.slots(() => this.runNow({ request, limits, datasets, parent }));
    if (output.ok) return output.result;
    const { status, code, message, errors } = output.error;
    throw new AppError(status, code, message, errors);
  }

  private async runNow(input: DryRunInput): Promise<DryRunOutput> {
    const { timeoutMs, memoryMb } = this.options;
    await this.warm;
    try {
      return (await this.pool.run(input, { signal: AbortSignal.timeout(timeoutMs) }))!;
    } catch (err) {
      const e = err as Error & { code?: string };
      this.warm = this.warmUp(); // the thread was ended: its replacement loads before the next dry run
      if (e.name === 'AbortError' || e.name === 'TimeoutError') {
        const message = `building the model took longer than ${timeoutMs.toLocaleString('en')} ms (DRY_RUN_TIMEOUT_MS); use a smaller model`;
        throw new AppError(422, 'dry_run_timeout', message, [{ path: '/model', message }]);
      }
      if (e.code === 'ERR_WORKER_OUT_OF_MEMORY') {
        const message = `building the model needed more than ${memoryMb} MB (DRY_RUN_MEMORY_MB); use a smaller model`;
        throw new AppError(422, 'dry_run_memory', message, [{ path: '/model', message }]);
      }
      throw err;
    }
  }

  close(): Promise<void> {
    return this.pool.destroy();
  }
}
