import { Transform, type Readable } from 'node:stream';
import { AppError } from '../errors.ts';
import { readCsv } from './csv-reader.ts';
import type { ColumnInfo, DatasetFormat, DatasetMeta } from './dataset-meta.ts';
import { readIdx } from './idx-reader.ts';
import { readJson } from './json-reader.ts';
import { invalidDataset } from './upload-errors.ts';

export interface UploadOptions {
  name?: string;
  format?: DatasetFormat;
  /** Default label column. */
  label?: string;
  delimiter?: string;
  /** JSON uploads: deepest nesting of arrays and objects (MAX_JSON_DEPTH). */
  maxJsonDepth?: number;
}

export type DatasetContent = Omit<DatasetMeta, 'id' | 'bytes' | 'createdAt'>;

/** Passes bytes through and fails with 413 once more than `limit` went by. */
export function byteLimit(limit: number, what = 'the upload'): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      seen += chunk.length;
      if (seen > limit) done(new AppError(413, 'upload_too_large', `${what} exceeds ${limit} bytes; the limit is set by DATASET_UPLOAD_LIMIT_BYTES`));
      else done(null, chunk);
    },
  });
}

/** Wires `source` through `limit` so an error on either side reaches the reader. */
export function limited(source: Readable, limit: Transform): Readable {
  source.on('error', (err) => limit.destroy(err));
  return source.pipe(limit);
}

/** Parses one tabular upload (CSV or JSON) into column files in `dir`. */
export async function ingestTable(format: 'csv' | 'json', source: Readable, dir: string, options: UploadOptions): Promise<DatasetContent> {
  const { rows, columns } = format === 'csv' ? await readCsv(source, dir, { delimiter: options.delimiter }) : await readJson(source, dir, options.maxJsonDepth);
  const defaultLabel = columns.some((c) => c.name === 'y') && columns.length === 2 && columns[0].name === 'x' ? 'y' : columns[columns.length - 1].name;
  return content(options.name ?? `${format}-dataset`, format, rows, columns, options.label ?? defaultLabel);
}

/** IDX image/label files, as MNIST is published: each a stream, read one after the other. */
export class IdxIngest {
  private readonly parts = new Map<'images' | 'labels', ColumnInfo & { rows: number }>();
  /** `maxBytes` bounds each file after gunzip too. */
  constructor(
    private readonly dir: string,
    private readonly maxBytes = Infinity,
  ) {}

  async add(field: string, source: Readable) {
    const role = field === 'images' || field === 'x' ? 'images' : field === 'labels' || field === 'y' ? 'labels' : undefined;
    if (!role) throw invalidDataset(`/${field}`, 'IDX uploads take two files, in the fields "images" and "labels"');
    if (this.parts.has(role)) throw invalidDataset(`/${field}`, `a second ${role} file`);
    this.parts.set(role, await readIdx(source, this.dir, role, this.maxBytes));
  }

  finish(options: UploadOptions): DatasetContent {
    const images = this.parts.get('images');
    const labels = this.parts.get('labels');
    if (!images || !labels) throw invalidDataset(images ? '/labels' : '/images', 'is missing: IDX uploads take an images file and a labels file');
    if (images.rows !== labels.rows) {
      throw invalidDataset('/labels', `holds ${labels.rows} labels but the images file holds ${images.rows} images: the IDX counts disagree`);
    }
    const strip = ({ rows: _rows, ...info }: ColumnInfo & { rows: number }): ColumnInfo => info;
    return content(options.name ?? 'idx-dataset', 'idx', images.rows, [strip(images), strip(labels)], options.label ?? 'labels');
  }
}

function content(name: string, format: DatasetFormat, rows: number, columns: ColumnInfo[], label: string): DatasetContent {
  if (!columns.some((c) => c.name === label)) {
    throw invalidDataset('/label', `no column is named ${JSON.stringify(label)}; the columns are ${columns.map((c) => c.name).join(', ')}`);
  }
  const features = columns.filter((c) => c.name !== label && c.type === 'numeric').map((c) => c.name);
  return { name, format, rows, columns, label, features, featureShape: featureShapeOf(columns.filter((c) => features.includes(c.name))) };
}

/** Values a feature column gives the model: a text column one per class (one-hot). */
export const featureWidth = (c: ColumnInfo) => (c.type === 'string' ? (c.classes?.length ?? 0) : c.shape.reduce((a, b) => a * b, 1));

/** One numeric column keeps its shape ([28, 28]); several columns are concatenated flat. */
export function featureShapeOf(columns: ColumnInfo[]): number[] {
  if (columns.length === 1 && columns[0].type === 'numeric') return columns[0].shape.length > 0 ? columns[0].shape : [1];
  return [columns.reduce((n, c) => n + featureWidth(c), 0)];
}
