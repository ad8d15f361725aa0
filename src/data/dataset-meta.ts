/** What is stored about an uploaded dataset, beside its column files. */

import type { ImageSpec } from './image-spec.ts';

export type ColumnType = 'numeric' | 'string' | 'text';
export type ColumnDtype = 'float32' | 'uint8';

export interface ClassCount {
  name: string;
  count: number;
}

export interface ColumnInfo {
  name: string;
  /** `string` columns are stored as codes: the index of the value in `classes`; `text` columns as raw UTF-8 (`data.text`). */
  type: ColumnType;
  /** Shape of one row's value: [] for a CSV cell, [28, 28] for an IDX image. */
  shape: number[];
  dtype: ColumnDtype;
  /** Server-chosen file name inside the dataset directory (`text` columns: their UTF-8 bytes, row after row). */
  file: string;
  /** `text` columns: the file of row end offsets into `file` (float64, one per row). */
  offsets?: string;
  /** `text` columns: the longest row, in characters. */
  maxChars?: number;
  min?: number;
  max?: number;
  mean?: number;
  /**
   * String columns: every distinct value in code order with its count. Numeric scalar
   * columns of few distinct whole numbers (class indices): those values, ascending.
   */
  classes?: ClassCount[];
}

export type DatasetFormat = 'csv' | 'json' | 'idx' | 'images';

export interface DatasetMeta {
  id: string;
  name: string;
  /** The tenant that uploaded it; absent on built-ins. */
  tenant?: string;
  format: DatasetFormat;
  rows: number;
  columns: ColumnInfo[];
  /** Default label column; a job may name another. */
  label: string;
  /** Default feature columns: all but the label. */
  features: string[];
  /** Shape of one sample's features with the default columns. */
  featureShape: number[];
  /** Image-folder uploads: how an image became the `image` column's pixels (predict decodes images the same way). */
  image?: ImageSpec;
  /** Bytes stored: the column files, and this metadata twice (meta.json and Redis); what the tenant's quota counts. */
  bytes: number;
  createdAt: string;
}

/**
 * A dataset found in the store, with the directory its column files live in on this machine:
 * set by `DatasetStore.open` (which fetches them when the store is remote), empty in the
 * catalog the API plans with, which reads metadata only.
 */
export interface StoredDataset {
  meta: DatasetMeta;
  dir: string;
}

/** Uploaded datasets a job names, looked up before planning (the planner itself is synchronous). */
export type DatasetCatalog = ReadonlyMap<string, StoredDataset> & { memoryLimitBytes?: number };

export const DTYPE_BYTES: Record<ColumnDtype, number> = { float32: 4, uint8: 1 };
