import { Type, type Static } from '@sinclair/typebox';
import { Name, Nullable, PageQuery } from './common.ts';

const ClassCount = Type.Object({ name: Type.String(), count: Type.Integer() });

export const DatasetColumn = Type.Object({
  name: Type.String(),
  type: Type.Union([Type.Literal('numeric'), Type.Literal('string'), Type.Literal('text')], {
    description:
      "string columns hold text values (class names); text columns hold free text as uploaded (the upload option `text`), for a job's `data.text`",
  }),
  maxChars: Type.Optional(Type.Integer({ description: 'text columns: the longest row, in characters' })),
  shape: Type.Array(Type.Integer(), {
    description: "shape of one row's value: [] for a CSV cell, [28, 28] for an IDX image",
  }),
  min: Type.Optional(Type.Number()),
  max: Type.Optional(Type.Number()),
  mean: Type.Optional(Type.Number()),
  classes: Type.Optional(
    Type.Array(ClassCount, {
      description: 'distinct values and their counts: every text value, or a few whole numbers (class indices)',
    }),
  ),
  classCount: Type.Optional(
    Type.Integer({ description: 'listings: how many classes the column has, when `classes` shows only the first few' }),
  ),
  classesTruncated: Type.Optional(
    Type.Boolean({
      description: 'listings: true when `classes` shows only the first few (GET /v1/datasets/:id shows all)',
    }),
  ),
});

/** How an image becomes pixels: an image-folder dataset's, and the models trained on it (predict decodes images alike). */
export const ImageSpecSchema = Type.Object(
  {
    size: Type.Array(Type.Integer({ minimum: 1 }), { minItems: 2, maxItems: 2, description: '[height, width]' }),
    colorMode: Type.Union([Type.Literal('grayscale'), Type.Literal('rgb'), Type.Literal('rgba')]),
    cropToAspectRatio: Type.Boolean({
      description: 'whether the centre was cropped to the aspect ratio of `size` before resizing (bilinear)',
    }),
  },
  { description: 'image-folder uploads: how each image was decoded, resized and given its channels' },
);

export const Dataset = Type.Object(
  {
    id: Type.String({ description: 'a server-generated id, or the name of a built-in dataset' }),
    name: Type.String(),
    tenant: Type.Optional(Type.String({ description: 'the tenant that uploaded it (absent on built-ins)' })),
    builtIn: Type.Boolean(),
    format: Type.Union([
      Type.Literal('csv'),
      Type.Literal('json'),
      Type.Literal('idx'),
      Type.Literal('images'),
      Type.Literal('built-in'),
    ]),
    description: Type.Optional(Type.String()),
    rows: Type.Integer({ description: 'samples (for built-ins: training samples)' }),
    testRows: Type.Optional(Type.Integer({ description: 'built-ins: samples of the test split' })),
    columns: Type.Array(DatasetColumn),
    label: Type.String({ description: 'default label column' }),
    features: Type.Array(Type.String(), { description: 'default feature columns' }),
    featureShape: Type.Array(Type.Integer(), {
      description: "shape of one sample's features with the default columns",
    }),
    image: Type.Optional(ImageSpecSchema),
    bytes: Type.Integer({
      description:
        'bytes stored: the column files, and the metadata (kept on disk and in Redis); counted against TENANT_MAX_STORED_BYTES',
    }),
    createdAt: Nullable(Type.String({ format: 'date-time' })),
  },
  { $id: 'Dataset' },
);
export type Dataset = Static<typeof Dataset>;

export const DatasetList = Type.Object({
  items: Type.Array(Type.Ref('Dataset'), {
    description: 'built-in datasets first (on the first page), then uploads, newest first',
  }),
  nextCursor: Nullable(Type.String()),
});

export const DatasetParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 100 }) });

export const DatasetListQuery = Type.Object(PageQuery, { additionalProperties: false });
export type DatasetListQuery = Static<typeof DatasetListQuery>;

export const UploadQuery = Type.Object(
  {
    name: Type.Optional(Name()),
    format: Type.Optional(
      Type.Union([Type.Literal('csv'), Type.Literal('json'), Type.Literal('idx'), Type.Literal('images')], {
        description: 'default: from the content type or file name (`images`: a .zip, .tar or .tar.gz of class folders)',
      }),
    ),
    label: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 200,
        description: 'default label column; default: the last CSV column, `y`, or the IDX labels',
      }),
    ),
    delimiter: Type.Optional(Type.String({ minLength: 1, maxLength: 1, description: 'CSV delimiter; default ","' })),
    text: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 2000,
        description:
          'comma-separated columns stored as raw text (up to DATASET_MAX_TEXT_CHARS a cell) for `data.text`, e.g. `review,title`',
      }),
    ),
  },
  { additionalProperties: false },
);
export type UploadQuery = Static<typeof UploadQuery>;
