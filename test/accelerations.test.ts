import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { accelerations, installAccelerations, type AccelerationMode } from '../src/compute/accelerations/index.ts';
import { wasmKernelReplaced } from '../src/compute/accelerations/wasm-kernel-swap.ts';
import { matMulsRouted } from '../src/compute/accelerations/wasm-matmul.ts';
import { sparseMatMulRuns } from '../src/compute/accelerations/wasm-sparse-matmul.ts';
import { initBackend } from '../src/compute/backend.ts';
import { backendReplacements, replaceBackend } from '../src/compute/backend-guard.ts';
import { compileModel, parseCompile } from '../src/model/compile.ts';
import { testBackend } from './helpers.ts';

/**
 * The one switch, TFJS_ACCELERATION: run by `npm test` with it unset (auto) and by
 * `npm run test:stock` with it `off`; each run checks its own setting, in a process of its own
 * (the backend starts once per process).
 */
const [, mode] = testBackend();
const other: AccelerationMode = mode === 'auto' ? 'off' : 'auto';
const FUSED = ['TrainingFusedRMSProp', 'TrainingFusedAdam'];

/** Everything the seam installs, in one object, so a failure shows all of it. */
function installed() {
  return {
    mode: accelerations().mode,
    matMulsRouted: matMulsRouted(),
    identityShared: wasmKernelReplaced('Identity'),
    gatherByRows: wasmKernelReplaced('GatherV2'),
    fusedKernels: FUSED.flatMap((k) => ['wasm', 'cpu'].filter((b) => tf.getKernel(k, b))).length,
    predictBatchTile: accelerations().predictBatchTile(),
  };
}
const expected = (m: AccelerationMode) =>
  m === 'auto'
    ? {
        mode: 'auto',
        matMulsRouted: true,
        identityShared: true,
        gatherByRows: true,
        fusedKernels: 4,
        predictBatchTile: 4,
      }
    : {
        mode: 'off',
        matMulsRouted: false,
        identityShared: false,
        gatherByRows: false,
        fusedKernels: 0,
        predictBatchTile: 1,
      };

/** Kernels one training step of a compiled Dense model runs (its optimizer comes from `compileModel`, i.e. the seam). */
async function stepKernels(optimizer: 'adam' | 'rmsprop'): Promise<string[]> {
  const model = tf.sequential({
    layers: [tf.layers.dense({ inputShape: [6], units: 5, activation: 'relu' }), tf.layers.dense({ units: 2 })],
  });
  compileModel(model, parseCompile({ optimizer, loss: 'meanSquaredError' }));
  const [x, y] = [tf.randomUniform([8, 6], 0, 1, 'float32', 1), tf.randomUniform([8, 2], 0, 1, 'float32', 2)];
  try {
    const profile = await tf.profile(async () => void (await model.trainOnBatch(x, y)));
    return profile.kernels.map((k) => k.name);
  } finally {
    tf.dispose([x, y]);
    model.dispose();
  }
}

/** Products the sparse path took for one predict-style matmul of a mostly-zero input. */
function sparseProducts(): number {
  const before = sparseMatMulRuns();
  tf.tidy(() => {
    const a = tf.tensor2d(
      Float32Array.from({ length: 8 * 32 }, (_, i) => (i % 10 === 0 ? 1 : 0)),
      [8, 32],
    );
    tf.fused.matMul({ a, b: tf.ones([32, 4]), bias: tf.zeros([4]), activation: 'relu' }).dataSync();
  });
  return sparseMatMulRuns() - before;
}

const uses = (kernels: string[]) => kernels.some((k) => k.startsWith('TrainingFused'));

/** tfjs's own Conv2D gradient, before anything could replace it. */
const stockConv2DGradient = tf.getGradient('Conv2D').gradFunc;

/** What wasm training needs whatever the setting (src/compute/wasm-gradients.ts): the missing backprop kernel bridged, the conv gradient. */
function assertWasmGradients(when: string) {
  assert.ok(tf.getKernel('Conv2DBackpropFilter', 'wasm'), `${when}: Conv2DBackpropFilter bridged on wasm`);
  assert.notEqual(
    tf.getGradient('Conv2D').gradFunc,
    stockConv2DGradient,
    `${when}: the Conv2D gradient on wasm's forward conv`,
  );
}

test('importing the accelerations installs nothing: the seam answers stock until the backend starts', () => {
  assert.deepEqual(installed(), expected('off'));
  assert.equal(tf.getKernel('Conv2DBackpropFilter', 'wasm'), undefined, 'nothing bridged yet');
  assert.equal(tf.getGradient('Conv2D').gradFunc, stockConv2DGradient);
  const optimizer = tf.train.adam(0.01);
  const apply = optimizer.applyGradients;
  assert.equal(accelerations().wrapOptimizer(optimizer).applyGradients, apply, 'the optimizer is left as it is');
  optimizer.dispose();
});

test(`the backend start installs what TFJS_ACCELERATION=${mode} asks for`, async () => {
  assert.equal(await initBackend('wasm', mode), 'wasm');
  assert.deepEqual(installed(), expected(mode));
  assertWasmGradients('at start');
  assert.equal(uses(await stepKernels('adam')), mode === 'auto', 'fused Adam update in a compiled model');
  assert.equal(uses(await stepKernels('rmsprop')), mode === 'auto', 'fused RMSProp update in a compiled model');
  assert.equal(sparseProducts(), mode === 'auto' ? 1 : 0, 'sparse matmul path');
});

test('a replaced backend instance gets the same accelerations as the start', async () => {
  const replaced = backendReplacements();
  await replaceBackend();
  assert.equal(backendReplacements(), replaced + 1);
  assert.equal(tf.getBackend(), 'wasm');
  assert.deepEqual(installed(), expected(mode));
  assertWasmGradients('after the replacement');
  // The SIMD modules are instantiated again on the new instance's memory.
  assert.equal(uses(await stepKernels('adam')), mode === 'auto');
  assert.equal(sparseProducts(), mode === 'auto' ? 1 : 0);
});

test('installing the other setting swaps everything over, and back', async () => {
  installAccelerations('wasm', other);
  try {
    assert.deepEqual(installed(), expected(other));
    assertWasmGradients(`switched to ${other}`);
    assert.equal(uses(await stepKernels('adam')), other === 'auto');
    assert.equal(sparseProducts(), other === 'auto' ? 1 : 0);
  } finally {
    installAccelerations('wasm', mode);
  }
  assert.deepEqual(installed(), expected(mode));
  assert.equal(uses(await stepKernels('adam')), mode === 'auto');
});
