import { randomUUID } from 'node:crypto';
import { mkdir, readdir, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Redis } from 'ioredis';
import { v7 as randomUUIDv7 } from 'uuid';
import type { DatasetCatalog, DatasetMeta, StoredDataset } from '../data/dataset-meta.ts';
import { keys, type Keys } from './keys.ts';
import { LOCAL_TENANT, type Tenant } from '../tenant.ts';
import type { LocalCopy, ObjectStore } from './object-store.ts';
import { OwnedIndex } from './owned-index.ts';

const ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** A draft directory: `.tmp-<dataset id>-<random>`. */
const DRAFT = /^\.tmp-([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})-/;
/** `datasets/<id>/<file>`: a stored dataset's object. */
const OBJECT = /^datasets\/([^/]+)\//;
const META_FILE = 'meta.json';
/**
 * How long a draft outlives its process's last renewal (renewed every third of it): after a
 * crash, the next sweep (at start, then periodically) removes the draft once this has passed.
 */
export const DRAFT_LEASE_MS = 15_000;

/**
 * `bytes` is what the dataset stores: its column files, and its metadata twice (meta.json
 * beside the files, and the copy in Redis), so metadata counts against the tenant's quota too.
 */
function withBytes(meta: Omit<DatasetMeta, 'bytes'>, fileBytes: number): DatasetMeta {
  // The count is part of what it counts: only its digits change the size, so the metadata
  // (up to DATASET_MAX_META_BYTES) is serialized once, and a couple of rounds settle the digits.
  const rest = Buffer.byteLength(JSON.stringify({ ...meta, bytes: 0 })) - 1;
  let bytes = fileBytes;
  for (let i = 0; i < 3; i++) bytes = fileBytes + 2 * (rest + String(bytes).length);
  return { ...meta, bytes };
}

export const isDatasetId = (id: string) => ID.test(id);

/** A dataset being written: parsers fill `dir`; `commit` publishes it, `abort` leaves no trace. */
export interface DatasetDraft {
  id: string;
  dir: string;
  /** Publishes it; throws StorageQuotaError (and leaves no trace) when it would take its tenant over `maxStoredBytes`. */
  commit(meta: Omit<DatasetMeta, 'id' | 'bytes' | 'createdAt' | 'tenant'>): Promise<DatasetMeta>;
  abort(): Promise<void>;
}

export class StorageQuotaError extends Error {}

/** Job data's uploaded datasets as files on this machine; `release` when the job is done with them. */
export interface OpenCatalog {
  catalog: DatasetCatalog;
  release(): void;
}

/**
 * Uploaded datasets: column files under `datasets/<id>/` in the object store, metadata in
 * Redis so every API and worker process sees them. A draft is parsed into a local staging
 * directory, published to the store, then registered: the Redis entry is the commit point,
 * and what a process that died before it left (a staging directory, objects without an
 * entry) is swept. File and key names are server-chosen; nothing from a request becomes one.
 */
export class DatasetStore {
  private readonly keys: Keys;
  readonly index: OwnedIndex<DatasetMeta>;

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    readonly objects: ObjectStore,
    /** Datasets whose training columns exceed this are streamed from disk (see DATASET_MEMORY_LIMIT_BYTES). */
    private readonly memoryLimitBytes = Infinity,
  ) {
    this.keys = keys(prefix);
    this.index = new OwnedIndex(redis, {
      meta: this.keys.dataset,
      all: this.keys.datasets,
      tenantPrefix: this.keys.tenantPrefix,
      kind: 'datasets',
    });
  }

  private folder(id: string): string {
    if (!ID.test(id)) throw new Error(`not a dataset id: ${id}`);
    return `datasets/${id}`;
  }

  private leaseKey = (id: string) => `${this.prefix}:dataset-draft:${id}`;

  private quotaError(owner: string, bytes: number, max: number, used: number) {
    return new StorageQuotaError(
      `storing ${bytes} more bytes would take tenant ${owner} over its quota of ${max} bytes (TENANT_MAX_STORED_BYTES; ${used} in use)`,
    );
  }

  /**
   * A new draft. Its lease (a Redis key the uploading process renews) is taken before its
   * directory exists, so a draft without a lease belongs to a process that died.
   * @param owner the tenant it will belong to; `maxStoredBytes` (0: none) caps that tenant's stored bytes.
   */
  async draft(owner: string = LOCAL_TENANT.id, maxStoredBytes = 0): Promise<DatasetDraft> {
    const id = randomUUIDv7();
    const temp = path.join(this.objects.stagingRoot, `.tmp-${id}-${randomUUID()}`);
    const lease = this.leaseKey(id);
    await this.redis.set(lease, owner, 'PX', DRAFT_LEASE_MS);
    const renew = setInterval(
      () => void this.redis.pexpire(lease, DRAFT_LEASE_MS).catch(() => undefined),
      DRAFT_LEASE_MS / 3,
    );
    renew.unref();
    const release = async () => {
      clearInterval(renew);
      await this.redis.del(lease).catch(() => undefined);
    };
    const abort = async () => {
      await rm(temp, { recursive: true, force: true });
      await release();
    };
    try {
      await mkdir(temp, { recursive: true });
    } catch (err) {
      await release();
      throw err;
    }
    return {
      id,
      dir: temp,
      abort,
      commit: async (partial) => {
        let published = false;
        try {
          let fileBytes = 0;
          for (const file of await readdir(temp)) fileBytes += (await stat(path.join(temp, file))).size;
          const meta = withBytes({ id, tenant: owner, ...partial, createdAt: new Date().toISOString() }, fileBytes);
          // Over the quota already: refused before a byte is uploaded. Registering checks it again, atomically.
          const used = await this.index.usage(owner);
          if (maxStoredBytes > 0 && used + meta.bytes > maxStoredBytes)
            throw this.quotaError(owner, meta.bytes, maxStoredBytes, used);
          await writeFile(path.join(temp, META_FILE), JSON.stringify(meta));
          published = true;
          await this.objects.publishDirectory(temp, this.folder(id));
          if (!(await this.index.register(meta, maxStoredBytes)))
            throw this.quotaError(owner, meta.bytes, maxStoredBytes, await this.index.usage(owner));
          await release();
          return meta;
        } catch (err) {
          if (published) await this.objects.deletePrefix(this.folder(id)).catch(() => undefined);
          await abort();
          throw err;
        }
      },
    };
  }

  async get(id: string): Promise<DatasetMeta | undefined> {
    return ID.test(id) ? this.index.get(id) : undefined;
  }

  /** The metadata if `tenant` may see the dataset; another tenant's costs what a missing one does (see OwnedIndex). */
  async getFor(id: string, tenant: Tenant): Promise<DatasetMeta | undefined> {
    return ID.test(id) ? this.index.getFor(id, tenant) : undefined;
  }

  /** Newest first; `tenant` limits it to one tenant's datasets; `maxBytes` bounds the metadata a page reads (see OwnedIndex.list). */
  list(opts: { tenant?: string; limit: number; cursor?: string; maxBytes?: number }) {
    return this.index.list(opts);
  }

  /**
   * The uploaded datasets a job's data names, for the (synchronous) planner: metadata only
   * (`dir` is empty; `open` gives files). Unknown ids are left out, so they read as unknown.
   * @param tenant the submitter: another tenant's dataset is left out, like a missing one,
   * with its ownership read before its metadata. Workers (no tenant) see every dataset.
   */
  async catalog(data: { dataset?: string; testDataset?: string }, tenant?: Tenant): Promise<DatasetCatalog> {
    const catalog = Object.assign(new Map<string, StoredDataset>(), { memoryLimitBytes: this.memoryLimitBytes });
    for (const id of [data.dataset, data.testDataset]) {
      if (id === undefined || !ID.test(id) || catalog.has(id)) continue;
      const meta = tenant ? await this.getFor(id, tenant) : await this.get(id);
      if (meta) catalog.set(id, { meta, dir: '' });
    }
    return catalog;
  }

  /** The catalog with each dataset's files on this machine (fetched into the cache when the store is remote). */
  async open(data: { dataset?: string; testDataset?: string }, tenant?: Tenant): Promise<OpenCatalog> {
    const catalog = await this.catalog(data, tenant);
    const copies: LocalCopy[] = [];
    const release = () => {
      for (const copy of copies.splice(0)) copy.release();
    };
    try {
      for (const [id, stored] of catalog) {
        const copy = await this.objects.openDirectory(this.folder(id));
        copies.push(copy);
        stored.dir = copy.dir;
      }
    } catch (err) {
      release();
      throw err;
    }
    return { catalog, release };
  }

  /**
   * What uploads that never finished left (their process died): staging directories and
   * stored objects without a live lease and without an index entry, untouched for `graceMs`
   * (which also covers leftovers made before leases existed). Returns how many were swept.
   */
  async sweepDrafts(graceMs = 60_000): Promise<number> {
    let swept = 0;
    const stale = (time: number) => Date.now() - time > graceMs;
    const leased = async (id: string | undefined) =>
      id !== undefined && (await this.redis.exists(this.leaseKey(id))) === 1;
    const staging = this.objects.stagingRoot;
    for (const name of await readdir(staging).catch(() => [] as string[])) {
      if (!name.startsWith('.tmp-')) continue;
      const id = DRAFT.exec(name)?.[1];
      if (await leased(id)) continue;
      const info = await stat(path.join(staging, name)).catch(() => undefined);
      if (!info || !stale(info.mtimeMs)) continue;
      await rm(path.join(staging, name), { recursive: true, force: true });
      swept++;
    }
    const newest = new Map<string, number>();
    for (const object of await this.objects.list('datasets/')) {
      const id = OBJECT.exec(object.key)?.[1];
      if (id) newest.set(id, Math.max(newest.get(id) ?? 0, object.modified.getTime()));
    }
    for (const [id, time] of newest) {
      if (!stale(time) || (await leased(id)) || (ID.test(id) && (await this.index.get(id)))) continue;
      await this.objects.deletePrefix(`datasets/${id}`);
      swept++;
    }
    return swept;
  }

  /** Unregisters first, so no job planned from now on finds a dataset whose files are going away. */
  async delete(id: string): Promise<boolean> {
    if (!ID.test(id)) return false;
    const removed = await this.index.unregister(id);
    await this.objects.deletePrefix(this.folder(id));
    await this.objects.forget(this.folder(id));
    return removed !== undefined;
  }
}
