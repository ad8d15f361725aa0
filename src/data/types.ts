import type { ColumnInfo } from './dataset-meta.ts';
import type { ImageSpec } from './image-spec.ts';
import type { TextSettings } from './text-vectorizer.ts';

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
  /** Image-folder data learning from its image column: how images became its pixels. */
  image?: ImageSpec;
  /** data.text: how the text column becomes the first values of each sample (the vocabulary is learned in training). */
  text?: TextSettings;
}

export interface Split {
  /** Features of every sample, flattened in order: count x product(featureShape). */
  x: NumericArray;
  /** Labels of every sample, flattened in order: count x product(labelShape). */
  y: NumericArray;
  count: number;
  /**
   * data.text: each sample's document. `x` then holds only the other feature columns
   * (count x the rest), until `vectorizeText` puts the text's values in front of them.
   */
  texts?: string[];
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

/** How a feature column becomes model input: text columns one-hot, their codes mapped to the training dataset's. */
export interface Encoding {
  oneHot?: number;
  codeMap?: Float32Array;
}

/** Rows of a stored dataset to read, and which columns are features and label. */
export interface RowSet {
  dir: string;
  features: ColumnInfo[];
  label: ColumnInfo;
  /** Row numbers, ascending. */
  rows: Int32Array;
  /** Test datasets: their label codes mapped to the training dataset's classes. */
  codeMap?: Float32Array;
  /** Per feature column: one-hot text columns (and their code maps), aligned with `features`. */
  encodings?: Encoding[];
}

/** A dataset too big to load whole: its splits as row sets, read block by block when training. */
export interface DiskSource {
  train: RowSet;
  test?: RowSet;
}
