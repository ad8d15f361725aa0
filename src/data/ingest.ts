import { Transform, type Readable } from 'node:stream';
import { AppError } from '../errors.ts';
import { readCsv } from './csv-reader.ts';
import type { ColumnInfo, DatasetFormat, DatasetMeta } from './dataset-meta.ts';
import { readIdx } from './idx-reader.ts';
import { LABEL_COLUMN, readImageFolders } from './image-folders.ts';
import { DEFAULT_IMAGE_SPEC, type ImageSpec } from './image-spec.ts';
import { DEFAULT_INGEST_LIMITS, type IngestLimits } from './ingest-limits.ts';
import { readJson } from './json-reader.ts';
import { invalidDataset } from './upload-errors.ts';
import { hiddenCharacter, HIDDEN_CHARACTERS_RULE, quoteText } from '../schemas/common.ts';

export interface UploadOptions {
  name?: string;
  format?: DatasetFormat;
  /** Default label column. */
  label?: string;
  delimiter?: string;
  /** Columns of a CSV or of JSON records stored as raw text (for a job's `data.text`), not as classes. */
  text?: string[];
  /** Image-folder archives: the form fields imageSize, colorMode, cropToAspectRatio (Keras's defaults otherwise). */
  image?: Partial<ImageSpec>;
  /** JSON uploads: deepest nesting of arrays and objects (MAX_JSON_DEPTH). */
  maxJsonDepth?: number;
  /** Caps on columns, cells, classes, samples and metadata (DATASET_MAX_*). */
  limits?: IngestLimits;
}

export type DatasetContent = Omit<DatasetMeta, 'id' | 'bytes' | 'createdAt'>;

/** Passes bytes through and fails with 413 once more than `limit` went by. */
export function byteLimit(limit: number, what = 'the upload'): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      seen += chunk.length;
      if (seen > limit)
        done(
          new AppError(
            413,
            'upload_too_large',
            `${what} exceeds ${limit} bytes; the limit is set by DATASET_UPLOAD_LIMIT_BYTES`,
          ),
        );
      else done(null, chunk);
    },
  });
}

const interrupted = (err: Error) =>
  new AppError(400, 'upload_interrupted', `the upload could not be read to its end: ${err.message}`);

/**
 * Wires `source` through `limit` so an error on either side reaches the reader. The source
 * failing (the client went away, a form that breaks off) is the upload's fault, not ours: a
 * 400 (`failure`) naming what happened, unless it already is an answer of its own.
 */
export function limited(source: Readable, limit: Transform, failure = interrupted): Readable {
  source.on('error', (err) => limit.destroy(err instanceof AppError ? err : failure(err)));
  // Its reader takes the error (a parser's source, an iterator); one that fails before it
  // starts reading must not leave an 'error' without a listener, which would end the process.
  limit.on('error', () => undefined);
  return source.pipe(limit);
}

/** Parses one tabular upload (CSV or JSON) into column files in `dir`. */
export async function ingestTable(
  format: 'csv' | 'json',
  source: Readable,
  dir: string,
  options: UploadOptions,
): Promise<DatasetContent> {
  const limits = { ...(options.limits ?? DEFAULT_INGEST_LIMITS), textColumns: options.text };
  const { rows, columns } =
    format === 'csv'
      ? await readCsv(source, dir, { delimiter: options.delimiter, limits })
      : await readJson(source, dir, options.maxJsonDepth, limits);
  // Tables check `text` against their header; JSON {x, y} has no columns to keep as text.
  options.text?.forEach((name, i) => {
    if (!columns.some((c) => c.name === name && c.type === 'text'))
      throw invalidDataset(
        `/text/${i}`,
        `names no column kept as text: ${JSON.stringify(name)} (records and CSV only)`,
      );
  });
  const defaultLabel =
    columns.some((c) => c.name === 'y') && columns.length === 2 && columns[0].name === 'x'
      ? 'y'
      : columns[columns.length - 1].name;
  return content(options.name ?? `${format}-dataset`, format, rows, columns, options.label ?? defaultLabel, limits);
}

/** A zip, tar or tar.gz of class folders of images (see `readImageFolders`). */
export async function ingestImages(source: Readable, dir: string, options: UploadOptions): Promise<DatasetContent> {
  const limits = options.limits ?? DEFAULT_INGEST_LIMITS;
  const spec: ImageSpec = { ...DEFAULT_IMAGE_SPEC, ...options.image };
  const { rows, columns } = await readImageFolders(source, dir, spec, limits);
  const name = options.name ?? 'image-dataset';
  return { ...content(name, 'images', rows, columns, options.label ?? LABEL_COLUMN, limits), image: spec };
}

/** IDX image/label files, as MNIST is published: each a stream, read one after the other. */
export class IdxIngest {
  private readonly parts = new Map<'images' | 'labels', ColumnInfo & { rows: number }>();
  /** `maxBytes` bounds each file after gunzip too. */
  constructor(
    private readonly dir: string,
    private readonly maxBytes = Infinity,
    private readonly limits = DEFAULT_INGEST_LIMITS,
  ) {}

  async add(field: string, source: Readable) {
    const role =
      field === 'images' || field === 'x' ? 'images' : field === 'labels' || field === 'y' ? 'labels' : undefined;
    if (!role) throw invalidDataset(`/${field}`, 'IDX uploads take two files, in the fields "images" and "labels"');
    if (this.parts.has(role)) throw invalidDataset(`/${field}`, `a second ${role} file`);
    this.parts.set(role, await readIdx(source, this.dir, role, this.maxBytes, this.limits.maxSampleValues));
  }

  finish(options: UploadOptions): DatasetContent {
    const images = this.parts.get('images');
    const labels = this.parts.get('labels');
    if (!images || !labels)
      throw invalidDataset(
        images ? '/labels' : '/images',
        'is missing: IDX uploads take an images file and a labels file',
      );
    if (images.rows !== labels.rows) {
      throw invalidDataset(
        '/labels',
        `holds ${labels.rows} labels but the images file holds ${images.rows} images: the IDX counts disagree`,
      );
    }
    const strip = ({ rows: _rows, ...info }: ColumnInfo & { rows: number }): ColumnInfo => info;
    return content(
      options.name ?? 'idx-dataset',
      'idx',
      images.rows,
      [strip(images), strip(labels)],
      options.label ?? 'labels',
      this.limits,
    );
  }
}

/**
 * Column names and text values (class names) are shown back (dataset pages, model records,
 * predict labels): the same hidden characters as in names are refused, checked once per
 * distinct value.
 */
function checkShownText(columns: ColumnInfo[]) {
  columns.forEach((column, i) => {
    const inName = hiddenCharacter(column.name);
    if (inName)
      throw invalidDataset(
        `/columns/${i}`,
        `column name ${quoteText(column.name)} holds ${inName}; column names must have ${HIDDEN_CHARACTERS_RULE}`,
      );
    if (column.type !== 'string') return;
    for (const value of column.classes ?? []) {
      const inValue = hiddenCharacter(value.name);
      if (inValue)
        throw invalidDataset(
          `/columns/${i}`,
          `column ${quoteText(column.name)} has the value ${quoteText(value.name)}, which holds ${inValue}; text values must have ${HIDDEN_CHARACTERS_RULE}`,
        );
    }
  });
}

function content(
  name: string,
  format: DatasetFormat,
  rows: number,
  columns: ColumnInfo[],
  label: string,
  limits: IngestLimits,
): DatasetContent {
  // Readers refuse empty uploads themselves; this holds for every format, whatever its reader.
  if (rows === 0) throw invalidDataset('/rows', 'the dataset has no rows');
  checkShownText(columns);
  if (!columns.some((c) => c.name === label)) {
    const names = columns
      .slice(0, 20)
      .map((c) => c.name)
      .join(', ');
    throw invalidDataset(
      '/label',
      `no column is named ${JSON.stringify(label)}; the columns are ${names}${columns.length > 20 ? ', …' : ''}`,
    );
  }
  const features = columns.filter((c) => c.name !== label && c.type === 'numeric').map((c) => c.name);
  const featureSet = new Set(features);
  const result: DatasetContent = {
    name,
    format,
    rows,
    columns,
    label,
    features,
    featureShape: featureShapeOf(columns.filter((c) => featureSet.has(c.name))),
  };
  checkMetaSize(result, limits.maxMetaBytes);
  return result;
}

/**
 * The metadata Redis holds (and every listing answer carries) is capped: over it is a 400
 * naming the column whose description is the largest.
 */
function checkMetaSize(meta: DatasetContent, maxBytes: number) {
  const bytes = Buffer.byteLength(JSON.stringify(meta));
  if (bytes <= maxBytes) return;
  let largest = 0;
  let largestBytes = -1;
  meta.columns.forEach((c, i) => {
    const size = Buffer.byteLength(JSON.stringify(c));
    if (size > largestBytes) [largest, largestBytes] = [i, size];
  });
  const column = meta.columns[largest];
  throw invalidDataset(
    `/columns/${largest}`,
    `the dataset's metadata would take ${bytes} bytes, over the ${maxBytes} allowed (DATASET_MAX_META_BYTES); the largest part is column ${JSON.stringify(column.name.slice(0, 40))} (${largestBytes} bytes${column.classes ? `, ${column.classes.length} classes` : ''})`,
  );
}

/** Values a feature column gives the model: a text column one per class (one-hot). */
export const featureWidth = (c: ColumnInfo) =>
  c.type === 'string' ? (c.classes?.length ?? 0) : c.shape.reduce((a, b) => a * b, 1);

/** One numeric column keeps its shape ([28, 28]); several columns are concatenated flat. */
export function featureShapeOf(columns: ColumnInfo[]): number[] {
  if (columns.length === 1 && columns[0].type === 'numeric')
    return columns[0].shape.length > 0 ? columns[0].shape : [1];
  return [columns.reduce((n, c) => n + featureWidth(c), 0)];
}
