import path from 'node:path';
import type { Config } from '../config.ts';
import { DiskCache } from './disk-cache.ts';
import { FileObjectStore } from './file-object-store.ts';
import type { ObjectStore } from './object-store.ts';
import { S3ObjectStore } from './s3-object-store.ts';

export type StorageConfig = Pick<
  Config,
  'STORAGE_URL' | 'S3_ENDPOINT' | 'S3_REGION' | 'S3_FORCE_PATH_STYLE' | 'CACHE_DIR' | 'CACHE_MAX_BYTES'
>;

/** The store STORAGE_URL names (loadConfig has turned an empty one into `file:DATA_DIR`). */
export function openObjectStore(config: StorageConfig): ObjectStore {
  if (config.STORAGE_URL.startsWith('s3://')) {
    return new S3ObjectStore({
      url: config.STORAGE_URL,
      endpoint: config.S3_ENDPOINT,
      region: config.S3_REGION,
      forcePathStyle: config.S3_FORCE_PATH_STYLE,
      cache: new DiskCache(config.CACHE_DIR, config.CACHE_MAX_BYTES),
      stagingRoot: path.join(config.CACHE_DIR, '.staging'),
    });
  }
  return new FileObjectStore(path.resolve(config.STORAGE_URL.replace(/^file:(\/\/)?/, '')));
}
