import type { DiskSource } from './disk-batches.ts';

export type NumericArray = Float32Array | Float64Array | Int32Array | Int16Array | Int8Array | Uint8Array;

/** What the dry run needs to know of a dataset, without loading it. */
export interface DataDescription {
  name: string;
  description?: string;
  /** Shape of one sample's features as stored, e.g. [28, 28] for MNIST. */
  featureShape: number[];
  /** Shape of one sample's label as stored; [] for a class index or a scalar. */
  labelShape: number[];
  /** For integer class labels: how many classes there are. */
  numClasses?: number;
  trainCount: number;
  testCount: number;
  /** Names of the classes when the labels were text (label encoding), in class-index order. */
  classNames?: string[];
  /** Names of the feature columns of tabular data, in the order the model sees them. */
  featureNames?: string[];
  /** Text feature columns: their classes, one-hot encoded in this order. */
  featureCategories?: Record<string, string[]>;
}

export interface Split {
  /** Features of every sample, flattened in order: count x product(featureShape). */
  x: NumericArray;
  /** Labels of every sample, flattened in order: count x product(labelShape). */
  y: NumericArray;
  count: number;
}

export interface LoadedData extends DataDescription {
  train: Split;
  test?: Split;
  /** Validation splits keep the class proportions of `train.y` (class-index labels). */
  stratify?: boolean;
  /**
   * Set when the training data is bigger than the in-memory limit: the splits are row sets
   * read from disk in batches, and `train`/`test` hold no values (only counts).
   */
  disk?: DiskSource;
}

export const sizeOf = (shape: number[]) => shape.reduce((a, b) => a * b, 1);
