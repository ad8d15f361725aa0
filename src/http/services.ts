import fp from 'fastify-plugin';
import { Redis } from 'ioredis';
import type { Queue } from 'bullmq';
import type { Config } from '../config.ts';
import { JobStore } from '../queue/job-store.ts';
import { createTrainingQueue, type TrainingJobData } from '../queue/training-queue.ts';
import { DatasetStore } from '../storage/dataset-store.ts';
import { ModelStore } from '../storage/model-store.ts';
import { initBackend, type BackendName } from '../training/backend.ts';
import { Predictor } from '../training/predictor.ts';

export interface Services {
  config: Config;
  redis: Redis;
  jobs: JobStore;
  models: ModelStore;
  datasets: DatasetStore;
  predictor: Predictor;
  backend: BackendName;
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
    const redis = new Redis(config.REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 2, enableOfflineQueue: true });
    redis.on('error', (err) => app.log.debug({ err: err.message }, 'redis connection error'));
    const models = new ModelStore(redis, config.REDIS_PREFIX, config.DATA_DIR);
    const predictor = new Predictor(models, config.MODEL_CACHE_SIZE);
    const backend = await initBackend(config.TFJS_BACKEND, config.TFJS_THREADS);
    let queue: Queue<TrainingJobData> | undefined;
    app.decorate('services', {
      config,
      redis,
      jobs: new JobStore(redis, config.REDIS_PREFIX, config.JOB_RETENTION_SECONDS),
      models,
      datasets: new DatasetStore(redis, config.REDIS_PREFIX, config.DATA_DIR, config.DATASET_MEMORY_LIMIT_BYTES),
      predictor,
      backend,
      queue: () => (queue ??= createTrainingQueue({ connection: redis, prefix: config.REDIS_PREFIX, attempts: config.JOB_ATTEMPTS })),
    });
    app.addHook('onClose', async () => {
      predictor.clear();
      await queue?.close();
      redis.disconnect();
    });
  },
  { name: 'services' },
);
