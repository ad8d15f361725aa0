/**
 * The storage seam: every durable byte that is not in Redis (model artifacts, dataset columns,
 * checkpoints, jobs' inline data) goes through an ObjectStore, `file:` (a folder) or `s3://`
 * (any S3-compatible store). Keys are server-made `/`-separated paths such as
 * `models/<id>/weights.bin`; nothing from a request becomes a key.
 *
 * What is committed is decided above this seam: a model or dataset exists when its Redis index
 * entry does (written after its objects), a checkpoint when its manifest object names its
 * weights object. So a store only has to make single objects atomic.
 */
export interface StoredObject {
  key: string;
  size: number;
  modified: Date;
}

/** A directory on this machine holding a prefix's objects, valid until `release`. */
export interface LocalCopy {
  dir: string;
  release(): void;
}

export interface ObjectStore {
  /** `file:/abs/path` or `s3://bucket/prefix`: for logs, /readyz and errors. */
  readonly location: string;
  /** Where to build a directory that `publishDirectory` will publish (same filesystem as a `file:` store). */
  readonly stagingRoot: string;
  /** Writes one object whole: a reader sees the previous bytes or these, never part. */
  put(key: string, body: Uint8Array | string): Promise<void>;
  /** The object's bytes, or undefined when there is none. */
  get(key: string): Promise<Buffer | undefined>;
  /** Every object whose key starts with `prefix`. */
  list(prefix: string): Promise<StoredObject[]>;
  delete(keys: string[]): Promise<void>;
  /** Deletes every object under `prefix` (a `…/` folder). */
  deletePrefix(prefix: string): Promise<void>;
  /**
   * Moves a local directory's files to `prefix/<file>` (replacing what was there) and removes
   * the directory. Streams: no file is held in memory. On failure nothing it wrote is left.
   */
  publishDirectory(localDir: string, prefix: string): Promise<void>;
  /** The objects under `prefix/` as files in a local directory (a remote store's cached copy, kept until released). */
  openDirectory(prefix: string): Promise<LocalCopy>;
  /** Drops this machine's cached copy of `prefix/`, if any (after a delete). */
  forget(prefix: string): Promise<void>;
  /** Resolves when the store answers within `timeoutMs`; throws StoreUnavailableError otherwise. */
  check(timeoutMs: number): Promise<void>;
  /** Removes what writers that died left on this machine (staging, cache fills) untouched for `olderThanMs`. */
  sweepLeftovers(olderThanMs?: number): Promise<number>;
}

/**
 * The store did not answer, or refused: an outage, not the request's fault. The API answers
 * 503 with Retry-After; a worker puts the job back for later without spending an attempt.
 */
export class StoreUnavailableError extends Error {
  /** The API's Retry-After, and how long a worker puts the job off before trying again. */
  readonly retryAfterSeconds = 5;
  constructor(
    readonly location: string,
    cause: unknown,
  ) {
    const reason = cause instanceof Error ? `${cause.name}: ${cause.message}` : String(cause);
    super(`the object store ${location} is unavailable (${reason})`, { cause });
    this.name = 'StoreUnavailableError';
  }
}

const KEY = /^[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+)*\/?$/;

/** Keys are made by us, but checked anyway: no `..`, no absolute path, no empty segment. */
export function checkKey(key: string): string {
  if (!KEY.test(key) || key.split('/').some((part) => part === '..' || part === '.'))
    throw new Error(`not an object key: ${JSON.stringify(key)}`);
  return key;
}

/** `a/b` and `a/b/` both name the folder `a/b/`. */
export const folder = (prefix: string) => (prefix.endsWith('/') ? prefix : `${prefix}/`);
