import { loadConfig, type Config } from '../config.ts';
import { invalidDataset } from './upload-errors.ts';

/** The caps an upload is held to while it streams in (see DATASET_MAX_* in config.ts). */
export interface IngestLimits {
  /** Columns of a CSV or of JSON records (DATASET_MAX_COLUMNS). */
  maxColumns: number;
  /** Characters of one cell, text value or column name (DATASET_MAX_CELL_CHARS). */
  maxCellChars: number;
  /** Characters of one cell of a raw-text column (DATASET_MAX_TEXT_CHARS). */
  maxTextChars: number;
  /** Columns the upload stores as raw text (its `text` option) rather than as classes. */
  textColumns?: readonly string[];
  /** Distinct text values of one column (DATASET_MAX_CLASSES). */
  maxClasses: number;
  /** Numbers in one sample: a JSON `x`/`y` entry, an IDX item (DATASET_MAX_SAMPLE_VALUES). */
  maxSampleValues: number;
  /** Bytes of the dataset's metadata as JSON (DATASET_MAX_META_BYTES). */
  maxMetaBytes: number;
  /** Image-folder archives: files in one (DATASET_MAX_ARCHIVE_FILES). */
  maxArchiveFiles: number;
  /** Image-folder archives: bytes one entry inflates to (DATASET_MAX_IMAGE_BYTES). */
  maxImageBytes: number;
  /** Image-folder archives: bytes all entries inflate to (DATASET_MAX_ARCHIVE_BYTES). */
  maxArchiveBytes: number;
  /** Pixels of one image before it is resized (DATASET_MAX_IMAGE_PIXELS); predict's images too. */
  maxImagePixels: number;
}

export const ingestLimits = (config: Config): IngestLimits => ({
  maxColumns: config.DATASET_MAX_COLUMNS,
  maxCellChars: config.DATASET_MAX_CELL_CHARS,
  maxTextChars: config.DATASET_MAX_TEXT_CHARS,
  maxClasses: config.DATASET_MAX_CLASSES,
  maxSampleValues: config.DATASET_MAX_SAMPLE_VALUES,
  maxMetaBytes: config.DATASET_MAX_META_BYTES,
  maxArchiveFiles: config.DATASET_MAX_ARCHIVE_FILES,
  maxImageBytes: config.DATASET_MAX_IMAGE_BYTES,
  maxArchiveBytes: config.DATASET_MAX_ARCHIVE_BYTES,
  maxImagePixels: config.DATASET_MAX_IMAGE_PIXELS,
});

/** The configured defaults, for callers (benchmarks, tests) that ingest without a service config. */
export const DEFAULT_INGEST_LIMITS: IngestLimits = ingestLimits(loadConfig({}));

/** What one column's description costs in the metadata besides its name and classes (type, shape, file, statistics). */
export const COLUMN_META_BYTES = 100;
/** What one class costs in the metadata besides its name (`{"name":…,"count":…}`). */
export const CLASS_META_BYTES = 32;

/** JSON bytes of a text as it will be stored. */
export const jsonBytes = (text: string) => Buffer.byteLength(JSON.stringify(text));

/**
 * A running estimate of the metadata an upload will produce (column names, class names), so
 * an upload that would produce too much is refused at the row that crosses the cap, before
 * its class tables grow in memory. The exact size is checked again when the upload is stored.
 */
export class MetaBudget {
  used = 0;
  constructor(readonly max: number) {}

  /** Adds `bytes` for what `path` names; a 400 naming it once the total is over the cap. */
  charge(bytes: number, path: string, what: string) {
    this.used += bytes;
    if (this.used > this.max) {
      throw invalidDataset(
        path,
        `${what} takes the dataset's metadata over ${this.max} bytes (DATASET_MAX_META_BYTES): too many or too long column or class names`,
      );
    }
  }
}
