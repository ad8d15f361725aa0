import { open, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { DTYPE_BYTES, type ColumnInfo } from './dataset-meta.ts';
import { datasetGone, gatherRows } from './gather-rows.ts';
import { shuffledIndices } from './split.ts';
import { sizeOf, type NumericArray, type RowSet } from './types.ts';

export interface Block {
  x: NumericArray;
  y: NumericArray;
  count: number;
}

/** Reads `count` items of `column` starting at item `first` (one positioned read). */
async function readItems(
  handle: FileHandle,
  column: ColumnInfo,
  first: number,
  count: number,
): Promise<Float32Array | Uint8Array> {
  const itemBytes = sizeOf(column.shape) * DTYPE_BYTES[column.dtype];
  const buffer = Buffer.allocUnsafe(count * itemBytes);
  const { bytesRead } = await handle.read(buffer, 0, buffer.length, first * itemBytes);
  if (bytesRead !== buffer.length) throw new Error(`dataset column ${column.name} is shorter than its metadata says`);
  const bytes = buffer.buffer.slice(buffer.byteOffset, buffer.byteOffset + buffer.byteLength);
  return column.dtype === 'uint8' ? new Uint8Array(bytes) : new Float32Array(bytes);
}

/**
 * The rows `rows` (ascending) of a row set in blocks of `blockSize`, each block read from the
 * column files with one read per column: memory is bounded by the block, not the dataset.
 * `order` permutes the blocks (a shuffle that keeps reads sequential within a block).
 */
export async function* readBlocks(
  set: RowSet,
  rows: Int32Array,
  blockSize: number,
  order?: Int32Array,
): AsyncGenerator<Block> {
  const columns = [...set.features, set.label];
  const handles = await Promise.all(columns.map((c) => open(path.join(set.dir, c.file), 'r'))).catch(datasetGone);
  try {
    const blocks = Math.ceil(rows.length / blockSize);
    for (let b = 0; b < blocks; b++) {
      const index = order ? order[b] : b;
      const block = rows.subarray(index * blockSize, Math.min(rows.length, (index + 1) * blockSize));
      const first = block[0];
      const span = block[block.length - 1] - first + 1;
      const relative = Int32Array.from(block, (r) => r - first);
      const data = await Promise.all(columns.map((c, i) => readItems(handles[i], c, first, span)));
      const x = gatherRows(
        set.features.map((c, i) => ({ data: data[i], size: sizeOf(c.shape), ...set.encodings?.[i] })),
        relative,
      );
      let y = gatherRows([{ data: data[columns.length - 1], size: sizeOf(set.label.shape) }], relative);
      if (set.codeMap) y = Float32Array.from(y, (code) => set.codeMap![code]);
      yield { x, y, count: block.length };
    }
  } finally {
    await Promise.all(handles.map((h) => h.close()));
  }
}

/** Blocks mixed together when shuffling: a batch draws its rows from this many places in the file. */
const MIX_BLOCKS = 16;

/**
 * A tf.data dataset of ready batches `{xs, ys}` streamed from disk. With `shuffle`, each
 * epoch (each new iterator) reads the blocks in a new seeded order and deals the rows of
 * every MIX_BLOCKS blocks into batches at random, so even a file sorted by class gives mixed
 * batches; memory stays bounded by MIX_BLOCKS batches.
 */
export function diskDataset(
  set: RowSet,
  rows: Int32Array,
  batchSize: number,
  toTensors: (block: Block) => { xs: tf.Tensor; ys: tf.Tensor },
  shuffle?: { seed: string | number },
): tf.data.Dataset<tf.TensorContainer> {
  let epoch = 0;
  return tf.data.generator(async function* () {
    for await (const block of shuffledBlocks(set, rows, batchSize, shuffle ? `${shuffle.seed}:${epoch++}` : undefined))
      yield toTensors(block);
  } as unknown as () => Iterator<tf.TensorContainer>);
}

/** The batches of one pass over `rows`: in file order, or shuffled as `diskDataset` describes. */
export async function* shuffledBlocks(
  set: RowSet,
  rows: Int32Array,
  batchSize: number,
  seed?: string,
): AsyncGenerator<Block> {
  if (seed === undefined) {
    yield* readBlocks(set, rows, batchSize);
    return;
  }
  const order = shuffledIndices(Math.ceil(rows.length / batchSize), seed);
  let pool: Block[] = [];
  let group = 0;
  for await (const block of readBlocks(set, rows, batchSize, order)) {
    pool.push(block);
    if (pool.length === MIX_BLOCKS) {
      yield* deal(pool, batchSize, `${seed}:${group++}`);
      pool = [];
    }
  }
  if (pool.length > 0) yield* deal(pool, batchSize, `${seed}:${group}`);
}

function concat<T extends NumericArray>(parts: T[]): T {
  const out = new (parts[0].constructor as new (n: number) => T)(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part as never, offset);
    offset += part.length;
  }
  return out;
}

function* deal(pool: Block[], batchSize: number, seed: string): Generator<Block> {
  const count = pool.reduce((n, b) => n + b.count, 0);
  const x = concat(pool.map((b) => b.x));
  const y = concat(pool.map((b) => b.y));
  const order = shuffledIndices(count, seed);
  for (let start = 0; start < count; start += batchSize) {
    const picked = order.subarray(start, Math.min(count, start + batchSize));
    yield {
      x: gatherRows([{ data: x as Float32Array | Uint8Array, size: x.length / count }], picked),
      y: gatherRows([{ data: y as Float32Array | Uint8Array, size: y.length / count }], picked),
      count: picked.length,
    };
  }
}
