import * as tf from '@tensorflow/tfjs';
import { replaceWasmKernel, restoreWasmKernel } from './wasm-kernel-swap.ts';
import type { WasmBackend } from './wasm-module.ts';

/**
 * `fit` slices every batch out of the whole training set with a gather along axis 0, and
 * the wasm backend's GatherV2 walks the output element by element, a fair share of a small
 * model's step (docs/performance.md). Along axis 0 (no batch dims) each index is a row, so this
 * copies whole rows within the wasm heap; other gathers take the stock kernel. Indices out of
 * range throw the stock kernel's error.
 */
export function fastWasmGather(): void {
  replaceWasmKernel('GatherV2', (original) => (args) => {
    const { x, indices } = args.inputs as { x: tf.TensorInfo; indices: tf.TensorInfo };
    const { axis, batchDims } = args.attrs as { axis: number; batchDims?: number };
    if (
      batchDims ||
      x.dtype === 'string' ||
      x.dtype === 'complex64' ||
      indices.dtype !== 'int32' ||
      x.shape.length === 0
    )
      return original(args);
    if (tf.util.parseAxisParam(axis, x.shape)[0] !== 0) return original(args);
    const backend = args.backend as WasmBackend;
    const rows = x.shape[0];
    const rowSize = tf.util.sizeFromShape(x.shape.slice(1));
    const out = backend.makeOutput([...indices.shape, ...x.shape.slice(1)], x.dtype);
    // Views only after the allocation: growing the heap detaches earlier ones.
    const idx = backend.typedArrayFromHeap(indices) as Int32Array;
    const from = backend.typedArrayFromHeap(x);
    const to = backend.typedArrayFromHeap(out);
    for (let i = 0; i < idx.length; i++) {
      const r = idx[i];
      if (!(r >= 0 && r < rows)) {
        backend.disposeData(out.dataId);
        throw new Error(`GatherV2: the index value ${r} is not in [0, ${rows - 1}]`);
      }
      to.set(from.subarray(r * rowSize, (r + 1) * rowSize), i * rowSize);
    }
    return out;
  });
}

/** Puts the stock kernel back (for comparisons). */
export const stockWasmGather = () => restoreWasmKernel('GatherV2');
