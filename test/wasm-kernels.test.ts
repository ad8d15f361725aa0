import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { before, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/compute/backend.ts';
import {
  matMulsRouted,
  routeTransposedMatMuls,
  unrouteTransposedMatMuls,
} from '../src/compute/accelerations/wasm-matmul.ts';

/** Largest difference relative to the largest magnitude: float32 sums in another order differ in the last bits. */
function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string, tolerance = 1e-5) {
  assert.equal(actual.length, expected.length, `${what}: length`);
  let scale = 1e-12;
  let worst = 0;
  for (let i = 0; i < expected.length; i++) {
    scale = Math.max(scale, Math.abs(expected[i]));
    worst = Math.max(worst, Math.abs(actual[i] - expected[i]));
  }
  assert.ok(worst / scale <= tolerance, `${what}: differs by ${worst} (scale ${scale})`);
}

type Result = { values: number[]; shape: number[] }[];

const read = (compute: () => tf.Tensor | tf.Tensor[]): Result =>
  tf
    .tidy(() => [compute()].flat())
    .map((t) => {
      const result = { values: Array.from(t.dataSync()), shape: t.shape };
      t.dispose();
      return result;
    });

/** `compute` with the routed kernels, with the stock wasm ones, and on the plain-JS cpu backend (the reference). */
async function routedStockAndCpu(compute: () => tf.Tensor | tf.Tensor[]) {
  assert.ok(matMulsRouted(), 'the wasm backend should start with routed matmuls');
  const routed = read(compute);
  unrouteTransposedMatMuls();
  let stock: Result;
  try {
    stock = read(compute);
  } finally {
    routeTransposedMatMuls();
  }
  await tf.setBackend('cpu');
  try {
    return { routed, stock, cpu: read(compute) };
  } finally {
    await tf.setBackend('wasm');
  }
}

/**
 * Routed results must match the cpu backend and, unless `stockIsWrong`, the stock wasm
 * kernels. (Stock wasm `_FusedMatMul` adds the bias wrongly when an operand is transposed;
 * the routed kernel never passes it a transposed operand.)
 */
async function compare(compute: () => tf.Tensor | tf.Tensor[], what: string, stockIsWrong = false) {
  const { routed, stock, cpu } = await routedStockAndCpu(compute);
  routed.forEach((r, i) => {
    assert.deepEqual(r.shape, cpu[i].shape, `${what}: shape`);
    assertClose(r.values, cpu[i].values, `${what} #${i} vs cpu`);
    if (!stockIsWrong) assertClose(r.values, stock[i].values, `${what} #${i} vs stock wasm`);
  });
}

const normal = (shape: number[], seed: number) => tf.randomNormal(shape, 0, 1, 'float32', seed);

describe('wasm matmul routing computes what the stock kernels compute', () => {
  before(async () => {
    const backend = await initBackend(process.env.TFJS_BACKEND === 'cpu' ? 'cpu' : 'wasm');
    if (backend !== 'wasm') throw new Error(`these tests need the wasm backend, got ${backend}`);
  });

  for (const transposeA of [false, true]) {
    for (const transposeB of [false, true]) {
      test(`matMul 2-D, transposeA=${transposeA} transposeB=${transposeB}`, async () => {
        const [m, k, n] = [37, 53, 29];
        await compare(
          () =>
            tf.matMul(
              normal(transposeA ? [k, m] : [m, k], 1),
              normal(transposeB ? [n, k] : [k, n], 2),
              transposeA,
              transposeB,
            ),
          'matMul',
        );
      });

      test(`matMul batched and broadcast, transposeA=${transposeA} transposeB=${transposeB}`, async () => {
        const [m, k, n] = [17, 23, 11];
        await compare(
          () =>
            tf.matMul(
              normal(transposeA ? [3, k, m] : [3, m, k], 3),
              normal(transposeB ? [1, n, k] : [1, k, n], 4),
              transposeA,
              transposeB,
            ),
          'batched',
        );
      });

      test(`fused matMul with bias and relu, transposeA=${transposeA} transposeB=${transposeB}`, async () => {
        const [m, k, n] = [64, 100, 48];
        await compare(
          () =>
            tf.fused.matMul({
              a: normal(transposeA ? [k, m] : [m, k], 5),
              b: normal(transposeB ? [n, k] : [k, n], 6),
              transposeA,
              transposeB,
              bias: normal([n], 7),
              activation: 'relu',
            }),
          'fused',
          transposeA || transposeB,
        );
      });
    }
  }

  test('gradients of a Dense layer (the transposed forms backprop uses)', async () => {
    await compare(() => {
      const x = normal([128, 784], 8);
      const w = normal([784, 64], 9);
      const b = normal([64], 10);
      const f = (w: tf.Tensor, b: tf.Tensor) => tf.relu(tf.matMul(x, w).add(b)).square().mean();
      const g = tf.grads(f as (...args: tf.Tensor[]) => tf.Tensor)([w, b]);
      const gx = tf.grad((x: tf.Tensor) => tf.matMul(x, w).sum())(x);
      return [...g, gx];
    }, 'gradients');
  });

  test('forward matmuls under a gradient tape with a wide b (computed as (b^T a^T)^T)', async () => {
    await compare(() => {
      const x = normal([16, 40], 15);
      const w = normal([40, 64], 16);
      const [gw] = tf.grads((v: tf.Tensor) => tf.relu(tf.matMul(x, v)).square().mean())([w]);
      const y = tf.valueAndGrad((v: tf.Tensor) => tf.matMul(x, v).sum())(w);
      return [gw, y.value, y.grad];
    }, 'swapped forward');
  });

  test('a few training steps of the MNIST-shaped network end at the same weights', async () => {
    const trainWeights = async () => {
      const model = tf.sequential({
        layers: [
          tf.layers.dense({
            units: 64,
            activation: 'relu',
            inputShape: [784],
            kernelInitializer: tf.initializers.glorotUniform({ seed: 11 }),
          }),
          tf.layers.dense({
            units: 10,
            activation: 'softmax',
            kernelInitializer: tf.initializers.glorotUniform({ seed: 12 }),
          }),
        ],
      });
      model.compile({ optimizer: tf.train.rmsprop(0.001), loss: 'categoricalCrossentropy' });
      const x = tf.randomUniform([256, 784], 0, 1, 'float32', 13);
      const y = tf.oneHot(tf.randomUniform([256], 0, 10, 'int32', 14), 10).toFloat();
      await model.fit(x, y, { epochs: 2, batchSize: 64, shuffle: false, verbose: 0 });
      const weights = model.getWeights().map((w) => Array.from(w.dataSync()));
      tf.dispose([x, y]);
      model.dispose();
      return weights;
    };
    const routed = await trainWeights();
    unrouteTransposedMatMuls();
    let stock: number[][];
    try {
      stock = await trainWeights();
    } finally {
      routeTransposedMatMuls();
    }
    for (const [i, w] of routed.entries()) assertClose(w, stock[i], `weight ${i}`, 1e-4);
  });
});

describe('TFJS_ACCELERATION=auto trains to the weights stock tfjs (off) trains to', () => {
  const fixture = fileURLToPath(new URL('./fixtures/wasm-train-steps.ts', import.meta.url));
  const run = async (acceleration: 'auto' | 'off') => {
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', fixture], {
      env: { ...process.env, TFJS_ACCELERATION: acceleration },
      timeout: 120_000,
    });
    return JSON.parse(stdout) as { installed: { mode: string; matMulsRouted: boolean }; weights: number[][] };
  };

  test('a Dense and a conv network, a few steps each, in a process per setting', async () => {
    const [accelerated, stock] = await Promise.all([run('auto'), run('off')]);
    assert.deepEqual(accelerated.installed, { mode: 'auto', matMulsRouted: true });
    assert.deepEqual(stock.installed, { mode: 'off', matMulsRouted: false });
    assert.equal(accelerated.weights.length, stock.weights.length);
    for (const [i, w] of accelerated.weights.entries()) assertClose(w, stock.weights[i], `weight ${i}`, 1e-4);
  });
});
