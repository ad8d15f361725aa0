import type * as tf from '@tensorflow/tfjs';
import { replaceWasmKernel, restoreWasmKernel } from './wasm-kernel-swap.ts';

/**
 * The wasm backend's Identity (what `clone` runs) copies the data. The gradient tape clones
 * every input it saves for the backward pass, so each training step copied the 784x512
 * kernel and the batch for nothing. Tensors are immutable (a Variable's assign swaps its
 * data, never writes into it), so this shares the data and counts a reference, as the
 * cpu backend's Identity and wasm's own Reshape do.
 */
export function shareWasmIdentity(): void {
  replaceWasmKernel('Identity', (original) => (args) => {
    const x = args.inputs.x as tf.TensorInfo;
    if (x.dtype === 'string') return original(args);
    (args.backend as tf.KernelBackend).incRef(x.dataId);
    return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
  });
}

/** Puts the copying kernel back (for comparisons). */
export const unshareWasmIdentity = () => restoreWasmKernel('Identity');
