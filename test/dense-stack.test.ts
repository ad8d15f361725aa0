import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import seedrandom from 'seedrandom';
import { initBackend } from '../src/compute/backend.ts';
import { accelerations } from '../src/compute/accelerations/index.ts';
import { denseStack } from '../src/compute/accelerations/dense-stack.ts';
import { testBackend } from './helpers.ts';

// The Dense stack itself is checked in both settings (it must mirror Dense.call on whatever
// kernels run); whether predict gets it is the seam's answer, checked below.
before(async () => {
  await initBackend('wasm', testBackend()[1]);
});

/** Inputs with some exact zeros (so the sparse matmul path is taken too) and negative values. */
function inputs(rows: number, width: number, zeros: number): tf.Tensor2D {
  const random = seedrandom(`${rows}x${width}/${zeros}`);
  return tf.tensor2d(
    Float32Array.from({ length: rows * width }, () => (random() < zeros ? 0 : random() * 2 - 1)),
    [rows, width],
  );
}

/** A Sequential model with random weights: fresh Dense biases are zeros, which would hide where a bias is added. */
function mlp(layers: tf.layers.Layer[]) {
  const model = tf.sequential({ layers });
  tf.tidy(() => model.setWeights(model.getWeights().map((w, i) => tf.randomNormal(w.shape, 0, 0.5, 'float32', i + 1))));
  return model;
}

test('Dense stacks give what predict gives, bit for bit, for fused and unfused activations, with and without bias', () => {
  const models = {
    'relu -> softmax': mlp([
      tf.layers.dense({ inputShape: [20], units: 16, activation: 'relu' }),
      tf.layers.dense({ units: 5, activation: 'softmax' }),
    ]),
    'linear, no bias -> sigmoid': mlp([
      tf.layers.dense({ inputShape: [20], units: 8, useBias: false }),
      tf.layers.dense({ units: 1, activation: 'sigmoid' }),
    ]),
    'elu -> tanh -> relu6 -> linear': mlp([
      tf.layers.dense({ inputShape: [20], units: 12, activation: 'elu' }),
      tf.layers.dense({ units: 12, activation: 'tanh' }),
      tf.layers.dense({ units: 12, activation: 'relu6' }),
      tf.layers.dense({ units: 3 }),
    ]),
  };
  for (const [name, model] of Object.entries(models)) {
    const forward = denseStack(model);
    assert.ok(forward, `${name}: a Dense stack`);
    for (const zeros of [0, 0.8]) {
      const x = inputs(7, 20, zeros);
      const read = (compute: () => tf.Tensor) => {
        const y = tf.tidy(compute);
        const values = Array.from(y.dataSync());
        y.dispose();
        return values;
      };
      const expected = read(() => model.predict(x) as tf.Tensor);
      const tensors = tf.memory().numTensors;
      const actual = read(() => forward(x));
      assert.equal(tf.memory().numTensors, tensors, `${name}: no tensors left behind`);
      assert.deepEqual(actual, expected, `${name}, ${zeros * 100}% zeros`);
      x.dispose();
    }
    model.dispose();
  }
});

test('the seam hands predict a Dense stack only with the accelerations on', () => {
  const model = mlp([
    tf.layers.dense({ inputShape: [6], units: 4, activation: 'relu' }),
    tf.layers.dense({ units: 2 }),
  ]);
  const { mode } = accelerations();
  assert.equal(mode, testBackend()[1]);
  assert.equal(
    typeof accelerations().denseStack(model),
    mode === 'auto' ? 'function' : 'undefined',
    `TFJS_ACCELERATION=${mode}`,
  );
  model.dispose();
});

test('other models are left to the layers API', () => {
  const withDropout = mlp([
    tf.layers.dense({ inputShape: [4], units: 4 }),
    tf.layers.dropout({ rate: 0.5 }),
    tf.layers.dense({ units: 2 }),
  ]);
  const onSequences = mlp([tf.layers.dense({ inputShape: [3, 4], units: 2 })]);
  const input = tf.input({ shape: [4] });
  const functional = tf.model({
    inputs: input,
    outputs: tf.layers.dense({ units: 2 }).apply(input) as tf.SymbolicTensor,
  });
  for (const [name, model] of Object.entries({ withDropout, onSequences, functional })) {
    assert.equal(denseStack(model), undefined, name);
    model.dispose();
  }
});
