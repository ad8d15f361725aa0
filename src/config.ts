import path from 'node:path';
import { Type, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';

/** Every setting the service reads from the environment, with its default. */
export const ConfigSchema = Type.Object({
  PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 3000 }),
  HOST: Type.String({ minLength: 1, default: '127.0.0.1' }),
  REDIS_URL: Type.String({ pattern: '^rediss?://', default: 'redis://127.0.0.1:6379' }),
  /** Prefix of every Redis key we and BullMQ write; tests use a unique one each. */
  REDIS_PREFIX: Type.String({ pattern: '^[A-Za-z0-9_.-]+$', default: 'tts' }),
  DATA_DIR: Type.String({ minLength: 1, default: './data' }),
  WORKER_CONCURRENCY: Type.Integer({ minimum: 1, maximum: 64, default: 1 }),
  TFJS_BACKEND: Type.Union(
    [Type.Literal('auto'), Type.Literal('tensorflow'), Type.Literal('wasm'), Type.Literal('cpu')],
    { default: 'auto' },
  ),
  /**
   * Threads for the wasm backend: 1 = the single-threaded build; more start its multi-threaded
   * build, which pays only on cores nothing else uses (its threads spin while they wait).
   */
  TFJS_THREADS: Type.Integer({ minimum: 1, maximum: 8, default: 1 }),
  LOG_LEVEL: Type.Union(
    ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)),
    { default: 'info' },
  ),
  /**
   * API keys: comma-separated `key:tenant` or `key:tenant:admin`. Empty (and no API_KEYS_FILE)
   * runs the service open, for local use. Keys are never logged.
   */
  API_KEYS: Type.String({ default: '' }),
  /** A file of `key:tenant[:admin]` lines (# comments), read at start; adds to API_KEYS. */
  API_KEYS_FILE: Type.String({ default: '' }),
  /** Whether /docs and /openapi.json stay open when keys are configured. */
  DOCS_PUBLIC: Type.Boolean({ default: true }),
  /** Requests per minute per tenant on /v1 (counted in Redis, so shared by every API process); 0 = no limit. */
  RATE_LIMIT_PER_MINUTE: Type.Integer({ minimum: 0, default: 1200 }),
  /** Per tenant: jobs training at once; more wait in the queue. 0 = no limit. */
  TENANT_MAX_RUNNING_JOBS: Type.Integer({ minimum: 0, default: 2 }),
  /** Per tenant and API process: open event streams (each holds a Redis connection); over it is a 429. 0 = no limit. */
  TENANT_MAX_STREAMS: Type.Integer({ minimum: 0, default: 20 }),
  /** Per tenant: jobs waiting in the queue; a submission over it is a 429. 0 = no limit. */
  TENANT_MAX_QUEUED_JOBS: Type.Integer({ minimum: 0, default: 100 }),
  /** Per tenant: bytes of stored models and datasets; uploads and submissions over it are a 403. 0 = no limit. */
  TENANT_MAX_STORED_BYTES: Type.Integer({ minimum: 0, default: 10 * 1024 ** 3 }),
  /** Largest accepted request body; inline training data counts against it. */
  BODY_LIMIT_BYTES: Type.Integer({ minimum: 1024, default: 16 * 1024 * 1024 }),
  /** Models with more trainable parameters than this are refused at submit. */
  MAX_MODEL_PARAMS: Type.Integer({ minimum: 1, default: 50_000_000 }),
  /** Caps on one job: layers, epochs, batch size, estimated memory of one training batch. */
  MAX_MODEL_LAYERS: Type.Integer({ minimum: 1, default: 500 }),
  MAX_EPOCHS: Type.Integer({ minimum: 1, default: 10_000 }),
  MAX_BATCH_SIZE: Type.Integer({ minimum: 1, default: 65_536 }),
  MAX_BATCH_MEMORY_BYTES: Type.Integer({ minimum: 1, default: 2 * 1024 ** 3 }),
  /** Cap on epochs × training rows of one job: the samples it would push through the model. */
  MAX_TRAINING_SAMPLES: Type.Integer({ minimum: 1, default: 100_000_000 }),
  /** Largest predict request body; over it is a 413. */
  PREDICT_BODY_LIMIT_BYTES: Type.Integer({ minimum: 1024, default: 16 * 1024 * 1024 }),
  /** Deepest nesting of arrays and objects in a JSON body or JSON dataset upload; deeper is a 400. */
  MAX_JSON_DEPTH: Type.Integer({ minimum: 8, maximum: 1000, default: 64 }),
  /** Largest accepted dataset upload (each file of a multipart upload); over it is a 413. */
  DATASET_UPLOAD_LIMIT_BYTES: Type.Integer({ minimum: 1024, default: 512 * 1024 * 1024 }),
  /** Uploaded datasets whose training columns are bigger than this train from disk in batches. */
  DATASET_MEMORY_LIMIT_BYTES: Type.Integer({ minimum: 0, default: 256 * 1024 * 1024 }),
  /** How many loaded models the API keeps in memory for predict. */
  MODEL_CACHE_SIZE: Type.Integer({ minimum: 1, default: 8 }),
  /** Interval of SSE keep-alive comments; below the 15 s idle timeout common in proxies. */
  SSE_HEARTBEAT_MS: Type.Integer({ minimum: 100, maximum: 60_000, default: 10_000 }),
  /** Save a training checkpoint (weights + optimizer state) every this many epochs. */
  CHECKPOINT_EVERY_EPOCHS: Type.Integer({ minimum: 1, default: 1 }),
  /** A worker's job lock; a worker silent for this long is presumed dead and its job resumed elsewhere. */
  WORKER_LOCK_MS: Type.Integer({ minimum: 1_000, default: 30_000 }),
  /** On SIGTERM, how long a worker waits for its jobs to checkpoint and go back to the queue. */
  WORKER_SHUTDOWN_GRACE_MS: Type.Integer({ minimum: 0, default: 30_000 }),
  /** Finished jobs and their event streams are deleted this long after they end; 0 keeps them. Models stay until deleted. */
  JOB_RETENTION_SECONDS: Type.Integer({ minimum: 0, default: 7 * 24 * 3600 }),
  /** First retry delay after a transient failure; it doubles with each further attempt. */
  JOB_RETRY_DELAY_MS: Type.Integer({ minimum: 0, default: 5_000 }),
  /** Attempts per job when a worker crashes or loses Redis (deterministic failures never retry). */
  JOB_ATTEMPTS: Type.Integer({ minimum: 1, maximum: 20, default: 3 }),
});

export type Config = Static<typeof ConfigSchema>;

export class ConfigError extends Error {}

/** Reads and validates the environment once; a bad value stops start-up with its name. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const raw: Record<string, unknown> = {};
  for (const key of Object.keys(ConfigSchema.properties)) {
    const value = env[key];
    if (value !== undefined && value !== '') raw[key] = value;
  }
  const withDefaults = Value.Default(ConfigSchema, Value.Convert(ConfigSchema, raw));
  const errors = [...Value.Errors(ConfigSchema, withDefaults)];
  if (errors.length > 0) {
    const lines = errors.map((e) => `  ${e.path.slice(1)}=${JSON.stringify(e.value)}: ${e.message}`);
    throw new ConfigError(`invalid configuration:\n${[...new Set(lines)].join('\n')}`);
  }
  const config = withDefaults as Config;
  return { ...config, DATA_DIR: path.resolve(config.DATA_DIR) };
}

/** The config as environment variables, for child processes that must see the same settings. */
export function configToEnv(config: Config): Record<string, string> {
  return Object.fromEntries(Object.entries(config).map(([key, value]) => [key, String(value)]));
}
