import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DatasetCatalog } from '../data/dataset-meta.ts';
import type { JobRequest } from '../schemas/job-request.ts';
import { BoundedThreads } from './bounded-threads.ts';
import type { DryRunInput, DryRunResult } from './dry-run-thread.ts';
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
 * time limit (the thread is ended when it is up) and a heap limit (bounded-threads.ts), so a
 * hostile model costs its sender a 422 and nobody else anything.
 */
export class DryRuns {
  private readonly threads: BoundedThreads<DryRunInput, DryRunResult>;

  constructor(options: DryRunOptions) {
    this.threads = new BoundedThreads({
      ...options,
      filename: THREAD_FILE,
      answers: {
        path: '/model',
        timeout: {
          code: 'dry_run_timeout',
          message: (ms) =>
            `building the model took longer than ${ms.toLocaleString('en')} ms (DRY_RUN_TIMEOUT_MS); use a smaller model`,
        },
        memory: {
          code: 'dry_run_memory',
          message: (mb) => `building the model needed more than ${mb} MB (DRY_RUN_MEMORY_MB); use a smaller model`,
        },
        busy: {
          code: 'dry_run_busy',
          message: (waiting) => `${waiting} dry runs are waiting for a thread; try again shortly`,
        },
      },
    });
  }

  run(request: JobRequest, limits: PlanLimits, catalog?: DatasetCatalog, parent?: ParentModel): Promise<DryRunResult> {
    const datasets = catalog
      ? { entries: [...catalog.entries()], memoryLimitBytes: catalog.memoryLimitBytes }
      : undefined;
    return this.threads.run({ request, limits, datasets, parent });
  }

  close(): Promise<void> {
    return this.threads.close();
  }
}
