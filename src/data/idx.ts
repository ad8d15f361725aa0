import { gunzipSync } from 'node:zlib';
import { AppError } from '../errors.ts';

export type IdxArray = Uint8Array | Int8Array | Int16Array | Int32Array | Float32Array | Float64Array;

export interface IdxTensor {
  /** Dimensions as written in the header: [count, ...per-item shape]. */
  dims: number[];
  data: IdxArray;
}

const TYPES: Record<
  number,
  { bytes: number; read: (view: DataView, offset: number) => number; make: (n: number) => IdxArray }
> = {
  8: { bytes: 1, read: (v, o) => v.getUint8(o), make: (n) => new Uint8Array(n) },
  9: { bytes: 1, read: (v, o) => v.getInt8(o), make: (n) => new Int8Array(n) },
  11: { bytes: 2, read: (v, o) => v.getInt16(o), make: (n) => new Int16Array(n) },
  12: { bytes: 4, read: (v, o) => v.getInt32(o), make: (n) => new Int32Array(n) },
  13: { bytes: 4, read: (v, o) => v.getFloat32(o), make: (n) => new Float32Array(n) },
  14: { bytes: 8, read: (v, o) => v.getFloat64(o), make: (n) => new Float64Array(n) },
};

const invalid = (name: string, why: string) =>
  new AppError(400, 'invalid_idx', `${name}: ${why}`, [{ path: name, message: why }]);

/**
 * Parses an IDX file (the format MNIST is published in), plain or gzipped. `limit` keeps
 * only the first items, so a small test run does not convert 60,000 images.
 */
export function parseIdx(buffer: Buffer, name = 'idx', limit?: number): IdxTensor {
  const bytes = buffer[0] === 0x1f && buffer[1] === 0x8b ? gunzipSync(buffer) : buffer;
  if (bytes.length < 4 || bytes[0] !== 0 || bytes[1] !== 0) throw invalid(name, 'not an IDX file (bad magic number)');
  const type = TYPES[bytes[2]];
  if (!type) throw invalid(name, `unknown IDX element type 0x${bytes[2].toString(16)}`);
  const ndims = bytes[3];
  if (ndims < 1 || bytes.length < 4 + 4 * ndims) throw invalid(name, 'truncated IDX header');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dims = Array.from({ length: ndims }, (_, i) => view.getUint32(4 + 4 * i));
  const itemSize = dims.slice(1).reduce((a, b) => a * b, 1);
  const expected = dims.reduce((a, b) => a * b, 1) * type.bytes;
  const start = 4 + 4 * ndims;
  if (bytes.length - start !== expected) {
    throw invalid(
      name,
      `header promises ${expected} data bytes for shape [${dims}] but the file has ${bytes.length - start}`,
    );
  }
  const count = limit === undefined ? dims[0] : Math.min(limit, dims[0]);
  const length = count * itemSize;
  let data: IdxArray;
  if (type.bytes === 1 && bytes[2] === 0x08) {
    data = new Uint8Array(bytes.buffer.slice(bytes.byteOffset + start, bytes.byteOffset + start + length));
  } else {
    data = type.make(length);
    for (let i = 0; i < length; i++) data[i] = type.read(view, start + i * type.bytes);
  }
  return { dims: [count, ...dims.slice(1)], data };
}
