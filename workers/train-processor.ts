import { DelayedError, UnrecoverableError, WaitingError, type SandboxedJob } from 'bullmq';
import * as tf from '@tensorflow/tfjs';
import { loadConfig } from '../src/config.ts';
import { redisConnection } from '../src/redis-connection.ts';
import { AppError } from '../src/errors.ts';
import { StoreUnavailableError } from '../src/storage/object-store.ts';
import { createStores } from '../src/jobs/stores.ts';
import { Value } from '@sinclair/typebox/value';
import { createTrainingQueue, TrainingJobData } from '../src/jobs/training-queue.ts';
import { reconcileSweep, sweepDeps } from '../src/jobs/sweeps/reconcile.ts';
import { initBackend } from '../src/compute/backend.ts';
import { isBackendFault } from '../src/compute/backend-guard.ts';
import { planLimits } from '../src/training/plan.ts';
import { runJob, type RunDeps } from '../src/jobs/run-job.ts';
import { WorkerMetrics } from '../src/jobs/job-metrics.ts';

/**
 * BullMQ's sandboxed processor: runs in a child process, so CPU-bound training never starves
 * the parent's lock renewal, and tfjs (which cannot load twice per process) is loaded once per
 * child and reused across jobs.
 */
let deps: Promise<RunDeps> | undefined;

// If the worker process dies (kill -9, machine gone), its training child must not go on
// writing events for a job that another worker is about to resume.
process.on('disconnect', () => process.exit(1));

async function connect(): Promise<RunDeps> {
  const config = loadConfig();
  const redis = redisConnection(config, { maxRetriesPerRequest: null });
  const backend = await initBackend(config.TFJS_BACKEND, config.TFJS_ACCELERATION);
  const stores = createStores(redis, config);
  const sweeps = sweepDeps(
    stores,
    createTrainingQueue({ connection: redis, prefix: config.REDIS_PREFIX, attempts: config.JOB_ATTEMPTS }),
    config,
  );
  return {
    ...stores,
    sweeps: { store: stores.sweeps, reconcile: (id) => reconcileSweep(sweeps, id) },
    backend,
    maxParams: config.MAX_MODEL_PARAMS,
    limits: planLimits(config),
    checkpointEvery: config.CHECKPOINT_EVERY_EPOCHS,
    maxRunningPerTenant: config.TENANT_MAX_RUNNING_JOBS,
    metrics: new WorkerMetrics(redis, config.REDIS_PREFIX),
  };
}

/** How long a job whose tenant runs its maximum waits before a worker looks at it again. */
const TENANT_BUSY_DELAY_MS = 2_000;

export default async function processTrainingJob(job: SandboxedJob<TrainingJobData>, token?: string) {
  // The queue's payload comes from Redis, which anyone with its address can write: check it, never cast it.
  if (!Value.Check(TrainingJobData, job.data))
    throw new UnrecoverableError(`malformed queue payload for BullMQ job ${job.id}: expected {"jobId": "<uuid>"}`);
  deps ??= connect();
  try {
    // This attempt holds the job's lock, so whoever wrote its checkpoints before is gone: clear what they left half-done.
    await (await deps).checkpoints.recover(job.data.jobId);
    const outcome = await runJob(await deps, job.data.jobId);
    if (outcome.status === 'yielded') {
      // Shutdown: back to the queue without spending an attempt; the checkpoint stays.
      await job.moveToWait(token);
      throw new WaitingError();
    }
    if (outcome.status === 'deferred') {
      // Its tenant runs its maximum: look again shortly (no attempt spent), and meanwhile
      // this worker takes the next job, which is another tenant's if one waits.
      await job.moveToDelayed(Date.now() + TENANT_BUSY_DELAY_MS, token);
      throw new DelayedError();
    }
    // Kept on the BullMQ job as its return value: lets `bench/memory.ts` watch the child's memory over many jobs.
    const { numTensors, numBytes } = tf.memory();
    return { ...outcome, memory: { rss: process.memoryUsage().rss, numTensors, numBytes } };
  } catch (err) {
    // Deterministic failures are already recorded on the job; retrying cannot help.
    if (err instanceof AppError) throw new UnrecoverableError(`${err.code}: ${err.message}`);
    // The object store is away (runJob put the job back to queued): an outage is not the
    // job's fault, so it waits and tries again without spending an attempt.
    if (err instanceof StoreUnavailableError) {
      const delayMs = err.retryAfterSeconds * 1000;
      console.warn(`job ${job.data.jobId}: ${err.message}; retrying in ${delayMs} ms`);
      await job.moveToDelayed(Date.now() + delayMs, token);
      throw new DelayedError();
    }
    // A trap inside the backend leaves this child's heap untrustworthy for the next job: the
    // child ends, BullMQ counts the attempt as a crash and retries it in a fresh child.
    if (isBackendFault(err)) process.exit(1);
    throw err;
  }
}
