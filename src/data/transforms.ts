import * as tf from '@tensorflow/tfjs';
import { AppError, type FieldError } from '../errors.ts';
import { own } from '../json-guard.ts';
import type { InputTransforms, LabelTransforms } from '../schemas/job-request.ts';
import type { ImageSpec } from './image-spec.ts';
import { sizeOf, type DataDescription, type NumericArray } from './types.ts';
import type { TextSettings, TextVectorization } from './text-vectorizer.ts';
import { textInstances } from './text-instances.ts';

/** The transforms a model was trained with; stored with it and re-applied at predict. */
export interface Transforms {
  /** Shape of one raw sample, as the dataset stores it. */
  featureShape: number[];
  inputs: InputTransforms;
  labels: LabelTransforms;
  /** Feature column names of tabular data: predict also takes records keyed by them. */
  features?: string[];
  /** Class names of text labels, by class index: predict answers with them. */
  classNames?: string[];
  /** Text feature columns and their classes: predict one-hot encodes their values the same way. */
  categories?: Record<string, string[]>;
  /** Models of image-folder data: predict decodes `{"b64": …}` instances into pixels this way. */
  image?: ImageSpec;
  /**
   * data.text: how the text column becomes the first values of a sample; the plan holds the
   * settings, training adds the vocabulary (and idf) learned on the training rows.
   */
  text?: TextSettings | TextVectorization;
  /** Per-feature statistics of the training split, for `standardize` or `minMax`. */
  statistics?: { mean?: number[]; std?: number[]; min?: number[]; max?: number[] };
}

/**
 * Computes the statistics `standardize`/`minMax` need over the training rows only (`rows`,
 * or all `count` samples), so nothing of the validation or test data leaks into training.
 */
export function fitStatistics(t: Transforms, x: NumericArray, count: number, rows?: ArrayLike<number>): Transforms {
  // Statistics already set are a parent model's (fine-tuning): they are kept.
  if (t.statistics || (!t.inputs.standardize && !t.inputs.minMax)) return t;
  const statistics = new FeatureStatistics(sizeOf(t.featureShape));
  statistics.add(x, rows ?? { length: count }, rows ? (i) => rows[i] : (i) => i);
  return statistics.apply(t);
}

/** Per-feature sums, squares and extremes, added block by block (data streamed from disk too). */
export class FeatureStatistics {
  private readonly sum: Float64Array;
  private readonly sq: Float64Array;
  private readonly min: number[];
  private readonly max: number[];
  private n = 0;

  constructor(private readonly per: number) {
    this.sum = new Float64Array(per);
    this.sq = new Float64Array(per);
    this.min = new Array<number>(per).fill(Infinity);
    this.max = new Array<number>(per).fill(-Infinity);
  }

  /** Adds the samples `row(0..rows.length-1)` of `x` (count x per values). */
  add(x: NumericArray, rows: { length: number }, row: (i: number) => number = (i) => i) {
    const { per } = this;
    for (let i = 0; i < rows.length; i++) {
      const base = row(i) * per;
      for (let j = 0; j < per; j++) {
        const v = x[base + j];
        this.sum[j] += v;
        this.sq[j] += v * v;
        if (v < this.min[j]) this.min[j] = v;
        if (v > this.max[j]) this.max[j] = v;
      }
    }
    this.n += rows.length;
  }

  /** The transforms with the statistics their options ask for. */
  apply(t: Transforms): Transforms {
    if (t.inputs.minMax) return { ...t, statistics: { min: [...this.min], max: [...this.max] } };
    if (!t.inputs.standardize) return t;
    const n = Math.max(this.n, 1);
    const mean = Array.from(this.sum, (s) => s / n);
    const std = Array.from(this.sq, (s, j) => Math.sqrt(Math.max(s / n - mean[j] * mean[j], 0)));
    return { ...t, statistics: { mean, std } };
  }
}

/** Shape of one sample as the model sees it. */
export const modelInputShape = (t: Transforms) =>
  t.inputs.reshape ?? (t.featureShape.length > 0 ? t.featureShape : [1]);

/** Shape of one label as the loss sees it. */
export function targetShape(data: DataDescription, labels: LabelTransforms): number[] {
  if (labels.oneHot) return [labels.oneHot];
  return data.labelShape.length > 0 ? data.labelShape : [1];
}

/** Transform options that cannot apply to this data, each named by its path. */
export function transformErrors(data: DataDescription, inputs: InputTransforms, labels: LabelTransforms): FieldError[] {
  const errors: FieldError[] = [];
  if (inputs.standardize && inputs.minMax)
    errors.push({ path: '/data/inputs/minMax', message: 'cannot be combined with standardize: choose one' });
  if (inputs.reshape && sizeOf(inputs.reshape) !== sizeOf(data.featureShape)) {
    errors.push({
      path: '/data/inputs/reshape',
      message: `[${inputs.reshape}] holds ${sizeOf(inputs.reshape)} values but each sample has ${sizeOf(data.featureShape)} (shape [${data.featureShape}])`,
    });
  }
  if (labels.oneHot !== undefined) {
    if (data.labelShape.length > 0 || data.numClasses === undefined) {
      errors.push({
        path: '/data/labels/oneHot',
        message: 'needs labels that are single non-negative whole numbers (class indices)',
      });
    } else if (data.numClasses > labels.oneHot) {
      errors.push({
        path: '/data/labels/oneHot',
        message: `is ${labels.oneHot} but the labels go up to ${data.numClasses - 1}`,
      });
    }
  }
  return errors;
}

/** Features of `count` samples as a float32 tensor [count, ...inputShape], scaled. */
export function featuresTensor(x: NumericArray, count: number, t: Transforms): tf.Tensor {
  const stats = t.statistics;
  if (!(stats?.mean && stats.std) && !(stats?.min && stats.max)) {
    // Scale while widening to float32 (MNIST: 188 MB), so the backend never holds the raw and
    // the scaled copy at once; the wasm heap keeps its high-water mark for good. fround makes
    // each product the float32 multiply the backend would have done.
    const scale = Math.fround(t.inputs.scale ?? 1);
    let flat = x instanceof Float32Array ? x : Float32Array.from(x);
    if (scale !== 1) {
      const scaled = flat === x ? new Float32Array(flat.length) : flat;
      for (let i = 0; i < flat.length; i++) scaled[i] = flat[i] * scale;
      flat = scaled;
    }
    return tf.tensor(flat, [count, ...modelInputShape(t)], 'float32');
  }
  return tf.tidy(() => {
    const flat = x instanceof Float32Array ? x : Float32Array.from(x);
    let tensor = tf.tensor(flat, [count, sizeOf(t.featureShape)], 'float32');
    if (stats?.mean && stats.std) {
      tensor = tensor.sub(tf.tensor1d(stats.mean)).div(tf.tensor1d(stats.std.map((s) => (s > 0 ? s : 1))));
    } else if (stats?.min && stats.max) {
      tensor = tensor
        .sub(tf.tensor1d(stats.min))
        .div(tf.tensor1d(stats.max.map((m, j) => (m - stats.min![j] > 0 ? m - stats.min![j] : 1))));
    }
    tensor = tensor.reshape([count, ...modelInputShape(t)]);
    return t.inputs.scale !== undefined && t.inputs.scale !== 1 ? tensor.mul(t.inputs.scale) : tensor;
  });
}

/** Labels of `count` samples as the loss wants them: one-hot, or as stored. */
export function labelsTensor(
  y: NumericArray,
  count: number,
  data: DataDescription,
  labels: LabelTransforms,
): tf.Tensor {
  return tf.tidy(() => {
    if (labels.oneHot) return tf.oneHot(tf.tensor1d(Int32Array.from(y), 'int32'), labels.oneHot).toFloat();
    return tf.tensor(
      y instanceof Float32Array ? y : Float32Array.from(y),
      [count, ...targetShape(data, labels)],
      'float32',
    );
  });
}

/**
 * Predict instances in the dataset's raw form: each a flat list or nested arrays holding
 * exactly one sample's values. Anything else is a 400 that states the expected shape.
 */
export function instancesTensor(instances: unknown[], t: Transforms): tf.Tensor {
  if (t.text)
    return featuresTensor(
      textInstances(instances, t, (raw, i) => encodeCategories(recordToRow(raw, t.features), t, i)),
      instances.length,
      t,
    );
  const per = sizeOf(t.featureShape);
  const values = new Float32Array(instances.length * per);
  const errors: FieldError[] = [];
  const columnOf = valueColumns(t, per);
  instances.forEach((raw, i) => {
    const instance = encodeCategories(recordToRow(raw, t.features), t, i);
    const flat = [instance].flat(Infinity as 1) as unknown[];
    if (flat.length !== per) {
      errors.push({
        path: `/instances/${i}`,
        message: `has ${flat.length} values; the model expects ${per} (shape [${t.featureShape}])`,
      });
      return;
    }
    for (let j = 0; j < per; j++) {
      const v = flat[j];
      if (typeof v !== 'number' || !Number.isFinite(v)) {
        errors.push({
          path: `/instances/${i}`,
          message: `${columnOf ? `column ${JSON.stringify(columnOf[j])}` : `value ${j}`} is ${JSON.stringify(v) ?? 'missing'}, not a finite number`,
        });
        return;
      }
      values[i * per + j] = v;
    }
  });
  if (errors.length > 0)
    throw new AppError(400, 'invalid_instances', `${errors[0].path} ${errors[0].message}`, errors.slice(0, 10));
  return featuresTensor(values, instances.length, t);
}

/** The feature column of each of a sample's `per` values (a text column spans its one-hot group), if the features are known. */
function valueColumns(t: Transforms, per: number): string[] | undefined {
  const columns = t.features?.flatMap((name) => Array<string>(own(t.categories, name)?.length ?? 1).fill(name));
  return columns?.length === per ? columns : undefined;
}

/** A record `{column: value}` of tabular data becomes its feature values in column order. */
function recordToRow(instance: unknown, features: string[] | undefined): unknown {
  if (!features || typeof instance !== 'object' || instance === null || Array.isArray(instance)) return instance;
  const record = instance as Record<string, unknown>;
  // Own keys only: a column named `toString` must not find Object.prototype.toString.
  return features.map((name) => own(record, name));
}

/** A raw row with text values in text feature columns: those become one-hot groups. */
function encodeCategories(row: unknown, t: Transforms, i: number): unknown {
  const { features, categories } = t;
  if (!features || !categories || !Array.isArray(row) || row.length !== features.length) return row;
  return row.flatMap((value, j) => {
    const classes = own(categories, features[j]);
    if (!classes) return [value];
    const index = classes.indexOf(String(value));
    if (index < 0) {
      const message = `column ${JSON.stringify(features[j])} is ${JSON.stringify(value)}; the model knows ${classes.slice(0, 10).join(', ')}`;
      throw new AppError(400, 'invalid_instances', `/instances/${i} ${message}`, [
        { path: `/instances/${i}`, message },
      ]);
    }
    return classes.map((_, k) => (k === index ? 1 : 0));
  });
}
