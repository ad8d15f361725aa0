import * as tf from '@tensorflow/tfjs';
import { featuresTensor } from '../data/transforms.ts';
import { sizeOf } from '../data/types.ts';
import type { Prediction } from './prediction-output.ts';
import type { Loaded } from './loaded-model.ts';

/** One request waiting for the next forward pass of its model. */
export interface Waiting {
  /** The instances as numbers (the common case), or as a tensor made by the general path. */
  input: Float32Array | tf.Tensor;
  count: number;
  resolve: (p: Prediction) => void;
  reject: (err: unknown) => void;
  /** Already moved to a later pass once (see `carryOver`): it is not moved again. */
  carried?: boolean;
}

/** The requests for one model that its next forward pass will take. */
export interface Batch {
  loaded: Loaded;
  waiting: Waiting[];
  instances: number;
}

export /** The batch's instances as one model input: one upload and one transform pass when all came as numbers. */
function batchInput(batch: Batch, temporaries: tf.Tensor[]): tf.Tensor {
  const { transforms } = batch.loaded.meta;
  const inputs = batch.waiting.map((w) => w.input);
  let input: tf.Tensor;
  if (inputs.every((i) => i instanceof Float32Array)) {
    const values =
      inputs.length === 1 ? inputs[0] : new Float32Array(batch.instances * sizeOf(transforms.featureShape));
    if (values !== inputs[0]) {
      let offset = 0;
      for (const part of inputs) {
        values.set(part, offset);
        offset += part.length;
      }
    }
    input = featuresTensor(values, batch.instances, transforms);
  } else {
    const tensors = batch.waiting.map((w) =>
      w.input instanceof tf.Tensor ? w.input : featuresTensor(w.input, w.count, transforms),
    );
    temporaries.push(...tensors.filter((t) => !inputs.includes(t)));
    input = tensors.length === 1 ? tensors[0] : tf.concat(tensors);
  }
  if (!temporaries.includes(input)) temporaries.push(input);
  return input;
}
