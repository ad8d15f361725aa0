import * as tf from '@tensorflow/tfjs';
import { replaceWasmKernel, restoreWasmKernel, wasmKernelReplaced, type KernelFunc } from './wasm-kernel-swap.ts';
import { sparseMatMul } from './wasm-sparse-matmul.ts';

const ROUTED = ['BatchMatMul', '_FusedMatMul'];

/**
 * The wasm backend multiplies plain matrices far faster than transposed ones, and Dense
 * gradients use exactly the transposed forms. This re-registers its matmul kernels to
 * transpose the operand first and then take the fast path: same numbers, a much shorter
 * training step (figures in docs/performance.md).
 */
export function routeTransposedMatMuls(): void {
  const transpose = tf.getKernel('Transpose', 'wasm');
  if (!transpose) return;
  for (const name of ROUTED)
    replaceWasmKernel(name, (original) => plainMatMul(original, transpose.kernelFunc, name === 'BatchMatMul'));
}

/** Puts the stock kernels back (for comparisons); `routeTransposedMatMuls` re-routes. */
export function unrouteTransposedMatMuls(): void {
  for (const name of ROUTED) restoreWasmKernel(name);
}

export const matMulsRouted = () => ROUTED.some(wasmKernelReplaced);

let swapsEnabled = true;
/** Switches the training-time operand swap (below) off and on, for comparisons. */
export function setMatMulSwaps(on: boolean): void {
  swapsEnabled = on;
}

/**
 * XNNPACK packs b (the "weights") once per tensor and caches the packing, which pays for a
 * model's fixed weights at predict time. In training every step assigns new weights, so the
 * forward a[M,K] x W[K,N] repacks all of W each step, which costs about as much as the
 * product itself. Under a gradient tape, when b is much wider than a is tall, this computes
 * (W^T a^T)^T instead: two transposes and a packing of the much smaller a^T.
 */
function swapPays(a: tf.TensorInfo, b: tf.TensorInfo): boolean {
  if (a.shape.length !== 2 || b.shape.length !== 2 || tf.engine().state.gradientDepth === 0) return false;
  const [m] = a.shape;
  const [, n] = b.shape;
  return n >= 2 * m;
}

function plainMatMul(matMul: KernelFunc, transpose: KernelFunc, swappable: boolean): KernelFunc {
  return ({ inputs, backend, attrs }) => {
    const { transposeA, transposeB } = attrs as { transposeA?: boolean; transposeB?: boolean };
    if (!transposeA && !transposeB) {
      const { a, b, bias } = inputs as { a: tf.TensorInfo; b: tf.TensorInfo; bias?: tf.TensorInfo };
      const sparse = sparseMatMul(
        backend as tf.KernelBackend,
        a,
        b,
        bias,
        (attrs as { activation?: string }).activation,
      );
      if (sparse) return sparse;
      if (!swappable || !swapsEnabled || !swapPays(inputs.a as tf.TensorInfo, inputs.b as tf.TensorInfo))
        return matMul({ inputs, backend, attrs });
      const t = (x: tf.TensorInfo) => transpose({ inputs: { x }, backend, attrs: { perm: [1, 0] } }) as tf.TensorInfo;
      const aT = t(inputs.a as tf.TensorInfo);
      const bT = t(inputs.b as tf.TensorInfo);
      const outT = matMul({ inputs: { a: bT, b: aT }, backend, attrs }) as tf.TensorInfo;
      const out = t(outT);
      for (const x of [aT, bT, outT]) (backend as tf.KernelBackend).disposeData(x.dataId);
      return out;
    }
    const temporaries: tf.TensorInfo[] = [];
    const swapLastTwo = (t: tf.TensorInfo) => {
      const perm = t.shape.map((_, i) => i);
      const r = perm.length;
      [perm[r - 2], perm[r - 1]] = [perm[r - 1], perm[r - 2]];
      const out = transpose({ inputs: { x: t }, backend, attrs: { perm } }) as tf.TensorInfo;
      temporaries.push(out);
      return out;
    };
    const a = transposeA ? swapLastTwo(inputs.a as tf.TensorInfo) : inputs.a;
    const b = transposeB ? swapLastTwo(inputs.b as tf.TensorInfo) : inputs.b;
    const out = matMul({
      inputs: { ...inputs, a, b },
      backend,
      attrs: { ...attrs, transposeA: false, transposeB: false },
    });
    for (const t of temporaries) (backend as tf.KernelBackend).disposeData(t.dataId);
    return out;
  };
}
