import { createWriteStream } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { hiddenCharacter, HIDDEN_CHARACTERS_RULE, quoteText } from '../schemas/common.ts';
import { ColumnFile } from './column-file.ts';
import type { ColumnInfo } from './dataset-meta.ts';
import { badEntry, tarEntries, zipEntries, type ArchiveEntry, type ArchiveLimits } from './image-archive.ts';
import { decodeImage, ImageDecodeError } from './image-decode.ts';
import { imageShape, type ImageSpec } from './image-spec.ts';
import type { IngestLimits } from './ingest-limits.ts';
import { Turns } from './pacing.ts';
import { invalidDataset } from './upload-errors.ts';

/** The file extensions read as images (Keras's list, without .bmp). */
const IMAGE_FILE = /\.(png|jpe?g|webp|gif)$/i;

/**
 * Images decoded at once. sharp decodes in libuv's thread pool, off the event loop; this
 * bounds the decoded pixels and encoded bytes waiting in memory, and leaves the pool's other
 * threads to the file system.
 */
const DECODES_IN_FLIGHT = 8;

/** The feature and label columns of an image-folder dataset. */
export const IMAGE_COLUMN = 'image';
export const LABEL_COLUMN = 'label';

/**
 * What archivers add beside the data, skipped like Keras's file-extension filter skips it:
 * macOS's `__MACOSX/` resource forks, and dot-files and dot-folders (`.DS_Store`, `._x.png`, `.git/`).
 */
const isArchiverMetadata = (name: string) =>
  name.split('/').some((part, i) => part.startsWith('.') || (i === 0 && part === '__MACOSX'));

/** The first bytes of a stream, left in it for whoever reads it next. */
async function peek(source: Readable): Promise<Buffer> {
  for (;;) {
    const chunk: Buffer | null = source.read();
    if (chunk) {
      source.unshift(chunk);
      return chunk;
    }
    if (source.readableEnded || source.destroyed) return Buffer.alloc(0);
    await new Promise<void>((resolve, reject) => {
      const done = () => {
        source.off('readable', done).off('end', done).off('error', fail);
        resolve();
      };
      const fail = (err: Error) => {
        source.off('readable', done).off('end', done).off('error', fail);
        reject(err);
      };
      source.on('readable', done).on('end', done).on('error', fail);
    });
  }
}

/**
 * Reads a zip, tar or tar.gz of class folders of images (Keras's `image_dataset_from_directory`
 * layout: `cats/1.png`, `dogs/a/2.jpg`) into two columns in `dir`: `image`, uint8 pixels of
 * `spec`'s shape, and `label`, the class folder as a text class, classes in alphabetical
 * order (their index is the label, as in Keras). Rows keep the archive's order. Every refusal
 * is a 400 naming the entry; the caller discards `dir`.
 */
export async function readImageFolders(
  source: Readable,
  dir: string,
  spec: ImageSpec,
  limits: IngestLimits,
): Promise<{ rows: number; columns: ColumnInfo[] }> {
  const shape = imageShape(spec);
  const values = shape[0] * shape[1] * shape[2];
  if (values > limits.maxSampleValues)
    throw invalidDataset(
      '/imageSize',
      `[${spec.size}] in ${spec.colorMode} is ${values} values a sample; at most ${limits.maxSampleValues} (DATASET_MAX_SAMPLE_VALUES)`,
    );
  const archive: ArchiveLimits = {
    maxEntryBytes: limits.maxImageBytes,
    maxTotalBytes: limits.maxArchiveBytes,
    maxFiles: limits.maxArchiveFiles,
  };
  const head = await peek(source);
  if (head[0] === 0x50 && head[1] === 0x4b) {
    // A zip's directory is at its end: the upload is written to the staging folder first
    // (bounded by DATASET_UPLOAD_LIMIT_BYTES upstream), and removed before anything is stored.
    const file = path.join(dir, 'upload.zip.part');
    try {
      await pipeline(source, createWriteStream(file));
      return await readEntries(zipEntries(file, archive), dir, spec, limits);
    } finally {
      await rm(file, { force: true });
    }
  }
  return readEntries(tarEntries(source, head[0] === 0x1f && head[1] === 0x8b, archive), dir, spec, limits);
}

async function readEntries(
  entries: AsyncIterable<ArchiveEntry>,
  dir: string,
  spec: ImageSpec,
  limits: IngestLimits,
): Promise<{ rows: number; columns: ColumnInfo[] }> {
  const images = new ColumnFile(IMAGE_COLUMN, 'numeric', imageShape(spec), 'uint8', 'image.bin', dir);
  /** Class folders by first appearance; sorted into label order at the end. */
  const classIds = new Map<string, number>();
  const labels: number[] = [];
  const decoding: { pixels: Promise<Uint8Array>; classId: number }[] = [];
  const turns = new Turns();
  const writeOldest = async () => {
    const { pixels, classId } = decoding.shift()!;
    for (const value of await pixels) images.push(value);
    labels.push(classId);
    await images.flushIfFull();
  };
  try {
    for await (const entry of entries) {
      if (entry.directory || isArchiverMetadata(entry.name)) continue;
      const bad = (message: string) => badEntry(entry.name, message);
      const parts = entry.name.split('/');
      if (parts.length < 2) throw bad('is at the top level; images go in class folders (class/image.png)');
      if (!IMAGE_FILE.test(entry.name))
        throw bad(
          'is not an image file (.png, .jpg, .jpeg, .webp, .gif); an image archive holds only class folders of images',
        );
      const classId = classOf(parts[0], classIds, bad, limits);
      const bytes = await entry.read();
      const pixels = decodeImage(bytes, spec, limits.maxImagePixels).catch((err) => {
        throw err instanceof ImageDecodeError ? bad(err.message) : err;
      });
      // Awaited in order by writeOldest; a failure must not count as unhandled meanwhile.
      pixels.catch(() => undefined);
      decoding.push({ pixels, classId });
      if (decoding.length >= DECODES_IN_FLIGHT) await writeOldest();
      if (turns.due) await turns.turn();
    }
    while (decoding.length > 0) await writeOldest();
  } finally {
    // On a refusal, decodes already started finish in the pool; their results are dropped.
    decoding.length = 0;
  }
  if (labels.length === 0)
    throw invalidDataset('/file', 'the archive holds no class folders of images (class/image.png)');
  return { rows: labels.length, columns: [await images.close(), await writeLabels(dir, classIds, labels)] };
}

/** The class of a top-level folder, checked once when it first appears. */
function classOf(
  name: string,
  classIds: Map<string, number>,
  bad: (message: string) => Error,
  limits: IngestLimits,
): number {
  const known = classIds.get(name);
  if (known !== undefined) return known;
  if (name.length > limits.maxCellChars)
    throw bad(
      `its class folder name is ${name.length} characters; at most ${limits.maxCellChars} (DATASET_MAX_CELL_CHARS)`,
    );
  const hidden = hiddenCharacter(name);
  if (hidden)
    throw bad(`its class folder ${quoteText(name)} holds ${hidden}; class names must have ${HIDDEN_CHARACTERS_RULE}`);
  if (classIds.size >= limits.maxClasses)
    throw bad(`the archive has more than ${limits.maxClasses} class folders (DATASET_MAX_CLASSES)`);
  classIds.set(name, classIds.size);
  return classIds.size - 1;
}

/** The label column: class codes in alphabetical order of the folder names, as Keras numbers them. */
async function writeLabels(dir: string, classIds: Map<string, number>, labels: number[]): Promise<ColumnInfo> {
  const names = [...classIds.keys()].sort();
  const codeOf = new Int32Array(classIds.size);
  names.forEach((name, code) => {
    codeOf[classIds.get(name)!] = code;
  });
  const codes = Float32Array.from(labels, (id) => codeOf[id]);
  const counts = new Array<number>(names.length).fill(0);
  for (const code of codes) counts[code]++;
  await writeFile(path.join(dir, 'label.bin'), new Uint8Array(codes.buffer));
  return {
    name: LABEL_COLUMN,
    type: 'string',
    shape: [],
    dtype: 'float32',
    file: 'label.bin',
    classes: names.map((name, code) => ({ name, count: counts[code] })),
  };
}
