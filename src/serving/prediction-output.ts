import * as tf from '@tensorflow/tfjs';
import { sizeOf } from '../data/types.ts';
import { AppError, type FieldError } from '../errors.ts';
import type { ModelMeta } from '../storage/model-store.ts';

/** What predict answers for one request. */
export interface Prediction {
  predictions: unknown[];
  /** Class indices: one per instance, or nested per step for sequence outputs. */
  classes?: unknown[];
  /** Class names, for models trained on text labels, shaped like `classes`. */
  labels?: unknown[];
}

/** A softmax/sigmoid-free multi-output model can still be a classifier; the loss says so. */
function isClassifier(meta: ModelMeta): boolean {
  return (
    ['categoricalCrossentropy', 'sparseCategoricalCrossentropy'].includes(meta.compile.loss) &&
    (meta.summary.outputShape.at(-1) ?? 0) > 1
  );
}

/** Binary crossentropy with one output is a binary classifier: class 1 when the output is >= 0.5. */
const isBinary = (meta: ModelMeta) =>
  meta.compile.loss === 'binaryCrossentropy' &&
  meta.summary.outputShape.length === 2 &&
  meta.summary.outputShape[1] === 1;

/**
 * Each request's predictions (and classes, labels) from one read of the batch's outputs.
 * Classes are found here rather than by another kernel and read: argmax takes the first of
 * equal maxima, as tf.argMax does.
 */
export function splitOutputs(meta: ModelMeta, output: tf.Tensor, counts: number[]): Prediction[] {
  const values = output.dataSync() as Float32Array;
  const inner = output.shape.slice(1);
  const per = sizeOf(inner);
  const kind = isClassifier(meta) ? 'argmax' : isBinary(meta) ? 'threshold' : undefined;
  let offset = 0;
  return counts.map((count) => {
    const predictions: unknown[] = [];
    const classes: unknown[] = [];
    for (let i = 0; i < count; i++, offset += per) {
      const instance = values.subarray(offset, offset + per);
      predictions.push(tf.util.toNestedArray(inner, instance));
      if (kind === 'argmax') classes.push(argmaxes(instance, inner));
      else if (kind === 'threshold') classes.push(instance[0] >= 0.5 ? 1 : 0);
    }
    return kind ? named(meta, { predictions, classes }) : { predictions };
  });
}

/** The index of the largest value along the last axis of one instance, nested like the axes before it. */
function argmaxes(instance: Float32Array, shape: number[]): unknown {
  const width = shape.at(-1)!;
  const best = new Int32Array(instance.length / width);
  for (let row = 0; row < best.length; row++) {
    const at = row * width;
    for (let j = 1; j < width; j++) if (instance[at + j] > instance[at + best[row]]) best[row] = j;
  }
  return tf.util.toNestedArray(shape.slice(0, -1), best);
}

/** Adds the class names when the model was trained on text labels. */
function named(meta: ModelMeta, prediction: Prediction): Prediction {
  const names = meta.transforms.classNames;
  if (!names || !prediction.classes) return prediction;
  const name = (c: unknown): unknown => (Array.isArray(c) ? c.map(name) : (names[c as number] ?? String(c)));
  return { ...prediction, labels: prediction.classes.map(name) };
}

/** The first NaN or ±Infinity in one instance's (nested) outputs, if any. */
function nonFinite(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? undefined : value;
  if (!Array.isArray(value)) return undefined;
  for (const inner of value) {
    const found = nonFinite(inner);
    if (found !== undefined) return found;
  }
  return undefined;
}

/**
 * JSON has no NaN or Infinity (JSON.stringify writes `null`), so a prediction holding one is a
 * 422 `non_finite_output` naming each such instance, never a 200 of nulls. Inputs far outside
 * what the model learnt (or a `scale` that takes them past float32) overflow this way.
 */
export function finiteOrThrow(prediction: Prediction): Prediction {
  const errors: FieldError[] = [];
  prediction.predictions.forEach((p, i) => {
    const found = nonFinite(p);
    if (found !== undefined)
      errors.push({
        path: `/instances/${i}`,
        message: `the model's output for it is ${found}, which JSON cannot carry; its values are likely far outside the training data's range`,
      });
  });
  if (errors.length > 0)
    throw new AppError(422, 'non_finite_output', `${errors[0].path}: ${errors[0].message}`, errors);
  return prediction;
}
