import fp from 'fastify-plugin';
import type { Redis } from 'ioredis';
import type { Queue } from 'bullmq';
import type { Config } from '../config.ts';
import { redisConnection } from '../redis-connection.ts';
import { createStores, type Stores } from '../jobs/stores.ts';
import { createTrainingQueue, type TrainingJobData } from '../jobs/training-queue.ts';
import { initBackend, type BackendName } from '../compute/backend.ts';
import { Predictor } from '../serving/predictor.ts';
import { DryRuns } from '../training/dry-run.ts';
import { ModelFileThreads } from '../training/model-file-threads.ts';
import { ApiMetrics } from './metrics.ts';
import { StoreProbe } from '../storage/store-probe.ts';
import { sweepDeps } from '../jobs/sweeps/reconcile.ts';

/** The stores (jobs, models, datasets, control, checkpoints), from createStores, and what serves requests with them. */
export interface Services extends Stores {
  config: Config;
  redis: Redis;
  predictor: Predictor;
  /** Model builds for validate and submit, in a thread with time and memory limits. */
  dryRuns: DryRuns;
  /** Keras file imports and HDF5 exports, in a thread with time and memory limits. */
  modelFiles: ModelFileThreads;
  backend: BackendName;
  /** This process's Prometheus registry and the metrics observed as things happen (GET /metrics: metrics-route.ts). */
  metrics: ApiMetrics;
  /** Asked before work that needs the object store, so its outage is a fast 503. */
  storeProbe: StoreProbe;
  /** Created on first use, so building the app (e.g. to print the OpenAPI spec) needs no Redis. */
  queue(): Queue<TrainingJobData>;
}

declare module 'fastify' {
  interface FastifyInstance {
    services: Services;
  }
}

/** The shared services every route plugin uses, opened once and closed with the app. */
export const services = fp<{ config: Config }>(
  async (app, { config }) => {
    // In an outage requests must answer 503 at once, not wait for Redis: a command that cannot
    // be sent fails at once (no offline queue), one without an answer after
    // REDIS_COMMAND_TIMEOUT_MS fails and the silent connection is dropped for a new one, and a
    // command whose answer was lost with the connection is neither retried nor resent later
    // (its request has answered 503 meanwhile).
    const redis = redisConnection(config, {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
      commandTimeout: config.REDIS_COMMAND_TIMEOUT_MS,
      socketTimeout: config.REDIS_COMMAND_TIMEOUT_MS,
    });
    const metrics = new ApiMetrics();
    redis.on('error', (err) => {
      metrics.storeErrors.inc({ store: 'redis', kind: 'connection' });
      app.log.debug({ err: err.message }, 'redis connection error');
    });
    // Without an offline queue the connection must be up before the first request. Redis being
    // away does not stop the start: /readyz says so, and the client keeps reconnecting.
    app.addHook('onReady', async () => {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        redis.connect().catch(() => undefined),
        new Promise((resolve) => (timer = setTimeout(resolve, config.REDIS_COMMAND_TIMEOUT_MS).unref())),
      ]);
      clearTimeout(timer);
    });
    const stores = createStores(redis, config);
    const predictor = new Predictor(
      stores.models,
      {
        cacheSize: config.MODEL_CACHE_SIZE,
        maxAnswerBytes: config.PREDICT_MAX_ANSWER_BYTES,
        maxPassBytes: config.PREDICT_MAX_PASS_BYTES,
        maxPassFlops: config.PREDICT_MAX_PASS_FLOPS,
        maxImagePixels: config.DATASET_MAX_IMAGE_PIXELS,
      },
      metrics.predictorObserver,
    );
    const backend = await initBackend(config.TFJS_BACKEND, config.TFJS_ACCELERATION);
    const dryRuns = new DryRuns({
      threads: config.DRY_RUN_THREADS,
      timeoutMs: config.DRY_RUN_TIMEOUT_MS,
      memoryMb: config.DRY_RUN_MEMORY_MB,
      maxWaiting: config.DRY_RUN_QUEUE,
    });
    const modelFiles = new ModelFileThreads({
      threads: config.IMPORT_THREADS,
      timeoutMs: config.IMPORT_TIMEOUT_MS,
      memoryMb: config.IMPORT_MEMORY_MB,
      maxWaiting: config.IMPORT_QUEUE,
    });
    let queue: Queue<TrainingJobData> | undefined;
    app.decorate('services', {
      config,
      redis,
      ...stores,
      predictor,
      dryRuns,
      modelFiles,
      backend,
      metrics,
      storeProbe: new StoreProbe(stores.objects, config.STORAGE_TIMEOUT_MS),
      queue: () => {
        if (queue) return queue;
        queue = createTrainingQueue({ connection: redis, prefix: config.REDIS_PREFIX, attempts: config.JOB_ATTEMPTS });
        // Its commands fail like ours in an outage (the route answers 503); no stack traces on stderr.
        queue.on('error', (err) => app.log.debug({ err: err.message }, 'queue connection error'));
        return queue;
      },
    });
    app.addHook('onClose', async () => {
      predictor.clear();
      await dryRuns.close();
      await modelFiles.close();
      await queue?.close();
      redis.disconnect();
    });
  },
  { name: 'services' },
);

/** What queueing a job and reconciling a sweep need, from the services and their config. */
export const queueDeps = (s: Services) => sweepDeps(s, s.queue(), s.config);
