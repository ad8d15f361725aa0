import * as tf from '@tensorflow/tfjs';

export type KernelFunc = tf.KernelConfig['kernelFunc'];

/** The stock wasm kernels we replaced, by name: kept so tests and benchmarks can compare against them. */
const stock = new Map<string, tf.KernelConfig>();

/**
 * Re-registers the wasm kernel `name` with `wrap(stock kernel function)`. Does nothing when it
 * is already replaced or the backend lacks it; returns whether it is replaced now.
 */
export function replaceWasmKernel(name: string, wrap: (original: KernelFunc) => KernelFunc): boolean {
  if (stock.has(name)) return true;
  const original = tf.getKernel(name, 'wasm');
  if (!original) return false;
  stock.set(name, original);
  tf.unregisterKernel(name, 'wasm');
  tf.registerKernel({ ...original, kernelFunc: wrap(original.kernelFunc) });
  return true;
}

/** Puts the stock kernel back (for comparisons). */
export function restoreWasmKernel(name: string): void {
  const original = stock.get(name);
  if (!original) return;
  tf.unregisterKernel(name, 'wasm');
  tf.registerKernel(original);
  stock.delete(name);
}

export const wasmKernelReplaced = (name: string) => stock.has(name);
