import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { before, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import seedrandom from 'seedrandom';
import { assembleWasm } from '../scripts/wasm.ts';
import { loadMnist } from '../src/data/mnist.ts';
import { initBackend } from '../src/compute/backend.ts';
import { setSparseMatMul, sparseMatMulRuns } from '../src/compute/accelerations/wasm-sparse-matmul.ts';

/** `compute`'s values with the sparse path allowed, with the stock dense kernels, and how many sparse products ran. */
function sparseAndStock(compute: () => tf.Tensor) {
  const values = () => {
    const t = compute();
    const out = Array.from(t.dataSync());
    t.dispose();
    return out;
  };
  const before = sparseMatMulRuns();
  const sparse = values();
  const runs = sparseMatMulRuns() - before;
  setSparseMatMul(false);
  try {
    return { sparse, stock: values(), runs };
  } finally {
    setSparseMatMul(true);
  }
}

/** Bit for bit: the sparse path skips only products that add exactly zero. */
function assertIdentical(actual: number[], expected: number[], what: string) {
  assert.equal(actual.length, expected.length, `${what}: length`);
  const differing = actual.flatMap((v, i) => (Object.is(v, expected[i]) ? [] : [i]));
  assert.equal(
    differing.length,
    0,
    `${what}: ${differing.length} values differ, first at ${differing[0]}: ${actual[differing[0]]} vs ${expected[differing[0]]}`,
  );
}

/** Values from a seeded normal-ish distribution, `zeros` of them exactly 0. */
function sparseValues(n: number, zeros: number, seed: string): Float32Array {
  const random = seedrandom(seed);
  return Float32Array.from({ length: n }, () => (random() < zeros ? 0 : (random() - 0.5) * 4));
}

describe('sparse matmul on wasm (predict and evaluation inputs that are mostly zeros)', () => {
  let digits: tf.Tensor2D;
  let weights: tf.Tensor2D;
  let bias: tf.Tensor1D;

  before(async () => {
    await initBackend('wasm');
    await tf.setBackend('wasm');
    const test = (await loadMnist({ train: 1, test: 16 })).test!;
    digits = tf.tensor2d(Float32Array.from(test.x.subarray(0, 16 * 784)), [16, 784]).div(255) as tf.Tensor2D;
    weights = tf.tensor2d(sparseValues(784 * 512, 0, 'w'), [784, 512]).mul(0.05) as tf.Tensor2D;
    bias = tf.tensor1d(sparseValues(512, 0, 'b'));
  });

  test("a Dense layer on MNIST digits gives the stock kernel's numbers, bit for bit: bias + relu, bias alone, neither", () => {
    for (const rows of [1, 3, 16]) {
      const x = digits.slice(0, rows);
      const cases: [string, () => tf.Tensor][] = [
        ['relu + bias', () => tf.fused.matMul({ a: x, b: weights, bias, activation: 'relu' })],
        ['bias', () => tf.fused.matMul({ a: x, b: weights, bias })],
        ['plain matMul', () => tf.matMul(x, weights)],
      ];
      for (const [what, compute] of cases) {
        const { sparse, stock, runs } = sparseAndStock(compute);
        assert.equal(runs, 1, `${what}, ${rows} rows: the sparse path should run`);
        assertIdentical(sparse, stock, `${what}, ${rows} rows`);
      }
      x.dispose();
    }
  });

  test('odd shapes, negative values and all-zero rows give the stock numbers too', () => {
    for (const [m, k, n] of [
      [1, 50, 1],
      [3, 50, 37],
      [5, 7, 64],
      [4, 33, 100],
    ]) {
      const values = sparseValues(m * k, 0.85, `a${m}${k}${n}`);
      values.fill(0, 0, k); // the first row has no non-zero value at all
      const a = tf.tensor2d(values, [m, k]);
      const b = tf.tensor2d(sparseValues(k * n, 0, `b${m}${k}${n}`), [k, n]);
      const c = tf.tensor1d(sparseValues(n, 0, `c${m}${k}${n}`));
      for (const activation of ['linear', 'relu'] as const) {
        const { sparse, stock, runs } = sparseAndStock(() => tf.fused.matMul({ a, b, bias: c, activation }));
        assert.equal(runs, 1, `${m}x${k}x${n} ${activation}: the sparse path should run`);
        assertIdentical(sparse, stock, `${m}x${k}x${n} ${activation}`);
      }
      tf.dispose([a, b, c]);
    }
  });

  test('dense inputs, gradient tapes, transposes, other activations and batches take the stock kernels', () => {
    const dense = tf.tensor2d(sparseValues(4 * 784, 0.5, 'dense'), [4, 784]);
    const x = digits.slice(0, 4);
    const stockOnly: [string, () => tf.Tensor][] = [
      ['half the inputs non-zero', () => tf.fused.matMul({ a: dense, b: weights, bias, activation: 'relu' })],
      ['transposeB', () => tf.matMul(x, weights.transpose(), false, true)],
      ['transposeA', () => tf.matMul(x, weights.slice(0, 4), true, false)],
      ['sigmoid', () => tf.fused.matMul({ a: x, b: weights, bias, activation: 'sigmoid' })],
      ['elu', () => tf.fused.matMul({ a: x, b: weights, bias, activation: 'elu' })],
      ['a batch of 2 matrices', () => tf.matMul(tf.stack([x, x]), tf.stack([weights, weights]))],
    ];
    for (const [what, compute] of stockOnly) {
      const { sparse, stock, runs } = sparseAndStock(() => tf.tidy(compute));
      assert.equal(runs, 0, `${what}: the sparse path should not run`);
      assertIdentical(sparse, stock, what);
    }
    // Under a gradient tape (training) the forward pass keeps the stock kernel.
    const before = sparseMatMulRuns();
    const grad = tf.grad((w: tf.Tensor) => tf.matMul(x, w as tf.Tensor2D).sum())(weights);
    assert.equal(sparseMatMulRuns() - before, 0, 'inside tf.grad the sparse path should not run');
    tf.dispose([grad, dense, x]);
  });

  test('leaves no tensor and no backend data behind', () => {
    const x = digits.slice(0, 8);
    const tensors = tf.memory().numTensors;
    const data = tf.engine().backend.numDataIds();
    const before = sparseMatMulRuns();
    for (let i = 0; i < 5; i++) tf.fused.matMul({ a: x, b: weights, bias, activation: 'relu' }).dispose();
    assert.equal(sparseMatMulRuns() - before, 5);
    assert.equal(tf.memory().numTensors, tensors);
    assert.equal(tf.engine().backend.numDataIds(), data);
    x.dispose();
  });
});

test('the committed .wasm files are the assembled .wat files (run `npm run wasm`)', async () => {
  const assembled = await assembleWasm();
  assert.ok(assembled.size >= 2, 'fused-optimizers and sparse-matmul');
  for (const [file, bytes] of assembled)
    assert.ok(Buffer.from(bytes).equals(await readFile(file)), `${file} is stale: run \`npm run wasm\``);
});
