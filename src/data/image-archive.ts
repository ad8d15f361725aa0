import { close, fstat, open } from 'node:fs';
import { promisify } from 'node:util';
import type { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import * as tar from 'tar-stream';
import * as yauzl from 'yauzl';
import { invalidDataset } from './upload-errors.ts';
import { BlockReader } from './zip-block-reader.ts';

/** The caps an archive's contents are held to while they are read (see DATASET_MAX_* in config.ts). */
export interface ArchiveLimits {
  /** Bytes one entry may inflate to (DATASET_MAX_IMAGE_BYTES). */
  maxEntryBytes: number;
  /** Bytes all entries together may inflate to (DATASET_MAX_ARCHIVE_BYTES). */
  maxTotalBytes: number;
  /** Files (not folders) an archive may hold, ignored ones included (DATASET_MAX_ARCHIVE_FILES). */
  maxFiles: number;
}

/** One entry of an archive, read on demand; entries come one at a time, in archive order. */
export interface ArchiveEntry {
  /** Its path inside the archive, `/`-separated, checked: relative, without `..`. */
  name: string;
  directory: boolean;
  /** Its bytes, counted as they inflate (declared sizes can lie); at most `maxEntryBytes`. */
  read(): Promise<Buffer>;
}

/** An entry's path in error messages: the JSON pointer `/file/<name>` with `~` and `/` escaped. */
export const entryPath = (name: string) => `/file/${name.replaceAll('~', '~0').replaceAll('/', '~1')}`;

/** A 400 naming the entry twice: by its JSON pointer, and as written in the archive. */
export const badEntry = (name: string, message: string) =>
  invalidDataset(entryPath(name), `entry ${JSON.stringify(name)} ${message}`);

/** yauzl's own name checks, as the same 400 for zip and tar. */
function checkName(raw: string): string {
  const name = raw.replace(/^(\.\/)+/, '');
  if (name.includes('\\') || name.includes('\0'))
    throw badEntry(raw, 'holds a backslash or a NUL; archive paths use "/"');
  if (/^[a-zA-Z]:/.test(name) || name.startsWith('/'))
    throw badEntry(raw, 'is an absolute path; entries must be relative to the archive');
  if (name.split('/').includes('..')) throw badEntry(raw, 'holds ".."; entries must stay inside the archive');
  return name;
}

/** Counts what the archive inflates to, per entry and in all. */
class InflatedBytes {
  private total = 0;
  private files = 0;
  constructor(private readonly limits: ArchiveLimits) {}

  file(name: string) {
    if (++this.files > this.limits.maxFiles)
      throw badEntry(
        name,
        `is one file too many: an archive holds at most ${this.limits.maxFiles} files (DATASET_MAX_ARCHIVE_FILES)`,
      );
  }

  /** Collects one entry's bytes, failing at the first chunk over a cap. */
  async collect(name: string, source: AsyncIterable<Buffer>): Promise<Buffer> {
    const chunks: Buffer[] = [];
    let bytes = 0;
    for await (const chunk of source) {
      bytes += chunk.length;
      this.total += chunk.length;
      if (bytes > this.limits.maxEntryBytes)
        throw badEntry(name, `inflates to more than ${this.limits.maxEntryBytes} bytes (DATASET_MAX_IMAGE_BYTES)`);
      if (this.total > this.limits.maxTotalBytes)
        throw badEntry(
          name,
          `takes the archive past ${this.limits.maxTotalBytes} inflated bytes (DATASET_MAX_ARCHIVE_BYTES)`,
        );
      chunks.push(chunk);
    }
    return Buffer.concat(chunks);
  }
}

const YAUZL_NAME_ERROR = /^(absolute path|invalid relative path|invalid characters in fileName): (.*)$/s;

/** yauzl's failures: a name it refuses is the same 400 as ours; anything else, an unreadable zip. */
function zipError(err: unknown, current?: string): unknown {
  if ((err as { statusCode?: number }).statusCode) return err;
  const message = (err as Error).message ?? String(err);
  const named = YAUZL_NAME_ERROR.exec(message);
  if (named) return checkName(named[2]) && err;
  const what = `the zip archive cannot be read: ${message}`;
  return current ? badEntry(current, `(at it) ${what}`) : invalidDataset('/file', what);
}

/** The zip's next entry, or undefined at its end. */
function nextEntry(zip: yauzl.ZipFile): Promise<yauzl.Entry | undefined> {
  return new Promise((resolve, reject) => {
    const settle = () => {
      zip.off('entry', onEntry).off('end', onEnd).off('error', onError);
    };
    const onEntry = (entry: yauzl.Entry) => {
      settle();
      resolve(entry);
    };
    const onEnd = () => {
      settle();
      resolve(undefined);
    };
    const onError = (err: Error) => {
      settle();
      reject(err);
    };
    zip.on('entry', onEntry).on('end', onEnd).on('error', onError);
    zip.readEntry();
  });
}

/**
 * The entries of a zip file on disk (a zip's directory is at its end, so the upload was
 * written out first), read lazily one at a time: only the entry being read is in memory.
 */
export async function* zipEntries(file: string, limits: ArchiveLimits): AsyncGenerator<ArchiveEntry> {
  const fd = await promisify(open)(file, 'r');
  const { size } = await promisify(fstat)(fd);
  const zip = await new Promise<yauzl.ZipFile>((resolve, reject) =>
    yauzl.fromRandomAccessReader(
      new BlockReader(fd, size),
      size,
      { lazyEntries: true, decodeStrings: true, validateEntrySizes: true, autoClose: true },
      (err, opened) => (err ? reject(zipError(err)) : resolve(opened)),
    ),
  ).catch(async (err) => {
    await promisify(close)(fd);
    throw err;
  });
  // Errors outside a read (none expected) must not go unheard: that would end the process.
  zip.on('error', () => undefined);
  const counter = new InflatedBytes(limits);
  // Before any entry: a directory that lists millions of entries is refused unread.
  if (zip.entryCount > limits.maxFiles * 2 + 1) {
    zip.close();
    throw invalidDataset(
      '/file',
      `the zip archive lists ${zip.entryCount} entries; at most ${limits.maxFiles} files (DATASET_MAX_ARCHIVE_FILES)`,
    );
  }
  let current: string | undefined;
  try {
    for (;;) {
      const entry = await nextEntry(zip).catch((err) => {
        throw zipError(err, current);
      });
      if (!entry) return;
      current = entry.fileName;
      const name = checkName(entry.fileName);
      const directory = name.endsWith('/');
      if (!directory) counter.file(name);
      yield {
        name,
        directory,
        read: async () => {
          if (entry.uncompressedSize > limits.maxEntryBytes)
            throw badEntry(
              name,
              `declares ${entry.uncompressedSize} bytes; an entry may inflate to at most ${limits.maxEntryBytes} (DATASET_MAX_IMAGE_BYTES)`,
            );
          const stream = await new Promise<Readable>((resolve, reject) =>
            zip.openReadStream(entry, (err, opened) => (err ? reject(zipError(err, name)) : resolve(opened))),
          );
          try {
            return await counter.collect(name, stream);
          } catch (err) {
            stream.destroy();
            throw zipError(err, name);
          }
        },
      };
    }
  } finally {
    zip.close();
  }
}

/**
 * The entries of a tar or tar.gz upload, read as it streams in (a tar has no directory to
 * wait for). An entry not read is skipped; links and devices are refused.
 */
export async function* tarEntries(
  source: Readable,
  gzip: boolean,
  limits: ArchiveLimits,
): AsyncGenerator<ArchiveEntry> {
  const extract = tar.extract();
  const counter = new InflatedBytes(limits);
  const corrupt = (err: Error) =>
    invalidDataset('/file', `the ${gzip ? 'tar.gz' : 'tar'} archive cannot be read: ${err.message}`);
  if (gzip) {
    const gunzip = createGunzip();
    source.on('error', (err) => gunzip.destroy(err));
    gunzip.on('error', (err) =>
      extract.destroy((err as { statusCode?: number }).statusCode ? err : corrupt(err as Error)),
    );
    source.pipe(gunzip).pipe(extract);
  } else {
    source.on('error', (err) => extract.destroy(err));
    source.pipe(extract);
  }
  try {
    for await (const entry of extract) {
      const { type } = entry.header;
      const name = checkName(entry.header.name);
      let read = false;
      if (type === 'file' || type === 'contiguous-file') {
        counter.file(name);
        yield {
          name,
          directory: false,
          read: () => {
            read = true;
            return counter.collect(name, entry as AsyncIterable<Buffer>);
          },
        };
      } else if (type === 'directory') {
        yield { name: name.endsWith('/') ? name : `${name}/`, directory: true, read: async () => Buffer.alloc(0) };
      } else {
        throw badEntry(name, `is a ${type}; an image archive holds only folders and files`);
      }
      if (!read) entry.resume();
    }
  } catch (err) {
    if ((err as { statusCode?: number }).statusCode) throw err;
    throw corrupt(err as Error);
  } finally {
    extract.destroy();
    source.destroy();
  }
}
