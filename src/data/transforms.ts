import * as tf from '@tensorflow/tfjs';
import { AppError, type FieldError } from '../errors.ts';
import type { InputTransforms, LabelTransforms } from '../schemas/job-request.ts';
import { sizeOf, type DataDescription, type NumericArray } from './types.ts';

/** The transforms a model was trained with; stored with it and re-applied at predict. */
export interface Transforms {
  /** Shape of one raw sample, as the dataset stores it. */
  featureShape: number[];
  inputs: InputTransforms;
  labels: LabelTransforms;
}

/** Shape of one sample as the model sees it. */
export const modelInputShape = (t: Transforms) => t.inputs.reshape ?? (t.featureShape.length > 0 ? t.featureShape : [1]);

/** Shape of one label as the loss sees it. */
export function targetShape(data: DataDescription, labels: LabelTransforms): number[] {
  if (labels.oneHot) return [labels.oneHot];
  return data.labelShape.length > 0 ? data.labelShape : [1];
}

/** Transform options that cannot apply to this data, each named by its path. */
export function transformErrors(data: DataDescription, inputs: InputTransforms, labels: LabelTransforms): FieldError[] {
  const errors: FieldError[] = [];
  if (inputs.reshape && sizeOf(inputs.reshape) !== sizeOf(data.featureShape)) {
    errors.push({
      path: '/data/inputs/reshape',
      message: `[${inputs.reshape}] holds ${sizeOf(inputs.reshape)} values but each sample has ${sizeOf(data.featureShape)} (shape [${data.featureShape}])`,
    });
  }
  if (labels.oneHot !== undefined) {
    if (data.labelShape.length > 0 || data.numClasses === undefined) {
      errors.push({ path: '/data/labels/oneHot', message: 'needs labels that are single non-negative whole numbers (class indices)' });
    } else if (data.numClasses > labels.oneHot) {
      errors.push({ path: '/data/labels/oneHot', message: `is ${labels.oneHot} but the labels go up to ${data.numClasses - 1}` });
    }
  }
  return errors;
}

/** Features of `count` samples as a float32 tensor [count, ...inputShape], scaled. */
export function featuresTensor(x: NumericArray, count: number, t: Transforms): tf.Tensor {
  return tf.tidy(() => {
    const flat = x instanceof Float32Array ? x : Float32Array.from(x);
    const tensor = tf.tensor(flat, [count, ...modelInputShape(t)], 'float32');
    return t.inputs.scale !== undefined && t.inputs.scale !== 1 ? tensor.mul(t.inputs.scale) : tensor;
  });
}

/** Labels of `count` samples as the loss wants them: one-hot, or as stored. */
export function labelsTensor(y: NumericArray, count: number, data: DataDescription, labels: LabelTransforms): tf.Tensor {
  return tf.tidy(() => {
    if (labels.oneHot) return tf.oneHot(tf.tensor1d(Int32Array.from(y), 'int32'), labels.oneHot).toFloat();
    return tf.tensor(y instanceof Float32Array ? y : Float32Array.from(y), [count, ...targetShape(data, labels)], 'float32');
  });
}

/**
 * Predict instances in the dataset's raw form: each a flat list or nested arrays holding
 * exactly one sample's values. Anything else is a 400 that states the expected shape.
 */
export function instancesTensor(instances: unknown[], t: Transforms): tf.Tensor {
  const per = sizeOf(t.featureShape);
  const values = new Float32Array(instances.length * per);
  const errors: FieldError[] = [];
  instances.forEach((instance, i) => {
    const flat = [instance].flat(Infinity as 1) as unknown[];
    if (flat.length !== per) {
      errors.push({ path: `/instances/${i}`, message: `has ${flat.length} values; the model expects ${per} (shape [${t.featureShape}])` });
      return;
    }
    for (let j = 0; j < per; j++) {
      const v = flat[j];
      if (typeof v !== 'number' || !Number.isFinite(v)) {
        errors.push({ path: `/instances/${i}`, message: `value ${j} is ${JSON.stringify(v)}, not a finite number` });
        return;
      }
      values[i * per + j] = v;
    }
  });
  if (errors.length > 0) throw new AppError(400, 'invalid_instances', `${errors[0].path} ${errors[0].message}`, errors.slice(0, 10));
  return featuresTensor(values, instances.length, t);
}
