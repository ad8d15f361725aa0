import { readdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';

/** A write takes moments: staging left this long belongs to a writer that died. */
export const LEFTOVER_AGE_MS = 60 * 60_000;

/**
 * What writers that died left in a staging folder: a killed `put`'s temp file, a model save's
 * folder, a replaced copy. Dataset drafts (`.tmp-…`) are not among them: their leases decide
 * (DatasetStore.sweepDrafts). Entries untouched for `olderThanMs` go; a live write takes
 * moments. Returns how many went.
 */
export async function sweepStaging(root: string, olderThanMs = LEFTOVER_AGE_MS): Promise<number> {
  let swept = 0;
  for (const name of await readdir(root).catch(() => [] as string[])) {
    if (name.startsWith('.tmp-')) continue;
    const info = await stat(path.join(root, name)).catch(() => undefined);
    if (!info || Date.now() - info.mtimeMs <= olderThanMs) continue;
    await rm(path.join(root, name), { recursive: true, force: true });
    swept++;
  }
  return swept;
}
