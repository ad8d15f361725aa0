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
  /**
   * The API's Redis commands fail after this long without an answer (and at once while Redis
   * is unreachable), so requests answer 503 with Retry-After instead of hanging in an outage.
   */
  REDIS_COMMAND_TIMEOUT_MS: Type.Integer({ minimum: 100, maximum: 60_000, default: 1_000 }),
  DATA_DIR: Type.String({ minLength: 1, default: './data' }),
  WORKER_CONCURRENCY: Type.Integer({ minimum: 1, maximum: 64, default: 1 }),
  TFJS_BACKEND: Type.Union(
    [Type.Literal('auto'), Type.Literal('tensorflow'), Type.Literal('wasm'), Type.Literal('cpu')],
    { default: 'auto' },
  ),
  /**
   * `auto`: the kernels and paths of src/compute/accelerations/ that fit the backend (faster
   * wasm matmuls, fused optimizer updates, Dense stacks for predict...). `off`: stock tfjs
   * kernels only, e.g. to rule an acceleration out when a result looks wrong, or to compare.
   */
  TFJS_ACCELERATION: Type.Union([Type.Literal('auto'), Type.Literal('off')], { default: 'auto' }),
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
  /**
   * Failed authentications per minute per client address (counted in Redis); over it, the
   * address gets 429 until the minute ends, except tenants that authenticated from it before. 0 = no limit.
   */
  AUTH_FAILURES_PER_MINUTE: Type.Integer({ minimum: 0, default: 30 }),
  /** Per tenant: jobs training at once; more wait in the queue. 0 = no limit. */
  TENANT_MAX_RUNNING_JOBS: Type.Integer({ minimum: 0, default: 2 }),
  /** Per tenant and API process: open event streams (each holds a Redis connection); over it is a 429. 0 = no limit. */
  TENANT_MAX_STREAMS: Type.Integer({ minimum: 0, default: 20 }),
  /** Per tenant: jobs waiting in the queue; a submission over it is a 429. 0 = no limit. */
  TENANT_MAX_QUEUED_JOBS: Type.Integer({ minimum: 0, default: 100 }),
  /** Per tenant: bytes of stored models and datasets; uploads and submissions over it are a 403. 0 = no limit. */
  TENANT_MAX_STORED_BYTES: Type.Integer({ minimum: 0, default: 10 * 1024 ** 3 }),
  /**
   * Largest accepted request body; inline training data counts against it. Parsing and
   * checking a JSON body holds the event loop (about 50 ms a MiB of inline numbers), so larger
   * data is uploaded as a dataset, which streams.
   */
  BODY_LIMIT_BYTES: Type.Integer({ minimum: 1024, default: 1024 * 1024 }),
  /** Models with more trainable parameters than this are refused at submit. */
  MAX_MODEL_PARAMS: Type.Integer({ minimum: 1, default: 50_000_000 }),
  /** Caps on one job: layers, epochs, batch size, estimated memory of one training batch. */
  MAX_MODEL_LAYERS: Type.Integer({ minimum: 1, default: 500 }),
  MAX_EPOCHS: Type.Integer({ minimum: 1, default: 10_000 }),
  MAX_BATCH_SIZE: Type.Integer({ minimum: 1, default: 65_536 }),
  MAX_BATCH_MEMORY_BYTES: Type.Integer({ minimum: 1, default: 2 * 1024 ** 3 }),
  /** Cap on epochs × training rows of one job: the samples it would push through the model. */
  MAX_TRAINING_SAMPLES: Type.Integer({ minimum: 1, default: 100_000_000 }),
  /**
   * Work of one training step (forward + backward on a whole batch), in FLOPs. Nothing stops
   * a step half-way, so this bounds how long cancel, time limits and shutdown can take.
   */
  MAX_BATCH_FLOPS: Type.Number({ minimum: 1, default: 50e9 }),
  /** Recurrent time steps one training step runs one after another (RNN/LSTM/GRU over long sequences). */
  MAX_SEQUENTIAL_STEPS: Type.Integer({ minimum: 1, default: 1_000 }),
  /**
   * Dry runs (validate, and every submission) build the model in a thread of their own, never
   * on the API's event loop: one that takes longer than this, or more memory than
   * DRY_RUN_MEMORY_MB, is a 422; more than DRY_RUN_QUEUE waiting is a 503.
   */
  DRY_RUN_THREADS: Type.Integer({ minimum: 1, maximum: 16, default: 1 }),
  DRY_RUN_TIMEOUT_MS: Type.Integer({ minimum: 1, default: 10_000 }),
  DRY_RUN_MEMORY_MB: Type.Integer({ minimum: 64, default: 512 }),
  DRY_RUN_QUEUE: Type.Integer({ minimum: 0, default: 32 }),
  /** Largest predict request body (about 1,300 raw MNIST digits); over it is a 413. Parsed on the event loop, as above. */
  PREDICT_BODY_LIMIT_BYTES: Type.Integer({ minimum: 1024, default: 4 * 1024 * 1024 }),
  /**
   * Predict is sized before it runs: instances × the model's output values per instance × 24
   * bytes (the most a float takes as JSON) over this is a 413; the answer can never be larger.
   */
  PREDICT_MAX_ANSWER_BYTES: Type.Integer({ minimum: 1024, default: 4 * 1024 * 1024 }),
  /**
   * Bytes one forward pass may hold (instances × the values every layer outputs per instance
   * × 4): a request over it is a 413, and concurrent requests are batched within it. Keeps
   * every pass far inside the compute backend's memory, which all tenants share (the wasm
   * backend's heap is 32-bit: at most 2 GiB, hence the 1 GiB maximum).
   */
  PREDICT_MAX_PASS_BYTES: Type.Integer({ minimum: 1024, maximum: 1024 ** 3, default: 256 * 1024 * 1024 }),
  /**
   * FLOPs of one forward pass. Passes run on the API's event loop, so this bounds how long one
   * can hold it: a request bigger than one pass is split into passes with a turn of the loop
   * between them; a model one instance of which exceeds it is a 422.
   */
  PREDICT_MAX_PASS_FLOPS: Type.Number({ minimum: 1e6, default: 1e9 }),
  /** Deepest nesting of arrays and objects in a JSON body or JSON dataset upload; deeper is a 400. */
  MAX_JSON_DEPTH: Type.Integer({ minimum: 8, maximum: 1000, default: 64 }),
  /** Largest accepted dataset upload (each file of a multipart upload); over it is a 413. */
  DATASET_UPLOAD_LIMIT_BYTES: Type.Integer({ minimum: 1024, default: 512 * 1024 * 1024 }),
  /** Uploaded datasets whose training columns are bigger than this train from disk in batches. */
  DATASET_MEMORY_LIMIT_BYTES: Type.Integer({ minimum: 0, default: 256 * 1024 * 1024 }),
  /**
   * Caps on the shape of an upload, checked while it streams in (over one is a 400 naming the
   * cap, the row and the column), so that ingest memory and what a dataset keeps in Redis stay
   * bounded whatever the upload looks like: columns of a CSV or of JSON records; characters of
   * one CSV cell, JSON text value or column name; distinct text values (classes) of one column;
   * numbers in one sample (a JSON `x`/`y` entry, an IDX image); and bytes of a dataset's
   * metadata (column names, class names and counts, statistics), which Redis holds.
   */
  DATASET_MAX_COLUMNS: Type.Integer({ minimum: 1, maximum: 100_000, default: 4096 }),
  DATASET_MAX_CELL_CHARS: Type.Integer({ minimum: 16, maximum: 1024 * 1024, default: 1024 }),
  DATASET_MAX_CLASSES: Type.Integer({ minimum: 2, default: 10_000 }),
  DATASET_MAX_SAMPLE_VALUES: Type.Integer({ minimum: 1, default: 1024 * 1024 }),
  DATASET_MAX_META_BYTES: Type.Integer({ minimum: 4096, default: 1024 * 1024 }),
  /**
   * Stored metadata one page of `GET /v1/datasets` or `GET /v1/models` reads: a page stops before the item that
   * would take it over this (it always holds one) and its `nextCursor` goes on from there, so a
   * page of wide datasets or deep models is read, parsed and answered in bounded time and size.
   */
  LIST_MAX_BYTES: Type.Integer({ minimum: 4096, default: 1024 * 1024 }),
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
