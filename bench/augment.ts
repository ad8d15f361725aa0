/**
 * What data.augment costs per epoch of MNIST-sized batches (28×28×1, batch 32, 60,000 images):
 *   npx tsx bench/augment.ts            (TFJS_BACKEND=cpu for the plain-JS backend; BENCH_IMAGES=N)
 * Times the augmenter alone over one epoch of batches, for flip only and for all four
 * transforms in each fill mode, next to one epoch of the MNIST dense network's training steps
 * (784-512-10, rmsprop) on the same batches, so the overhead reads as a fraction of an epoch.
 */
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/compute/backend.ts';
import type { AugmentSpec } from '../src/schemas/augment.ts';
import { Augmenter, planAugmentation } from '../src/training/augmentation.ts';

const backend = await initBackend((process.env.TFJS_BACKEND as 'wasm' | 'cpu' | undefined) ?? 'wasm');
const images = Number(process.env.BENCH_IMAGES ?? 60_000);
const batchSize = 32;
const batches = Math.ceil(images / batchSize);
const batch = tf.randomUniform([batchSize, 28, 28, 1]);

function epochSeconds(spec: AugmentSpec): number {
  const augmenter = new Augmenter(planAugmentation(spec, [28, 28, 1])!, 1);
  augmenter.apply(batch).dispose(); // warm-up
  const start = performance.now();
  for (let b = 0; b < batches; b++) {
    const out = augmenter.apply(batch);
    out.dataSync(); // the kernels run when the data is read, as a training step would
    out.dispose();
  }
  return (performance.now() - start) / 1000;
}

const model = tf.sequential({
  layers: [
    tf.layers.flatten({ inputShape: [28, 28, 1] }),
    tf.layers.dense({ units: 512, activation: 'relu' }),
    tf.layers.dense({ units: 10, activation: 'softmax' }),
  ],
});
model.compile({ optimizer: tf.train.rmsprop(0.001), loss: 'categoricalCrossentropy' });
const labels = tf.oneHot(tf.zeros([batchSize], 'int32'), 10).toFloat();
await model.trainOnBatch(batch, labels);
let start = performance.now();
for (let b = 0; b < batches; b++) await model.trainOnBatch(batch, labels);
const training = (performance.now() - start) / 1000;

console.log(`${backend}, ${batches} batches of ${batchSize}×28×28×1 (one epoch of ${images} images)`);
console.log(`training steps (784-512-10 dense, rmsprop): ${training.toFixed(2)} s`);
const cases: [string, AugmentSpec][] = [
  ['flip horizontal', { flip: 'horizontal' }],
  ['all four, reflect', { flip: 'horizontal', rotation: 0.1, zoom: 0.1, translation: 0.1 }],
  ['all four, constant', { flip: 'horizontal', rotation: 0.1, zoom: 0.1, translation: 0.1, fillMode: 'constant' }],
  ['all four, nearest', { flip: 'horizontal', rotation: 0.1, zoom: 0.1, translation: 0.1, fillMode: 'nearest' }],
];
for (const [name, spec] of cases) {
  start = performance.now();
  const seconds = epochSeconds(spec);
  console.log(
    `augment ${name}: ${seconds.toFixed(2)} s (${((seconds / training) * 100).toFixed(0)}% of the training steps)`,
  );
}
