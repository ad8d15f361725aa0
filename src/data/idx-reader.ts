import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { AppError } from '../errors.ts';
import { ColumnFile } from './column-file.ts';
import type { ColumnInfo } from './dataset-meta.ts';
import { sliced, SLICE_BYTES, Turns } from './pacing.ts';
import { invalidDataset } from './upload-errors.ts';

const TYPES: Record<number, { bytes: number; read: (view: DataView, offset: number) => number }> = {
  8: { bytes: 1, read: (v, o) => v.getUint8(o) },
  9: { bytes: 1, read: (v, o) => v.getInt8(o) },
  11: { bytes: 2, read: (v, o) => v.getInt16(o) },
  12: { bytes: 4, read: (v, o) => v.getInt32(o) },
  13: { bytes: 4, read: (v, o) => v.getFloat32(o) },
  14: { bytes: 8, read: (v, o) => v.getFloat64(o) },
};

/** The bytes of an upload, gunzipped on the fly when they start with the gzip magic number. */
async function* plainBytes(source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  const iterator = source[Symbol.asyncIterator]();
  const first = await iterator.next();
  if (first.done) return;
  const all = (async function* () {
    yield first.value;
    for (let r = await iterator.next(); !r.done; r = await iterator.next()) yield r.value;
  })();
  if (first.value[0] === 0x1f && first.value[1] === 0x8b) {
    try {
      yield* Readable.from(all).pipe(createGunzip({ chunkSize: SLICE_BYTES })) as AsyncIterable<Buffer>;
    } catch (err) {
      if ((err as { status?: number }).status) throw err;
      throw invalidDataset('/', `gzip data is corrupt: ${(err as Error).message}`);
    }
  } else {
    yield* all;
  }
}

/**
 * Streams one IDX file (MNIST's format, plain or gzip) into a column, in slices a turn of
 * the event loop apart (gunzip's output too): uint8 stays uint8,
 * other element types become float32. The header's counts must match the data exactly; every
 * dimension must be at least 1 (no empty dataset, no empty images), and one item may hold at
 * most `maxItemValues` numbers (DATASET_MAX_SAMPLE_VALUES).
 */
export async function readIdx(
  source: Readable,
  dir: string,
  name: string,
  maxBytes = Infinity,
  maxItemValues = Infinity,
): Promise<ColumnInfo & { rows: number }> {
  let header: Buffer = Buffer.alloc(0);
  let dims: number[] | undefined;
  let type: (typeof TYPES)[number] | undefined;
  let column: ColumnFile | undefined;
  let pending: Buffer = Buffer.alloc(0);
  let values = 0;
  let expected = 0;
  let seen = 0;
  const at = `/${name}`;
  const slices = sliced();
  source.on('error', (err) => slices.destroy(err));
  const turns = new Turns();
  for await (const chunk of plainBytes(source.pipe(slices) as AsyncIterable<Buffer>)) {
    // The limit also holds after gunzip: a small gzip cannot unpack into a huge dataset.
    seen += chunk.length;
    if (seen > maxBytes)
      throw new AppError(
        413,
        'upload_too_large',
        `${name} unpacks to more than ${maxBytes} bytes; the limit is set by DATASET_UPLOAD_LIMIT_BYTES`,
      );
    let data = chunk;
    if (!dims) {
      header = Buffer.concat([header, data]);
      if (header.length < 4) continue;
      if (header[0] !== 0 || header[1] !== 0) throw invalidDataset(at, 'not an IDX file (bad magic number)');
      type = TYPES[header[2]];
      if (!type) throw invalidDataset(at, `unknown IDX element type 0x${header[2].toString(16)}`);
      const ndims = header[3];
      if (ndims < 1) throw invalidDataset(at, 'the IDX header declares no dimensions');
      if (header.length < 4 + 4 * ndims) continue;
      dims = Array.from({ length: ndims }, (_, i) => header.readUInt32BE(4 + 4 * i));
      const empty = dims.indexOf(0);
      if (empty === 0) throw invalidDataset(at, 'the IDX header declares 0 items; a dataset needs at least one row');
      if (empty > 0)
        throw invalidDataset(
          at,
          `the IDX header declares a dimension of size 0 (shape [${dims}]); every item needs at least one value`,
        );
      expected = dims.reduce((a, b) => a * b, 1);
      const shape = dims.slice(1);
      const itemValues = shape.reduce((a, b) => a * b, 1);
      if (itemValues > maxItemValues) {
        throw invalidDataset(
          at,
          `each item holds ${itemValues} values (shape [${shape}]); a sample may hold at most ${maxItemValues} (DATASET_MAX_SAMPLE_VALUES)`,
        );
      }
      column = new ColumnFile(name, 'numeric', shape, header[2] === 0x08 ? 'uint8' : 'float32', `${name}.bin`, dir);
      data = header.subarray(4 + 4 * ndims);
    }
    if (pending.length > 0) data = Buffer.concat([pending, data]);
    const whole = Math.floor(data.length / type!.bytes);
    if (values + whole > expected) {
      throw invalidDataset(at, `has more data than its header promises (${expected} values for shape [${dims}])`);
    }
    const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    for (let i = 0; i < whole; i++) column!.push(type!.read(view, i * type!.bytes));
    values += whole;
    pending = data.subarray(whole * type!.bytes);
    await column!.flushIfFull();
    if (turns.due) await turns.turn();
  }
  if (!dims || !column) throw invalidDataset(at, 'truncated IDX header');
  if (values !== expected || pending.length > 0) {
    throw invalidDataset(
      at,
      `is truncated: its header promises ${expected} values for shape [${dims}] but the file holds ${values}`,
    );
  }
  return { ...(await column.close()), rows: dims[0] };
}
