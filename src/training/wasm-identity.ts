import * as tf from '@tensorflow/tfjs';

let stock: tf.KernelConfig | undefined;

/**
 * The wasm backend's Identity (what `clone` runs) copies the data. The gradient tape clones
 * every input it saves for the backward pass, so each training step copied the 784x512
 * kernel and the batch for nothing. Tensors are immutable (a Variable's assign swaps its
 * data, never writes into it), so this shares the data and counts a reference, as the
 * cpu backend's Identity and wasm's own Reshape do.
 */
export function shareWasmIdentity(): void {
  if (stock) return;
  const original = tf.getKernel('Identity', 'wasm');
  if (!original) return;
  stock = original;
  tf.unregisterKernel('Identity', 'wasm');
  tf.registerKernel({
    ...original,
    kernelFunc: (args) => {
      const x = args.inputs.x as tf.TensorInfo;
      if (x.dtype === 'string') return original.kernelFunc(args);
      (args.backend as tf.KernelBackend).incRef(x.dataId);
      return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
    },
  });
}

/** Puts the copying kernel back (for comparisons). */
export function unshareWasmIdentity(): void {
  if (!stock) return;
  tf.unregisterKernel('Identity', 'wasm');
  tf.registerKernel(stock);
  stock = undefined;
}
