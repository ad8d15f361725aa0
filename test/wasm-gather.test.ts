import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/compute/backend.ts';
import { fastWasmGather, stockWasmGather } from '../src/compute/accelerations/wasm-gather.ts';

const read = (compute: () => tf.Tensor) => {
  const t = tf.tidy(compute);
  const out = { values: Array.from(t.dataSync() as ArrayLike<number>), shape: t.shape, dtype: t.dtype };
  t.dispose();
  return out;
};

/** The row-copying gather, the stock wasm kernel and the cpu backend give the same tensor. */
async function same(compute: () => tf.Tensor, what: string) {
  const fast = read(compute);
  stockWasmGather();
  let stock: ReturnType<typeof read>;
  try {
    stock = read(compute);
  } finally {
    fastWasmGather();
  }
  await tf.setBackend('cpu');
  let cpu: ReturnType<typeof read>;
  try {
    cpu = read(compute);
  } finally {
    await tf.setBackend('wasm');
  }
  assert.deepEqual(fast, stock, `${what}: vs stock wasm`);
  assert.deepEqual(fast, cpu, `${what}: vs cpu`);
}

describe('wasm gather along axis 0 copies rows, as the stock kernel computes', () => {
  before(async () => {
    const backend = await initBackend('wasm');
    if (backend !== 'wasm') throw new Error(`these tests need the wasm backend, got ${backend}`);
  });

  const x = () => tf.randomNormal([50, 7, 3], 0, 1, 'float32', 41);
  const idx = [49, 0, 3, 3, 17, 2];
  test('float32 rows of a 3-D tensor, repeated indices', () =>
    same(() => tf.gather(x(), tf.tensor1d(idx, 'int32')), 'float32'));
  test('2-D indices', () =>
    same(
      () =>
        tf.gather(
          x(),
          tf.tensor2d(
            [
              [1, 2],
              [3, 4],
              [5, 49],
            ],
            undefined,
            'int32',
          ),
        ),
      '2-D indices',
    ));
  test('int32 and bool', async () => {
    await same(
      () => tf.gather(tf.range(0, 40, 1, 'int32').reshape([20, 2]), tf.tensor1d([19, 0, 5], 'int32')),
      'int32',
    );
    await same(() => tf.gather(tf.tensor1d([1, 0, 1, 1, 0], 'bool'), tf.tensor1d([4, 0, 2], 'int32')), 'bool');
  });
  test('a negative axis naming the first; other axes take the stock kernel', async () => {
    await same(
      () => tf.gather(tf.randomNormal([6, 5], 0, 1, 'float32', 42), tf.tensor1d([5, 1], 'int32'), -2),
      'axis -2',
    );
    await same(() => tf.gather(x(), tf.tensor1d([2, 0], 'int32'), 1), 'axis 1');
  });
  test('empty indices, and an index out of range throws without leaking', async () => {
    await same(() => tf.gather(x(), tf.tensor1d([], 'int32')), 'empty');
    const t = x();
    const i = tf.tensor1d([1, 50], 'int32');
    const before = tf.memory().numBytes;
    assert.throws(() => tf.gather(t, i), /not in \[0, 49\]/);
    assert.equal(tf.memory().numBytes, before);
    tf.dispose([t, i]);
  });
  test('a shuffled fit batch (what fit slices) is the same', () =>
    same(() => {
      const data = tf.randomUniform([300, 784], 0, 1, 'float32', 44);
      const order = tf.tensor1d(Array.from({ length: 300 }, (_, i) => (i * 37) % 300)).slice(128, 128); // float32, as fit's
      return tf.gather(data, order.toInt());
    }, 'fit batch'));
});
