import path from 'node:path';
import { Type, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { LIMIT_SETTINGS } from './config-limits.ts';

/** One entry of REDIS_SENTINELS: a host name, IPv4 or [IPv6] address, an optional port, spaces around. */
const SENTINEL_ADDRESS = String.raw`\s*(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+)(:[0-9]{1,5})?\s*`;

/** Every setting the service reads from the environment, with its default. */
export const ConfigSchema = Type.Object({
  PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 3000, description: 'Port the API listens on.' }),
  HOST: Type.String({
    minLength: 1,
    default: '127.0.0.1',
    description: 'Address the API binds to (`0.0.0.0` in containers).',
  }),
  REDIS_URL: Type.String({
    pattern: '^rediss?://',
    default: 'redis://127.0.0.1:6379',
    description:
      'Redis holding the queue, job records, event streams and the model and dataset ' +
      'indexes. `npm start` runs a local `redis-server` when none answers here and one is ' +
      'installed.',
  }),
  REDIS_SENTINELS: Type.String({
    pattern: `^(|${SENTINEL_ADDRESS}(,${SENTINEL_ADDRESS})*)$`,
    default: '',
    description:
      'Redis Sentinels, comma-separated `host:port` (port 26379 if left out); empty: not used. ' +
      'When set, every process connects to the primary the sentinels name for ' +
      '`REDIS_SENTINEL_NAME`, and again to the new one after a failover; `REDIS_URL` then ' +
      'gives only the user, password, database and TLS (`rediss://`) of the Redis servers. ' +
      'The sentinels themselves are reached without a password or TLS.',
  }),
  REDIS_SENTINEL_NAME: Type.String({
    minLength: 1,
    default: 'mymaster',
    description: "The primary's name in the sentinels' configuration (`sentinel monitor <name> ...`).",
  }),
  REDIS_PREFIX: Type.String({
    pattern: '^[A-Za-z0-9_.-]+$',
    default: 'tts',
    description: 'Prefix of every Redis key we and BullMQ write; tests use a unique one each.',
  }),
  REDIS_COMMAND_TIMEOUT_MS: Type.Integer({
    minimum: 100,
    maximum: 60_000,
    default: 1_000,
    description:
      "The API's Redis commands fail after this long without an answer (and at once while " +
      'Redis is unreachable), so requests answer 503 with Retry-After instead of hanging in ' +
      'an outage; the connection that stopped answering is replaced.',
  }),
  DATA_DIR: Type.String({
    minLength: 1,
    default: './data',
    description:
      "This machine's folder: the default store (`STORAGE_URL` empty), the default `CACHE_DIR`'s " +
      "parent, and a local redis-server's data. With `file:` storage on several machines, " +
      'API and workers must share the store folder; with `s3://` storage they share nothing.',
  }),
  STORAGE_URL: Type.String({
    pattern: '^(|file:.+|s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/.*)?)$',
    default: '',
    description:
      "Where models, datasets, checkpoints and jobs' inline data live. Empty: `file:` at " +
      '`DATA_DIR`. `file:PATH`: a folder. `s3://BUCKET/PREFIX`: an S3-compatible object store ' +
      '(AWS, MinIO, Ceph RGW...); each process then keeps only a bounded cache ' +
      '(`CACHE_DIR`). Credentials come from `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY` or ' +
      "the AWS SDK's default chain.",
  }),
  S3_ENDPOINT: Type.String({
    pattern: '^(|https?://.+)$',
    default: '',
    description: 'Endpoint of an S3-compatible store (MinIO: `http://minio:9000`); empty for AWS.',
  }),
  S3_REGION: Type.String({ minLength: 1, default: 'us-east-1', description: 'Region of the S3 bucket.' }),
  S3_FORCE_PATH_STYLE: Type.Boolean({
    default: false,
    description:
      'Path-style bucket addressing (`endpoint/bucket/key`), which MinIO and most S3-compatible stores need.',
  }),
  STORAGE_TIMEOUT_MS: Type.Integer({
    minimum: 100,
    maximum: 60_000,
    default: 1_500,
    description:
      "How long a request waits for the store's readiness check before answering 503 with " +
      'Retry-After: a store that is away fails submissions and uploads fast, not after a ' +
      'client timeout.',
  }),
  CACHE_DIR: Type.String({
    default: '',
    description:
      'Local cache of what this machine read from `s3://` storage (models, datasets); empty: ' +
      '`DATA_DIR/cache`. Processes on one machine may share it; machines must not.',
  }),
  CACHE_MAX_BYTES: Type.Integer({
    minimum: 0,
    default: 2 * 1024 ** 3,
    description:
      'Bound of `CACHE_DIR`: least recently used entries go when it is over, except those in ' +
      'use (a dataset a job trains on, a model being loaded).',
  }),
  WORKER_CONCURRENCY: Type.Integer({
    minimum: 1,
    maximum: 64,
    default: 1,
    description: 'Jobs one worker process trains at once, each in its own child process.',
  }),
  TFJS_BACKEND: Type.Union(
    [Type.Literal('auto'), Type.Literal('tensorflow'), Type.Literal('wasm'), Type.Literal('cpu')],
    {
      default: 'auto',
      description:
        'Compute backend: `tensorflow` (tfjs-node), `wasm` or `cpu`; `auto` takes the first ' +
        'that loads, in that order.',
    },
  ),
  TFJS_ACCELERATION: Type.Union([Type.Literal('auto'), Type.Literal('off')], {
    default: 'auto',
    description:
      '`auto`: the kernels and paths of src/compute/accelerations/ that fit the backend ' +
      '(faster wasm matmuls, fused optimizer updates, Dense stacks for predict...). `off`: ' +
      'stock tfjs kernels only, e.g. to rule an acceleration out when a result looks wrong, ' +
      'or to compare.',
  }),
  LOG_LEVEL: Type.Union(
    ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)),
    { default: 'info', description: 'pino log level.' },
  ),
  API_KEYS: Type.String({
    default: '',
    description:
      'API keys: comma-separated `key:tenant` or `key:tenant:admin`, each key at least 16 ' +
      'characters. Empty (and no API_KEYS_FILE) runs the service open, for local use. Keys ' +
      'are never logged.',
  }),
  API_KEYS_FILE: Type.String({
    default: '',
    description: 'A file of `key:tenant[:admin]` lines (# comments), read at start; adds to API_KEYS.',
  }),
  METRICS_TOKEN: Type.String({
    pattern: '^(|.{16,})$',
    default: '',
    description:
      'A token (at least 16 characters) that reads `GET /metrics` as `Authorization: Bearer ' +
      '<token>`, for a Prometheus server that should hold no API key. With API keys ' +
      'configured, admin keys read it too; with neither keys nor this token, /metrics is open.',
  }),
  DOCS_PUBLIC: Type.Boolean({
    default: true,
    description: 'Whether /docs and /openapi.json stay open when keys are configured.',
  }),
  RATE_LIMIT_PER_MINUTE: Type.Integer({
    minimum: 0,
    default: 1200,
    description:
      'Requests per minute per tenant on /v1 (counted in Redis, so shared by every API ' +
      'process); over it is a 429 `rate_limited` with Retry-After. 0 = no limit.',
  }),
  AUTH_FAILURES_PER_MINUTE: Type.Integer({
    minimum: 0,
    default: 30,
    description:
      'Failed authentications per minute per client address (counted in Redis); over it, ' +
      'the address gets 429 `too_many_auth_failures` until the minute ends, except tenants ' +
      'that authenticated from it before. 0 = no limit.',
  }),
  TENANT_MAX_RUNNING_JOBS: Type.Integer({
    minimum: 0,
    default: 2,
    description: 'Per tenant: jobs training at once; more wait in the queue (no attempt spent). 0 = no ' + 'limit.',
  }),
  TENANT_MAX_STREAMS: Type.Integer({
    minimum: 0,
    default: 20,
    description:
      'Per tenant and API process: open event streams (each holds a Redis connection); over ' +
      'it is a 429 `too_many_streams`. 0 = no limit.',
  }),
  TENANT_MAX_QUEUED_JOBS: Type.Integer({
    minimum: 0,
    default: 100,
    description:
      'Per tenant: jobs waiting in the queue; a submission over it is a 429 `queue_quota`. ' + '0 = no limit.',
  }),
  TENANT_MAX_STORED_BYTES: Type.Integer({
    minimum: 0,
    default: 10 * 1024 ** 3,
    description:
      'Per tenant: bytes of stored models and datasets; uploads and submissions over it are ' +
      'a 403 `storage_quota` (a model a job trains is always kept). 0 = no limit.',
  }),
  TENANT_MAX_REGISTERED_NAMES: Type.Integer({
    minimum: 0,
    default: 1000,
    description:
      'Per tenant: registered model names (a name stays once created); registering a new name ' +
      'over it is a 403 `registry_quota`, and a job whose `register` meets it completes without ' +
      'registering (its `registrationError` says why). 0 = no limit.',
  }),
  TENANT_MAX_VERSIONS_PER_NAME: Type.Integer({
    minimum: 0,
    default: 1000,
    description:
      'Per tenant and registered name: versions kept (deleting one makes room); another over it ' +
      'is a 403 `registry_quota`, answered for a job as for TENANT_MAX_REGISTERED_NAMES. 0 = no limit.',
  }),
  ...LIMIT_SETTINGS,
  MODEL_CACHE_SIZE: Type.Integer({
    minimum: 1,
    default: 8,
    description: 'How many loaded models the API keeps in memory for predict.',
  }),
  SSE_HEARTBEAT_MS: Type.Integer({
    minimum: 100,
    maximum: 60_000,
    default: 10_000,
    description: 'Interval of SSE keep-alive comments; below the 15 s idle timeout common in proxies.',
  }),
  CHECKPOINT_EVERY_EPOCHS: Type.Integer({
    minimum: 1,
    default: 1,
    description: 'Save a training checkpoint (weights + optimizer state) every this many epochs.',
  }),
  WORKER_LOCK_MS: Type.Integer({
    minimum: 1_000,
    default: 30_000,
    description:
      "A worker's job lock; a worker silent for this long is presumed dead and its job " +
      'resumed elsewhere from its last checkpoint.',
  }),
  WORKER_SHUTDOWN_GRACE_MS: Type.Integer({
    minimum: 0,
    default: 30_000,
    description: 'On SIGTERM, how long a worker waits for its jobs to checkpoint and go back to the ' + 'queue.',
  }),
  JOB_RETENTION_SECONDS: Type.Integer({
    minimum: 0,
    default: 7 * 24 * 3600,
    description:
      'Finished jobs and their event streams are deleted this long after they end; 0 keeps ' +
      'them. Models stay until deleted.',
  }),
  JOB_RETRY_DELAY_MS: Type.Integer({
    minimum: 0,
    default: 5_000,
    description: 'First retry delay after a transient failure; it doubles with each further attempt.',
  }),
  SWEEP_RECONCILE_MS: Type.Integer({
    minimum: 100,
    default: 3_000,
    description:
      'How often each worker brings every running sweep up to date with its trials; a trial ' +
      'start or end does so at once, this is what carries a sweep over a crash or a full queue.',
  }),
  TENANT_MAX_ACTIVE_SWEEPS: Type.Integer({
    minimum: 0,
    default: 10,
    description: 'Per tenant: sweeps not finished yet; another submission is a 429 `sweep_quota`. 0 = no limit.',
  }),
  JOB_ATTEMPTS: Type.Integer({
    minimum: 1,
    maximum: 20,
    default: 3,
    description: 'Attempts per job when a worker crashes or loses Redis (deterministic failures never ' + 'retry).',
  }),
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
  const dataDir = path.resolve(config.DATA_DIR);
  return {
    ...config,
    DATA_DIR: dataDir,
    STORAGE_URL: config.STORAGE_URL === '' ? `file:${dataDir}` : config.STORAGE_URL,
    CACHE_DIR: path.resolve(config.CACHE_DIR === '' ? path.join(dataDir, 'cache') : config.CACHE_DIR),
  };
}

/** The config as environment variables, for child processes that must see the same settings. */
export function configToEnv(config: Config): Record<string, string> {
  return Object.fromEntries(Object.entries(config).map(([key, value]) => [key, String(value)]));
}
