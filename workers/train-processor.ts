import { availableParallelism } from 'node:os';
import { UnrecoverableError, type SandboxedJob } from 'bullmq';
import { Redis } from 'ioredis';
import { loadConfig } from '../src/config.ts';
import { AppError } from '../src/errors.ts';
import { JobStore } from '../src/queue/job-store.ts';
import type { TrainingJobData } from '../src/queue/training-queue.ts';
import { ModelStore } from '../src/storage/model-store.ts';
import { initBackend } from '../src/training/backend.ts';
import { runJob, type RunDeps } from '../src/training/run-job.ts';

/**
 * BullMQ's sandboxed processor: runs in a child process, so CPU-bound training never starves
 * the parent's lock renewal, and tfjs (which cannot load twice per process) is loaded once per
 * child and reused across jobs.
 */
let deps: Promise<RunDeps> | undefined;

async function connect(): Promise<RunDeps> {
  const config = loadConfig();
  const redis = new Redis(config.REDIS_URL, { maxRetriesPerRequest: null });
  // Concurrent jobs each run in their own child process: share the cores between them.
  const threads = config.TFJS_THREADS || Math.max(1, Math.floor(availableParallelism() / config.WORKER_CONCURRENCY));
  const backend = await initBackend(config.TFJS_BACKEND, threads);
  return {
    jobs: new JobStore(redis, config.REDIS_PREFIX),
    models: new ModelStore(redis, config.REDIS_PREFIX, config.DATA_DIR),
    backend,
    maxParams: config.MAX_MODEL_PARAMS,
  };
}

export default async function processTrainingJob(job: SandboxedJob<TrainingJobData>) {
  deps ??= connect();
  try {
    return await runJob(await deps, job.data.jobId);
  } catch (err) {
    // Deterministic failures are already recorded on the job; retrying cannot help.
    if (err instanceof AppError) throw new UnrecoverableError(`${err.code}: ${err.message}`);
    throw err;
  }
}
