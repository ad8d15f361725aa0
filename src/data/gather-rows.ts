import { AppError } from '../errors.ts';
import type { Encoding, NumericArray } from './types.ts';

/** One stored column's values as read from its file. */
export type ColumnData = Float32Array | Uint8Array;

/** A dataset deleted under a job (the 409 guards queued and running jobs, not every race) fails it plainly. */
export function datasetGone(err: unknown): never {
  if ((err as NodeJS.ErrnoException).code === 'ENOENT')
    throw new AppError(422, 'dataset_gone', 'the dataset was deleted while the job was using it');
  throw err;
}

/**
 * Rows `rows` of the columns, interleaved per row: [row0 col0.., row0 col1.., row1 ...]. A
 * column with `oneHot` holds class codes and takes that many slots, a 1 at its class.
 */
export function gatherRows(
  columns: ({ data: ColumnData; size: number } & Encoding)[],
  rows: ArrayLike<number>,
): NumericArray {
  const per = columns.reduce((n, c) => n + (c.oneHot ?? c.size), 0);
  const out =
    columns.length === 1 && columns[0].data instanceof Uint8Array && !columns[0].oneHot
      ? new Uint8Array(rows.length * per)
      : new Float32Array(rows.length * per);
  for (let i = 0; i < rows.length; i++) {
    let offset = i * per;
    for (const { data, size, oneHot, codeMap } of columns) {
      const start = rows[i] * size;
      if (oneHot) {
        const code = data[start];
        out[offset + (codeMap ? codeMap[code] : code)] = 1;
        offset += oneHot;
        continue;
      }
      if (size === 1) out[offset] = data[start];
      else out.set(data.subarray(start, start + size), offset);
      offset += size;
    }
  }
  return out;
}
