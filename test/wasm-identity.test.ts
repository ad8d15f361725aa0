import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/compute/backend.ts';
import { shareWasmIdentity, unshareWasmIdentity } from '../src/compute/accelerations/wasm-identity.ts';

describe('wasm Identity shares data instead of copying it', () => {
  before(async () => {
    const backend = await initBackend('wasm');
    if (backend !== 'wasm') throw new Error(`these tests need the wasm backend, got ${backend}`);
  });

  test('clones outlive their source and keep their values when a variable is assigned', () => {
    const before = tf.memory();
    const x = tf.tensor([1, 2, 3]);
    const c = x.clone();
    x.dispose();
    assert.deepEqual(Array.from(c.dataSync()), [1, 2, 3]);
    const [first, second] = [tf.tensor([4, 5]), tf.tensor([6, 7])];
    const v = tf.variable(first);
    const snapshot = v.clone();
    v.assign(second);
    assert.deepEqual(Array.from(snapshot.dataSync()), [4, 5]);
    assert.deepEqual(Array.from(v.dataSync()), [6, 7]);
    tf.dispose([c, snapshot, v, first, second]);
    assert.equal(tf.memory().numBytes, before.numBytes, 'every byte freed once the last holder is gone');
  });

  test('training steps give the same weights with the copying kernel', async () => {
    const train = async () => {
      const model = tf.sequential({
        layers: [
          tf.layers.dense({
            units: 16,
            activation: 'relu',
            inputShape: [20],
            kernelInitializer: tf.initializers.glorotUniform({ seed: 31 }),
          }),
          tf.layers.dense({
            units: 3,
            activation: 'softmax',
            kernelInitializer: tf.initializers.glorotUniform({ seed: 32 }),
          }),
        ],
      });
      model.compile({ optimizer: tf.train.adam(0.01), loss: 'categoricalCrossentropy' });
      const x = tf.randomUniform([64, 20], 0, 1, 'float32', 33);
      const y = tf.oneHot(tf.randomUniform([64], 0, 3, 'int32', 34), 3).toFloat();
      await model.fit(x, y, { epochs: 2, batchSize: 16, shuffle: false, verbose: 0 });
      const weights = model.getWeights().map((w) => Array.from(w.dataSync()));
      tf.dispose([x, y]);
      model.dispose();
      return weights;
    };
    const shared = await train();
    unshareWasmIdentity();
    let copied: number[][];
    try {
      copied = await train();
    } finally {
      shareWasmIdentity();
    }
    assert.deepEqual(shared, copied);
  });
});
