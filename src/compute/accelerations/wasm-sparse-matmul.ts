import * as tf from '@tensorflow/tfjs';
import { onBackendMemory, type WasmBackend } from './wasm-module.ts';

/**
 * A matmul for inputs that are mostly zeros, on the wasm backend: each row of `a` adds up
 * only the rows of `b` where it is not zero. Predict inputs often are (an MNIST digit is ~80 %
 * background, one-hot and bag-of-words features more), and a Dense layer's dense GEMM spends
 * most of its time multiplying those zeros. The module (sparse-matmul.wat; see wasm-module.ts)
 * works on the tensors in place in the backend's memory, f32x4.
 * It sums in the order XNNPACK's GEMM does (the bias, then each product in increasing k, a
 * multiply then an add), so skipping a zero product changes no bit of a finite result.
 *
 * Only outside a gradient tape (predict, evaluation), for float32 `a [1?, M, K] x b [1?, K, N]`
 * with no transposes, an optional bias of N values and a linear or relu activation, and only
 * when at most `MAX_DENSITY` of `a` is non-zero: otherwise the caller's kernel runs.
 */
// Below the density where the sparse path stops beating the dense GEMM (docs/performance.md),
// with room for other shapes.
const MAX_DENSITY = 0.3;

interface SparseExports {
  nonzeros(p: number, n: number): number;
  matmul(
    a: number,
    b: number,
    bias: number,
    out: number,
    idx: number,
    m: number,
    k: number,
    n: number,
    relu: number,
  ): void;
}

let enabled = true;
/** Switches the sparse path off (stock dense GEMM everywhere) and on, for comparisons. */
export function setSparseMatMul(on: boolean): void {
  enabled = on;
}

let runs = 0;
/** Products computed by the sparse path so far (for tests and benchmarks). */
export const sparseMatMulRuns = () => runs;

/** The product as the sparse path computes it, or undefined when that path does not apply or would be slower. */
export function sparseMatMul(
  backend: tf.KernelBackend,
  a: tf.TensorInfo,
  b: tf.TensorInfo,
  bias: tf.TensorInfo | undefined,
  activation = 'linear',
): tf.TensorInfo | undefined {
  if (!enabled || tf.engine().state.gradientDepth > 0) return undefined;
  if (activation !== 'linear' && activation !== 'relu') return undefined;
  if (a.dtype !== 'float32' || b.dtype !== 'float32' || (bias && bias.dtype !== 'float32')) return undefined;
  const [M, K] = a.shape.slice(-2);
  const [K2, N] = b.shape.slice(-2);
  if (K !== K2 || a.shape.length > 3 || b.shape.length > 3 || a.shape.length < 2 || b.shape.length < 2)
    return undefined;
  if ((a.shape.length === 3 && a.shape[0] !== 1) || (b.shape.length === 3 && b.shape[0] !== 1)) return undefined;
  if (bias && tf.util.sizeFromShape(bias.shape) !== N) return undefined;
  const wasm = backend as WasmBackend;
  const sparse = onBackendMemory<SparseExports>('sparse-matmul', wasm);
  if (!sparse || M * K === 0) return undefined;
  if (sparse.nonzeros(wasm.getMemoryOffset(a.dataId), M * K) > MAX_DENSITY * M * K) return undefined;
  // Allocate first, then take offsets: growing the heap moves nothing, but detaches views.
  const out = wasm.makeOutput([...(a.shape.length === 3 ? [1] : []), M, N], 'float32');
  const idx = wasm.makeOutput([K], 'int32');
  const offset = (t: tf.TensorInfo) => wasm.getMemoryOffset(t.dataId);
  sparse.matmul(
    offset(a),
    offset(b),
    bias ? offset(bias) : 0,
    offset(out),
    offset(idx),
    M,
    K,
    N,
    activation === 'relu' ? 1 : 0,
  );
  wasm.disposeData(idx.dataId);
  runs++;
  return out;
}
