import type { Redis } from 'ioredis';
import type { Config } from '../config.ts';
import { CheckpointStore } from '../storage/checkpoint-store.ts';
import { DatasetStore } from '../storage/dataset-store.ts';
import { ModelStore } from '../storage/model-store.ts';
import type { ObjectStore } from '../storage/object-store.ts';
import { openObjectStore, type StorageConfig } from '../storage/open-store.ts';
import { RegistryStore } from '../storage/registry-store.ts';
import { JobControl } from './job-control.ts';
import { JobStore } from './job-store.ts';
import { SweepStore } from './sweeps/sweep-store.ts';

/** What the stores are configured by. */
export type StoresConfig = StorageConfig &
  Pick<
    Config,
    | 'REDIS_PREFIX'
    | 'JOB_RETENTION_SECONDS'
    | 'DATASET_MEMORY_LIMIT_BYTES'
    | 'TENANT_MAX_REGISTERED_NAMES'
    | 'TENANT_MAX_VERSIONS_PER_NAME'
  >;

/** Everything the API and the workers keep: job records and control, models, the registry, datasets, checkpoints. */
export interface Stores {
  jobs: JobStore;
  models: ModelStore;
  /** Registered names, their versions and aliases (the model registry). */
  registry: RegistryStore;
  datasets: DatasetStore;
  control: JobControl;
  checkpoints: CheckpointStore;
  /** Hyperparameter sweeps: records, trials, curves, events. */
  sweeps: SweepStore;
  /** Where models, datasets and checkpoints keep their bytes (STORAGE_URL). */
  objects: ObjectStore;
}

/**
 * The one place src/ and workers/ build their stores, so the API and every worker read and
 * write the same data the same way, and a storage implementation is chosen here alone.
 */
export function createStores(redis: Redis, config: StoresConfig): Stores {
  const objects = openObjectStore(config);
  return {
    jobs: new JobStore(redis, config.REDIS_PREFIX, config.JOB_RETENTION_SECONDS),
    models: new ModelStore(redis, config.REDIS_PREFIX, objects),
    registry: new RegistryStore(redis, config.REDIS_PREFIX, {
      maxNames: config.TENANT_MAX_REGISTERED_NAMES,
      maxVersionsPerName: config.TENANT_MAX_VERSIONS_PER_NAME,
    }),
    datasets: new DatasetStore(redis, config.REDIS_PREFIX, objects, config.DATASET_MEMORY_LIMIT_BYTES),
    control: new JobControl(redis, config.REDIS_PREFIX),
    checkpoints: new CheckpointStore(objects),
    sweeps: new SweepStore(redis, config.REDIS_PREFIX, config.JOB_RETENTION_SECONDS),
    objects,
  };
}
