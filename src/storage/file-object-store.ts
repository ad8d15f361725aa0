import { randomUUID } from 'node:crypto';
import { access, constants, mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { sweepStaging } from './staging.ts';
import { checkKey, folder, StoreUnavailableError, type ObjectStore, type StoredObject } from './object-store.ts';

/** Staging beside the objects, so that publishing is a rename on one filesystem. */
const STAGING = '.staging';

/**
 * `file:` storage: objects are files under one folder, written to a staging file and renamed
 * into place (atomic on POSIX). Reading needs no copy: a local copy is the folder itself.
 */
export class FileObjectStore implements ObjectStore {
  readonly location: string;
  readonly stagingRoot: string;

  constructor(readonly root: string) {
    this.location = `file:${root}`;
    this.stagingRoot = path.join(root, STAGING);
  }

  private file(key: string) {
    return path.join(this.root, checkKey(key));
  }

  async put(key: string, body: Uint8Array | string) {
    const target = this.file(key);
    const temp = path.join(this.stagingRoot, `put-${randomUUID()}`);
    await mkdir(this.stagingRoot, { recursive: true });
    try {
      await writeFile(temp, body);
      await mkdir(path.dirname(target), { recursive: true });
      await rename(temp, target);
    } catch (err) {
      await rm(temp, { force: true });
      throw err;
    }
  }

  async get(key: string): Promise<Buffer | undefined> {
    return readFile(this.file(key)).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT' || err.code === 'ENOTDIR') return undefined;
      throw err;
    });
  }

  async list(prefix: string): Promise<StoredObject[]> {
    // A prefix is a folder, or a folder and the start of names in it.
    const base = prefix.endsWith('/')
      ? prefix
      : path.posix.dirname(prefix) === '.'
        ? ''
        : `${path.posix.dirname(prefix)}/`;
    const found: StoredObject[] = [];
    const walk = async (rel: string) => {
      const entries = await readdir(path.join(this.root, rel), { withFileTypes: true }).catch(() => []);
      for (const entry of entries) {
        const key = `${rel}${entry.name}`;
        if (rel === '' && entry.name === STAGING) continue;
        if (entry.isDirectory()) {
          if (`${key}/`.startsWith(prefix) || prefix.startsWith(`${key}/`)) await walk(`${key}/`);
        } else if (entry.isFile() && key.startsWith(prefix)) {
          const info = await stat(path.join(this.root, key)).catch(() => undefined);
          if (info) found.push({ key, size: info.size, modified: info.mtime });
        }
      }
    };
    await walk(base === '' ? '' : checkKey(base));
    return found.sort((a, b) => (a.key < b.key ? -1 : 1));
  }

  async delete(keys: string[]) {
    for (const key of keys) await rm(this.file(key), { force: true });
  }

  async deletePrefix(prefix: string) {
    await rm(this.file(folder(prefix)), { recursive: true, force: true });
  }

  async publishDirectory(localDir: string, prefix: string) {
    const target = this.file(prefix.replace(/\/$/, ''));
    await mkdir(path.dirname(target), { recursive: true });
    // Replaces a previous copy (a retried job saves its model under the same id) by two renames.
    const replaced = `${this.stagingRoot}/replaced-${randomUUID()}`;
    await mkdir(this.stagingRoot, { recursive: true });
    await rename(target, replaced).catch(() => undefined);
    await rename(localDir, target);
    await rm(replaced, { recursive: true, force: true });
  }

  async openDirectory(prefix: string) {
    return { dir: this.file(prefix.replace(/\/$/, '')), release: () => undefined };
  }

  async forget() {}

  sweepLeftovers(olderThanMs?: number) {
    return sweepStaging(this.stagingRoot, olderThanMs);
  }

  async check() {
    try {
      await mkdir(this.root, { recursive: true });
      await access(this.root, constants.W_OK);
    } catch (err) {
      throw new StoreUnavailableError(this.location, err);
    }
  }
}
