import { randomUUID } from 'node:crypto';
import { mkdir, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Redis } from 'ioredis';
import { v7 as randomUUIDv7 } from 'uuid';
import type { DatasetCatalog, DatasetMeta, StoredDataset } from '../data/dataset-meta.ts';
import { keys, type Keys } from './keys.ts';
import { LOCAL_TENANT, type Tenant } from '../tenant.ts';
import { OwnedIndex } from './owned-index.ts';

const ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** A draft directory: `.tmp-<dataset id>-<random>`. */
const DRAFT = /^\.tmp-([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})-/;
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

/**
 * Uploaded datasets: column files in `DATA_DIR/datasets/<id>` (written to a temporary
 * directory and renamed into place), metadata in Redis so every API and worker process sees
 * them. Directory and file names are server-chosen; nothing from a request becomes a path.
 */
export class StorageQuotaError extends Error {}

export class DatasetStore {
  private readonly keys: Keys;
  readonly root: string;
  readonly index: OwnedIndex<DatasetMeta>;

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    dataDir: string,
    /** Datasets whose training columns exceed this are streamed from disk (see DATASET_MEMORY_LIMIT_BYTES). */
    private readonly memoryLimitBytes = Infinity,
  ) {
    this.keys = keys(prefix);
    this.root = path.join(dataDir, 'datasets');
    this.index = new OwnedIndex(redis, {
      meta: this.keys.dataset,
      all: this.keys.datasets,
      tenantPrefix: this.keys.tenantPrefix,
      kind: 'datasets',
    });
  }

  dir(id: string): string {
    if (!ID.test(id)) throw new Error(`not a dataset id: ${id}`);
    return path.join(this.root, id);
  }

  private leaseKey = (id: string) => `${this.prefix}:dataset-draft:${id}`;

  /**
   * A new draft. Its lease (a Redis key the uploading process renews) is taken before its
   * directory exists, so a draft directory without a lease belongs to a process that died.
   * @param owner the tenant it will belong to; `maxStoredBytes` (0: none) caps that tenant's stored bytes.
   */
  async draft(owner: string = LOCAL_TENANT.id, maxStoredBytes = 0): Promise<DatasetDraft> {
    const id = randomUUIDv7();
    const temp = path.join(this.root, `.tmp-${id}-${randomUUID()}`);
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
        try {
          let fileBytes = 0;
          for (const file of await readdir(temp)) fileBytes += (await stat(path.join(temp, file))).size;
          const meta = withBytes({ id, tenant: owner, ...partial, createdAt: new Date().toISOString() }, fileBytes);
          await writeFile(path.join(temp, META_FILE), JSON.stringify(meta));
          // Registered, then renamed into place: a process that dies in between leaves a draft
          // whose metadata exists, which the sweep moves into place instead of removing.
          if (!(await this.index.register(meta, maxStoredBytes))) {
            const used = await this.index.usage(owner);
            throw new StorageQuotaError(
              `storing ${meta.bytes} more bytes would take tenant ${owner} over its quota of ${maxStoredBytes} bytes (TENANT_MAX_STORED_BYTES; ${used} in use)`,
            );
          }
          try {
            await rename(temp, this.dir(id));
          } catch (err) {
            await this.index.unregister(id);
            throw err;
          }
          await release();
          return meta;
        } catch (err) {
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
   * The uploaded datasets a job's data names, for the (synchronous) planner; unknown ids, and
   * datasets the tenant may not see (`visible`), are left out, so they read as unknown.
   */
  /**
   * @param tenant the submitter: another tenant's dataset is left out, like a missing one,
   * with its ownership read before its metadata. Workers (no tenant) see every dataset.
   */
  async catalog(data: { dataset?: string; testDataset?: string }, tenant?: Tenant): Promise<DatasetCatalog> {
    const catalog = Object.assign(new Map<string, StoredDataset>(), { memoryLimitBytes: this.memoryLimitBytes });
    for (const id of [data.dataset, data.testDataset]) {
      if (id === undefined || !ID.test(id) || catalog.has(id)) continue;
      const meta = tenant ? await this.getFor(id, tenant) : await this.get(id);
      if (meta) catalog.set(id, { meta, dir: this.dir(id) });
    }
    return catalog;
  }

  /**
   * Drafts left by uploads that never finished (their process died mid-upload): draft
   * directories without a live lease, older than `graceMs` (which also covers drafts made
   * before leases existed). One whose metadata was registered (the process died between
   * registering and renaming) is moved into place; the others are removed. Returns how many
   * were swept.
   */
  async sweepDrafts(graceMs = 60_000): Promise<number> {
    const entries = await readdir(this.root).catch(() => [] as string[]);
    let swept = 0;
    for (const name of entries.filter((e) => e.startsWith('.tmp-'))) {
      const id = DRAFT.exec(name)?.[1];
      if (id && (await this.redis.exists(this.leaseKey(id))) === 1) continue;
      const dir = path.join(this.root, name);
      const info = await stat(dir).catch(() => undefined);
      if (!info || Date.now() - info.mtimeMs <= graceMs) continue;
      const registered = id ? await this.index.get(id) : undefined;
      if (registered && !(await stat(this.dir(id!)).catch(() => undefined))) await rename(dir, this.dir(id!));
      else await rm(dir, { recursive: true, force: true });
      swept++;
    }
    return swept;
  }

  /** Unregisters first, so no job planned from now on finds a dataset whose files are going away. */
  async delete(id: string): Promise<boolean> {
    if (!ID.test(id)) return false;
    const removed = await this.index.unregister(id);
    await rm(this.dir(id), { recursive: true, force: true });
    return removed !== undefined;
  }
}
