import * as tf from '@tensorflow/tfjs';
import { installWasmGradients } from '../wasm-gradients.ts';
import { denseStack, type Forward } from './dense-stack.ts';
import {
  fuseOptimizerUpdates,
  registerFusedOptimizerKernels,
  unregisterFusedOptimizerKernels,
} from './fused-optimizers.ts';
import { fastWasmGather, stockWasmGather } from './wasm-gather.ts';
import { shareWasmIdentity, unshareWasmIdentity } from './wasm-identity.ts';
import { routeTransposedMatMuls, unrouteTransposedMatMuls } from './wasm-matmul.ts';
import { sparseMatMulRuns } from './wasm-sparse-matmul.ts';

/**
 * The one seam between the service and everything that replaces or adds tfjs kernels to make
 * training and predict faster (the files beside this one): routed and sparse matmuls, row
 * gathers, shared Identity, fused optimizer updates, Dense stacks and predict's carry-over to whole matmul tiles. Nothing is installed at import: the backend
 * start (`initBackend`, and `replaceBackend` after a fault) calls `installAccelerations`, and
 * the rest of the service only asks `accelerations()`, which answers with the stock behaviour
 * until then and whenever TFJS_ACCELERATION is `off` (so a suspected acceleration bug, or an
 * A/B measurement, is one setting away, and tests run both ways).
 */
export type AccelerationMode = 'auto' | 'off';

export type { Forward };

export interface Accelerations {
  /** `auto` when the accelerations are installed, `off` when the stock behaviour answers. */
  readonly mode: AccelerationMode;
  /** A Sequential Dense model's forward pass as bare kernel calls, or undefined: run the layers. */
  denseStack(model: tf.LayersModel): Forward | undefined;
  /** The optimizer, updating each variable in one fused kernel where that applies (the same object). */
  wrapOptimizer<T extends tf.Optimizer>(optimizer: T): T;
  /**
   * Rows the backend's matmul computes together, which predict fills by carrying the last
   * single-instance requests of a busy batch to the next pass (see Predictor.carryOver); 1 = carry nothing.
   */
  predictBatchTile(): number;
  /** Products computed on the sparse matmul path so far: inputs that took it are not carried. */
  sparseProducts(): number;
}

/** XNNPACK's f32 GEMM tile: the wasm backend's matmul takes the batch this many rows at a time. */
const WASM_MATMUL_ROWS = 4;

const STOCK: Accelerations = {
  mode: 'off',
  denseStack: () => undefined,
  wrapOptimizer: (optimizer) => optimizer,
  predictBatchTile: () => 1,
  sparseProducts: () => 0,
};

const ACCELERATED: Accelerations = {
  mode: 'auto',
  denseStack,
  wrapOptimizer: fuseOptimizerUpdates,
  predictBatchTile: () => (tf.getBackend() === 'wasm' ? WASM_MATMUL_ROWS : 1),
  sparseProducts: sparseMatMulRuns,
};

let current = STOCK;
let requested: AccelerationMode = 'auto';

/** What the service asks: the accelerated behaviour once installed with `auto`, else the stock one. */
export const accelerations = (): Accelerations => current;

/**
 * Installs the accelerations that fit `backendName` (a started backend), or with `off` removes
 * any installed before, so only stock tfjs kernels run. `mode` is remembered: a call without
 * it (a replaced backend) keeps the one the process started with. Idempotent. Kernels and
 * gradients are registered in tfjs's global registries, which outlive a backend instance.
 */
export function installAccelerations(backendName: string, mode: AccelerationMode = requested): void {
  requested = mode;
  // Not an acceleration: the conv gradients and other kernels the wasm backend lacks are a
  // correctness need (../wasm-gradients.ts), installed on wasm whatever the mode.
  if (backendName === 'wasm') installWasmGradients();
  if (mode === 'off') {
    unrouteTransposedMatMuls();
    unshareWasmIdentity();
    stockWasmGather();
    unregisterFusedOptimizerKernels();
    current = STOCK;
    return;
  }
  // wasm and cpu: the optimizers use them on whichever of the two runs.
  registerFusedOptimizerKernels();
  if (backendName === 'wasm') {
    routeTransposedMatMuls(); // also takes mostly-zero products to the sparse path
    shareWasmIdentity();
    fastWasmGather();
  }
  current = ACCELERATED;
}
