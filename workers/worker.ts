import { fileURLToPath } from 'node:url';
import { Worker, type Job } from 'bullmq';
import pino from 'pino';
import { configToEnv, loadConfig, type Config } from '../src/config.ts';
import { redisConnection } from '../src/redis-connection.ts';
import type { JobStore } from '../src/jobs/job-store.ts';
import { createStores } from '../src/jobs/stores.ts';
import type { CheckpointStore } from '../src/storage/checkpoint-store.ts';
import { TERMINAL } from '../src/schemas/job-status.ts';
import { createTrainingQueue, TRAINING_QUEUE, type TrainingJobData } from '../src/jobs/training-queue.ts';
import { reconcileSweep, sweepDeps } from '../src/jobs/sweeps/reconcile.ts';

/** The sandboxed processor sits beside this file, in TypeScript (tsx) or compiled form. */
const processorFile = fileURLToPath(
  new URL(`./train-processor${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url),
);

const SWEEP_INTERVAL_MS = 10 * 60_000;

export interface TrainingWorker {
  worker: Worker<TrainingJobData>;
  /** Stops taking jobs; running ones checkpoint and go back to the queue within the grace period. */
  close(): Promise<void>;
}

/**
 * Starts a BullMQ worker whose jobs run in child processes. Any number of these, on any
 * number of machines, may share one Redis.
 */
export async function startWorker(config: Config, log = pino({ level: config.LOG_LEVEL })): Promise<TrainingWorker> {
  const connection = redisConnection(config, { maxRetriesPerRequest: null });
  const stores = createStores(connection, config);
  const { jobs, checkpoints, control, objects } = stores;
  const queue = createTrainingQueue({ connection, prefix: config.REDIS_PREFIX, attempts: config.JOB_ATTEMPTS });
  const sweeps = sweepDeps(stores, queue, config);
  const reconcile = (id: string) =>
    reconcileSweep(sweeps, id).catch((err: Error) =>
      log.warn({ sweepId: id, err: err.message }, 'sweep reconcile failed'),
    );
  const active = new Set<string>();
  const worker = new Worker<TrainingJobData>(TRAINING_QUEUE, processorFile, {
    connection,
    prefix: config.REDIS_PREFIX,
    concurrency: config.WORKER_CONCURRENCY,
    useWorkerThreads: false,
    // A worker that stops renewing its lock (killed, machine gone) loses its job to another
    // worker after this long; the job resumes there from its last checkpoint.
    lockDuration: config.WORKER_LOCK_MS,
    stalledInterval: config.WORKER_LOCK_MS,
    maxStalledCount: config.JOB_ATTEMPTS,
    // The training child reads its config from the environment: hand it this worker's.
    workerForkOptions: { env: { ...process.env, ...configToEnv(config) } },
  });
  worker.on('active', (job) => {
    active.add(job.data.jobId);
    log.info({ jobId: job.id, attempt: job.attemptsMade + 1 }, 'training job started');
  });
  worker.on('completed', (job) => {
    active.delete(job.data.jobId);
    log.info({ jobId: job.id }, 'training job finished');
  });
  worker.on('failed', (job, err) => {
    if (job) active.delete(job.data.jobId);
    if (job)
      void recordFailure(jobs, checkpoints, job, err)
        .then(async () => {
          const sweep = (await jobs.get(job.data.jobId, false))?.sweep;
          if (sweep) await reconcile(sweep.id);
        })
        .catch((e) => log.error({ err: e, jobId: job.id }, 'could not record a failure'));
    log.warn({ jobId: job?.id, err: err.message }, 'training job failed');
  });
  worker.on('error', (err) => log.error({ err }, 'worker error'));
  // Finished jobs expire (JOB_RETENTION_SECONDS); their list entries are swept here, with
  // checkpoint temp directories that dead writers of jobs that never came back left behind.
  const sweepCheckpoints = async () => {
    await checkpoints.sweep(undefined, async (id) => {
      const status = await jobs.status(id);
      return status === undefined || TERMINAL.includes(status);
    });
    // And what this machine's dead writers left in the store's staging folder and cache.
    await objects.sweepLeftovers();
  };
  const sweep = () => {
    void jobs.sweepExpired().catch(() => undefined);
    void stores.sweeps.sweepExpired().catch(() => undefined);
    void sweepCheckpoints().catch(() => undefined);
  };
  void sweepCheckpoints().catch(() => undefined);
  const sweeper = setInterval(sweep, SWEEP_INTERVAL_MS).unref();
  // Every active sweep, every few seconds: what carries a sweep past a crash between a trial's
  // end and its reconcile, and launches trials a full queue held back (reconciles are idempotent).
  const reconciler = setInterval(async () => {
    for (const id of await stores.sweeps.activeIds().catch(() => [])) await reconcile(id);
  }, config.SWEEP_RECONCILE_MS).unref();
  await worker.waitUntilReady();
  log.info({ concurrency: config.WORKER_CONCURRENCY, prefix: config.REDIS_PREFIX }, 'worker ready');
  return {
    worker,
    close: async () => {
      clearInterval(sweeper);
      clearInterval(reconciler);
      const closing = worker.close();
      for (const id of active) await control.requestYield(id).catch(() => undefined);
      const graceful = await Promise.race([
        closing.then(() => true),
        new Promise<boolean>((resolve) => setTimeout(resolve, config.WORKER_SHUTDOWN_GRACE_MS, false).unref()),
      ]);
      if (!graceful) {
        log.warn(
          { jobs: [...active] },
          'jobs did not yield within WORKER_SHUTDOWN_GRACE_MS; another worker will resume them',
        );
        await worker.close(true);
      }
      await queue.close();
      await connection.quit();
    },
  };
}

/**
 * Deterministic failures were recorded by the processor. A crash or lost connection is
 * recorded here: back to `queued` while BullMQ will retry, `failed` after the last attempt.
 */
async function recordFailure(jobs: JobStore, checkpoints: CheckpointStore, job: Job<TrainingJobData>, err: Error) {
  const id = job.data.jobId;
  const willRetry = err.name !== 'UnrecoverableError' && job.attemptsMade < (job.opts.attempts ?? 1);
  if (willRetry) {
    await jobs.transition(id, ['running'], 'queued');
  } else {
    await jobs.transition(id, ['queued', 'running'], 'failed', {
      error: { code: 'worker_error', message: `training stopped after ${job.attemptsMade} attempt(s): ${err.message}` },
    });
    await checkpoints.remove(id);
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const config = loadConfig();
  const log = pino({ level: config.LOG_LEVEL });
  const running = await startWorker(config, log);
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, async () => {
      log.info({ signal }, 'worker shutting down');
      await running.close();
      process.exit(0);
    });
  }
}
