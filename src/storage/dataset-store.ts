import { randomUUID } from 'node:crypto';
import { mkdir, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Redis } from 'ioredis';
import { v7 as randomUUIDv7 } from 'uuid';
import type { DatasetCatalog, DatasetMeta, StoredDataset } from '../data/dataset-meta.ts';
import { keys, type Keys } from '../queue/keys.ts';
import { LOCAL_TENANT } from '../tenant.ts';
import { OwnedIndex } from './owned-index.ts';

const ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const META_FILE = 'meta.json';

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
    prefix: string,
    dataDir: string,
    /** Datasets whose training columns exceed this are streamed from disk (see DATASET_MEMORY_LIMIT_BYTES). */
    private readonly memoryLimitBytes = Infinity,
  ) {
    this.keys = keys(prefix);
    this.root = path.join(dataDir, 'datasets');
    this.index = new OwnedIndex(redis, { meta: this.keys.dataset, all: this.keys.datasets, tenantPrefix: this.keys.tenantPrefix, kind: 'datasets' });
  }

  dir(id: string): string {
    if (!ID.test(id)) throw new Error(`not a dataset id: ${id}`);
    return path.join(this.root, id);
  }

  /** @param owner the tenant it will belong to; `maxStoredBytes` (0: none) caps that tenant's stored bytes. */
  async draft(owner: string = LOCAL_TENANT.id, maxStoredBytes = 0): Promise<DatasetDraft> {
    const id = randomUUIDv7();
    const temp = path.join(this.root, `.tmp-${id}-${randomUUID()}`);
    await mkdir(temp, { recursive: true });
    const abort = () => rm(temp, { recursive: true, force: true });
    return {
      id,
      dir: temp,
      abort,
      commit: async (partial) => {
        try {
          let bytes = 0;
          for (const file of await readdir(temp)) bytes += (await stat(path.join(temp, file))).size;
          const meta: DatasetMeta = { id, tenant: owner, ...partial, bytes, createdAt: new Date().toISOString() };
          await writeFile(path.join(temp, META_FILE), JSON.stringify(meta, null, 2));
          await rename(temp, this.dir(id));
          if (!(await this.index.register(meta, maxStoredBytes))) {
            const used = await this.index.usage(owner);
            throw new StorageQuotaError(`storing ${bytes} more bytes would take tenant ${owner} over its quota of ${maxStoredBytes} bytes (TENANT_MAX_STORED_BYTES; ${used} in use)`);
          }
          return meta;
        } catch (err) {
          await abort();
          await rm(this.dir(id), { recursive: true, force: true });
          throw err;
        }
      },
    };
  }

  async get(id: string): Promise<DatasetMeta | undefined> {
    return ID.test(id) ? this.index.get(id) : undefined;
  }

  /** Newest first; `tenant` limits it to one tenant's datasets. */
  list(opts: { tenant?: string; limit: number; cursor?: string }) {
    return this.index.list(opts);
  }

  /**
   * The uploaded datasets a job's data names, for the (synchronous) planner; unknown ids, and
   * datasets the tenant may not see (`visible`), are left out, so they read as unknown.
   */
  async catalog(data: { dataset?: string; testDataset?: string }, visible: (owner: string | undefined) => boolean = () => true): Promise<DatasetCatalog> {
    const catalog = Object.assign(new Map<string, StoredDataset>(), { memoryLimitBytes: this.memoryLimitBytes });
    for (const id of [data.dataset, data.testDataset]) {
      if (id === undefined || !ID.test(id) || catalog.has(id)) continue;
      const meta = await this.get(id);
      if (meta && visible(meta.tenant)) catalog.set(id, { meta, dir: this.dir(id) });
    }
    return catalog;
  }

  /**
   * Removes drafts left by uploads that never finished (the process died mid-upload): temp
   * directories older than `olderThanMs`. Returns how many went.
   */
  async sweepDrafts(olderThanMs = 60 * 60 * 1000): Promise<number> {
    const entries = await readdir(this.root).catch(() => [] as string[]);
    let removed = 0;
    for (const name of entries.filter((e) => e.startsWith('.tmp-'))) {
      const dir = path.join(this.root, name);
      const info = await stat(dir).catch(() => undefined);
      if (info && Date.now() - info.mtimeMs > olderThanMs) {
        await rm(dir, { recursive: true, force: true });
        removed++;
      }
    }
    return removed;
  }

  /** Unregisters first, so no job planned from now on finds a dataset whose files are going away. */
  async delete(id: string): Promise<boolean> {
    if (!ID.test(id)) return false;
    const removed = await this.index.unregister(id);
    await rm(this.dir(id), { recursive: true, force: true });
    return removed !== undefined;
  }
}
