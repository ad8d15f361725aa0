import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/compute/backend.ts';
import { planJob } from '../src/training/plan.ts';
import { train } from '../src/training/train.ts';
import { smallMnistJob } from './helpers.ts';

/** Why tfjs-node cannot load here, or undefined when it can. */
function tfjsNodeMissing(): string | undefined {
  try {
    createRequire(import.meta.url)('@tensorflow/tfjs-node');
    return undefined;
  } catch (err) {
    return (err as Error).message.split('\n')[0];
  }
}

const missing = tfjsNodeMissing();
const skip = missing
  ? `@tensorflow/tfjs-node does not load on this machine (${missing}); it is an optionalDependency whose install downloads libtensorflow. Where it installs, this test checks that the service picks and trains on it.`
  : false;

test('with tfjs-node installed, the automatic choice is the native backend, and the MNIST network trains on it', {
  skip,
}, async () => {
  assert.equal(await initBackend('auto'), 'tensorflow');
  assert.equal(tf.getBackend(), 'tensorflow');
  const request = smallMnistJob({ fit: { epochs: 1, batchSize: 64, validationSplit: 0, shuffle: true, seed: 1 } });
  const events: number[] = [];
  const result = await train(
    planJob(request),
    request.data,
    {
      epoch: async (report) => void events.push(report.metrics.loss),
      batch: async () => undefined,
      evaluation: async () => undefined,
    },
    'tfjs-node-test',
  );
  try {
    assert.equal(events.length, 1);
    assert.ok(Number.isFinite(events[0]) && events[0] < 2.3, `loss after one epoch: ${events[0]}`);
    const accuracy = result.evaluation?.acc as number | undefined;
    assert.ok((accuracy ?? 0) > 0.5, `test accuracy ${accuracy}`);
  } finally {
    result.model.dispose();
  }
  // Its matmul agrees with the plain-JS reference.
  const a = tf.randomNormal([64, 100], 0, 1, 'float32', 1);
  const b = tf.randomNormal([100, 32], 0, 1, 'float32', 2);
  const native = tf.matMul(a, b, false, false).dataSync();
  await tf.setBackend('cpu');
  const reference = tf
    .matMul(tf.randomNormal([64, 100], 0, 1, 'float32', 1), tf.randomNormal([100, 32], 0, 1, 'float32', 2))
    .dataSync();
  for (const [i, v] of native.entries()) assert.ok(Math.abs(v - reference[i]) < 1e-3, `element ${i}`);
});
