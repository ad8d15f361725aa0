import * as tf from '@tensorflow/tfjs';
import { shuffledIndices } from '../data/split.ts';
import type { Augmenter } from './augmentation.ts';
import type { FitInput } from './fit.ts';

/**
 * Training data in memory as augmented batches for `fitDataset`: Keras's `fit` has no hook
 * between taking a batch and training on it, so the batches are made here. The shuffle is
 * seeded per epoch (`fit` shuffles with Math.random), so a seeded job repeats exactly. Each
 * batch is gathered and augmented in a tidy, so memory holds one batch beyond the data;
 * fitDataset disposes it after its step. Validation data is passed through untouched.
 */
export function augmentedMemoryInput(
  x: tf.Tensor,
  y: tf.Tensor,
  batchSize: number,
  augmenter: Augmenter,
  shuffleSeed: string | number | undefined,
  validationData?: [tf.Tensor, tf.Tensor],
): FitInput {
  const samples = x.shape[0];
  const dataset = tf.data.generator(function* () {
    const order =
      shuffleSeed === undefined
        ? Int32Array.from({ length: samples }, (_, i) => i)
        : shuffledIndices(samples, `${shuffleSeed}:shuffle:${augmenter.epoch}`);
    for (let start = 0; start < samples; start += batchSize) {
      const rows = order.subarray(start, Math.min(samples, start + batchSize));
      yield tf.tidy(() => {
        const indices = tf.tensor1d(rows, 'int32');
        return { xs: augmenter.apply(tf.gather(x, indices)), ys: tf.gather(y, indices) };
      });
    }
  });
  return {
    dataset,
    validationDataset: validationData,
    samples,
    epochBegins: (epoch) => augmenter.startEpoch(epoch),
  };
}
