import { randomUUID } from 'node:crypto';
import { mkdir, readdir, rename, rm, stat, utimes } from 'node:fs/promises';
import path from 'node:path';
import type { LocalCopy } from './object-store.ts';

/** While an entry is in use its holder touches it this often... */
const TOUCH_MS = 30_000;
/** ...so an entry touched more recently than this is in use by some process, and never evicted. */
const IN_USE_MS = 4 * TOUCH_MS;

/**
 * A bounded, least-recently-used cache of a remote store's folders on this machine's disk.
 *
 * Several processes share one cache folder (a worker's training children, an API beside them),
 * so its state lives in the filesystem rather than in memory (an in-memory LRU such as
 * lru-cache cannot see the other processes' entries): an entry appears whole (filled in a
 * temporary folder, then renamed), its folder's mtime is its last use, and whoever holds it
 * touches that mtime while it is in use, so no process evicts a dataset a job still trains on.
 */
export class DiskCache {
  private readonly filling = new Map<string, Promise<string>>();
  private readonly pins = new Map<string, number>();

  constructor(
    readonly root: string,
    readonly maxBytes: number,
  ) {}

  /** Cached entries live at `root/<name>`, with `/` in a store prefix spelled `~`. */
  private entry(name: string) {
    return path.join(this.root, name.replace(/\/+$/, '').replaceAll('/', '~'));
  }

  /**
   * The entry `name`, filled by `fill(dir)` on a miss; kept from eviction until released.
   * `hit` says whether it was on disk already.
   */
  async open(name: string, fill: (dir: string) => Promise<void>): Promise<LocalCopy & { hit: boolean }> {
    const dir = this.entry(name);
    let hit = true;
    const now = new Date();
    const present = await utimes(dir, now, now).then(
      () => true,
      () => false,
    );
    if (!present) {
      hit = false;
      let pending = this.filling.get(dir);
      if (!pending) {
        pending = this.fill(dir, fill).finally(() => this.filling.delete(dir));
        this.filling.set(dir, pending);
      }
      await pending;
    }
    this.pins.set(dir, (this.pins.get(dir) ?? 0) + 1);
    const touch = setInterval(() => {
      const t = new Date();
      void utimes(dir, t, t).catch(() => undefined);
    }, TOUCH_MS).unref();
    let released = false;
    if (!hit) void this.evict().catch(() => undefined);
    return {
      dir,
      hit,
      release: () => {
        if (released) return;
        released = true;
        clearInterval(touch);
        const left = (this.pins.get(dir) ?? 1) - 1;
        if (left > 0) this.pins.set(dir, left);
        else this.pins.delete(dir);
        void this.evict().catch(() => undefined);
      },
    };
  }

  private async fill(dir: string, fill: (dir: string) => Promise<void>) {
    const temp = path.join(this.root, `.fill-${randomUUID()}`);
    await mkdir(temp, { recursive: true });
    try {
      await fill(temp);
      // Another process may have filled it meanwhile: theirs is as good as ours.
      await rename(temp, dir).catch(async (err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOTEMPTY' && err.code !== 'EEXIST') throw err;
        await rm(temp, { recursive: true, force: true });
      });
    } catch (err) {
      await rm(temp, { recursive: true, force: true });
      throw err;
    }
    return dir;
  }

  /** Removes an entry nobody here uses (its objects were deleted). */
  async forget(name: string) {
    const dir = this.entry(name);
    if (!this.pins.has(dir)) await this.remove(dir);
  }

  /** Bytes the cache holds now, and its entries, least recently used first. */
  async usage(): Promise<{ bytes: number; entries: { dir: string; bytes: number; used: number }[] }> {
    const names = await readdir(this.root).catch(() => [] as string[]);
    const entries: { dir: string; bytes: number; used: number }[] = [];
    for (const name of names) {
      if (name.startsWith('.')) continue;
      const dir = path.join(this.root, name);
      const info = await stat(dir).catch(() => undefined);
      if (!info?.isDirectory()) continue;
      let bytes = 0;
      for (const file of await readdir(dir).catch(() => [] as string[]))
        bytes += (await stat(path.join(dir, file)).catch(() => undefined))?.size ?? 0;
      entries.push({ dir, bytes, used: info.mtimeMs });
    }
    entries.sort((a, b) => a.used - b.used);
    return { bytes: entries.reduce((sum, e) => sum + e.bytes, 0), entries };
  }

  /** Least recently used first, until the cache fits; entries in use (here or, by their mtime, elsewhere) stay. */
  async evict() {
    const { bytes, entries } = await this.usage();
    let total = bytes;
    for (const e of entries) {
      if (total <= this.maxBytes) break;
      if (this.pins.has(e.dir) || Date.now() - e.used < IN_USE_MS) continue;
      // Its last use is read again just before it goes: a process may have opened it since the scan.
      const info = await stat(e.dir).catch(() => undefined);
      if (!info || Date.now() - info.mtimeMs < IN_USE_MS) continue;
      await this.remove(e.dir);
      total -= e.bytes;
    }
  }

  /** Renamed away first, so no process opens a half-removed entry. */
  private async remove(dir: string) {
    const doomed = path.join(this.root, `.evict-${randomUUID()}`);
    if (
      await rename(dir, doomed).then(
        () => true,
        () => false,
      )
    )
      await rm(doomed, { recursive: true, force: true });
  }

  /** Leftovers of fills and evictions by processes that died; returns how many went. */
  async sweep(olderThanMs = 60 * 60_000): Promise<number> {
    let swept = 0;
    for (const name of await readdir(this.root).catch(() => [] as string[])) {
      if (!name.startsWith('.fill-') && !name.startsWith('.evict-')) continue;
      const info = await stat(path.join(this.root, name)).catch(() => undefined);
      if (!info || Date.now() - info.mtimeMs <= olderThanMs) continue;
      await rm(path.join(this.root, name), { recursive: true, force: true });
      swept++;
    }
    return swept;
  }
}
