import type * as tf from '@tensorflow/tfjs';
import { sizeOf } from '../data/types.ts';
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
  return ['categoricalCrossentropy', 'sparseCategoricalCrossentropy'].includes(meta.compile.loss) && (meta.summary.outputShape.at(-1) ?? 0) > 1;
}

/** Binary crossentropy with one output is a binary classifier: class 1 when the output is >= 0.5. */
const isBinary = (meta: ModelMeta) => meta.compile.loss === 'binaryCrossentropy' && meta.summary.outputShape.length === 2 && meta.summary.outputShape[1] === 1;

/**
 * Each request's predictions (and classes, labels) from one read of the batch's outputs.
 * Classes are found here rather than by another kernel and read: argmax takes the first of
 * equal maxima, as tf.argMax does.
 */
export function splitOutputs(meta: ModelMeta, output: tf.Tensor, counts: number[]): Prediction[] {
  const values = output.dataSync() as ArrayLike<number>;
  const inner = output.shape.slice(1);
  const per = sizeOf(inner);
  const kind = isClassifier(meta) ? 'argmax' : isBinary(meta) ? 'threshold' : undefined;
  let offset = 0;
  return counts.map((count) => {
    const predictions: unknown[] = [];
    const classes: unknown[] = [];
    for (let i = 0; i < count; i++, offset += per) {
      predictions.push(nested(values, offset, inner));
      if (kind === 'argmax') classes.push(argmaxes(values, offset, inner));
      else if (kind === 'threshold') classes.push(values[offset] >= 0.5 ? 1 : 0);
    }
    return kind ? named(meta, { predictions, classes }) : { predictions };
  });
}

/** Values from `offset` as nested arrays of `shape` (a scalar for an empty shape). */
function nested(values: ArrayLike<number>, offset: number, shape: number[]): unknown {
  if (shape.length === 0) return values[offset];
  const [n, ...rest] = shape;
  const step = sizeOf(rest);
  const out = new Array(n);
  for (let i = 0; i < n; i++) out[i] = rest.length === 0 ? values[offset + i] : nested(values, offset + i * step, rest);
  return out;
}

/** The index of the largest value along the last axis, nested like the axes before it. */
function argmaxes(values: ArrayLike<number>, offset: number, shape: number[]): unknown {
  if (shape.length > 1) {
    const [n, ...rest] = shape;
    const step = sizeOf(rest);
    return Array.from({ length: n }, (_, i) => argmaxes(values, offset + i * step, rest));
  }
  let best = 0;
  for (let j = 1; j < shape[0]; j++) if (values[offset + j] > values[offset + best]) best = j;
  return best;
}

/** Adds the class names when the model was trained on text labels. */
function named(meta: ModelMeta, prediction: Prediction): Prediction {
  const names = meta.transforms.classNames;
  if (!names || !prediction.classes) return prediction;
  const name = (c: unknown): unknown => (Array.isArray(c) ? c.map(name) : (names[c as number] ?? String(c)));
  return { ...prediction, labels: prediction.classes.map(name) };
}
