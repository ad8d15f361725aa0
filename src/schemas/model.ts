import { Type, type Static } from '@sinclair/typebox';
import { Id, Nullable, PageQuery, Shape } from './common.ts';
import { ImageSpecSchema } from './dataset.ts';
import { Evaluation } from './evaluation.ts';

const Dim = Nullable(Type.Integer());

export const ModelSummary = Type.Object({
  layers: Type.Array(
    Type.Object({
      name: Type.String(),
      type: Type.String(),
      outputShape: Type.Array(Dim),
      params: Type.Integer(),
      trainable: Type.Boolean(),
      inputs: Type.Optional(
        Type.Array(Type.String(), { description: 'graph models: the layers this one takes input from' }),
      ),
    }),
  ),
  totalParams: Type.Integer(),
  trainableParams: Type.Integer(),
  nonTrainableParams: Type.Optional(Type.Integer()),
  inputShape: Type.Array(Dim),
  outputShape: Type.Array(Dim),
});

const Metrics = Type.Record(Type.String(), Type.Number());

/** The dry run's answer: Keras's model.summary() plus cost estimates and advice. */
export const ValidationReport = Type.Object({
  valid: Type.Literal(true),
  summary: ModelSummary,
  estimates: Type.Object({
    flopsPerSample: Type.Number({ description: 'forward pass of one sample' }),
    trainFlopsPerSample: Type.Number({ description: 'one training step on one sample (about 3x forward)' }),
    memoryPerBatchBytes: Type.Number({
      description: 'weights, gradients, optimizer state and activations of one training batch',
    }),
    trainFlopsPerBatch: Type.Number({ description: 'one training step on a whole batch (bounded by MAX_BATCH_FLOPS)' }),
    sequentialStepsPerBatch: Type.Integer({
      description: 'recurrent time steps one training step runs one after another (bounded by MAX_SEQUENTIAL_STEPS)',
    }),
    batchSize: Type.Integer(),
  }),
  warnings: Type.Array(Type.String(), { description: 'what a practitioner would point out; never blocks the job' }),
  compile: Type.Object(
    {
      optimizer: Type.Object({ type: Type.String() }, { additionalProperties: true }),
      loss: Type.String(),
      metrics: Type.Array(Type.String()),
    },
    { description: 'the compile settings that will be used (from the request, else the Keras document)' },
  ),
});

export const Model = Type.Object(
  {
    id: Id,
    name: Type.String(),
    tenant: Type.Optional(Type.String({ description: 'the tenant whose job trained it' })),
    jobId: Nullable(Id), // null for an imported model (POST /v1/models/import)
    createdAt: Type.String({ format: 'date-time' }),
    backend: Type.String(),
    summary: ModelSummary,
    compile: Type.Object({
      optimizer: Type.Object({ type: Type.String() }, { additionalProperties: true }),
      loss: Type.String(),
      metrics: Type.Array(Type.String()),
    }),
    transforms: Type.Object({
      featureShape: Type.Array(Type.Integer(), { description: 'shape of one raw instance, as predict takes it' }),
      inputs: Type.Object({
        reshape: Type.Optional(Shape),
        scale: Type.Optional(Type.Number()),
        standardize: Type.Optional(Type.Boolean()),
        minMax: Type.Optional(Type.Boolean()),
      }),
      labels: Type.Object({ oneHot: Type.Optional(Type.Integer()) }),
      features: Type.Optional(
        Type.Array(Type.String(), { description: 'feature columns: predict also takes records keyed by them' }),
      ),
      classNames: Type.Optional(
        Type.Array(Type.String(), { description: 'class names by class index: predict answers with them' }),
      ),
      image: Type.Optional(ImageSpecSchema),
      categories: Type.Optional(
        Type.Record(Type.String(), Type.Array(Type.String()), {
          description: 'text feature columns -> their values, one-hot encoded in this order (predict takes the text)',
        }),
      ),
      text: Type.Optional(
        Type.Object(
          {
            column: Type.String(),
            mode: Type.String({ description: 'int, multiHot, count or tfIdf' }),
            maxTokens: Type.Integer(),
            outputSequenceLength: Type.Optional(Type.Integer()),
            ngrams: Type.Integer(),
            standardize: Type.String(),
            split: Type.String(),
            vocabularySize: Type.Optional(
              Type.Integer({ description: "the learned tokens and the special ones (Keras's vocabulary_size())" }),
            ),
            topTokens: Type.Optional(
              Type.Array(Type.String(), {
                description:
                  'the most frequent learned tokens (the first 20); the whole vocabulary is stored with the model',
              }),
            ),
          },
          { description: 'data.text: the text vectorization predict applies to raw strings' },
        ),
      ),
      statistics: Type.Optional(
        Type.Object(
          {
            mean: Type.Optional(Type.Array(Type.Number())),
            std: Type.Optional(Type.Array(Type.Number())),
            min: Type.Optional(Type.Array(Type.Number())),
            max: Type.Optional(Type.Array(Type.Number())),
          },
          { description: 'per-feature statistics of the training split, for standardize/minMax' },
        ),
      ),
    }),
    metrics: Metrics,
    evaluation: Nullable(Evaluation),
    bytes: Type.Integer({ description: 'size of weights.bin' }),
    parent: Type.Optional(
      Type.Object(
        {
          modelId: Id,
          name: Type.Optional(Type.String({ description: 'the registered name `from` named' })),
          version: Type.Optional(Type.Integer({ minimum: 1, description: 'the version it resolved to at submit' })),
        },
        { description: 'fine-tuned models: the model their job started from (model.from)' },
      ),
    ),
  },
  { $id: 'Model' },
);
export type Model = Static<typeof Model>;

export const ModelList = Type.Object({ items: Type.Array(Type.Ref('Model')), nextCursor: Nullable(Type.String()) });

export const ModelListQuery = Type.Object(PageQuery, { additionalProperties: false });
export type ModelListQuery = Static<typeof ModelListQuery>;

/** Most instances one predict request may carry (v1 `instances` or `inputs`, the v2 protocol's batch dimension). */
export const MAX_PREDICT_INSTANCES = 10_000;

export const PredictRequest = Type.Object(
  {
    instances: Type.Optional(
      Type.Array(Type.Unknown(), {
        minItems: 1,
        maxItems: MAX_PREDICT_INSTANCES,
        description:
          'raw instances in the training data form (e.g. 784 pixel values 0-255, flat or 28x28), or for a model of image folders (`transforms.image`) an image as `{"b64": "<base64 PNG, JPEG, WebP or GIF>"}`, decoded and resized as in training: TF Serving\'s row form; the answer has `predictions`',
      }),
    ),
    inputs: Type.Optional(
      Type.Array(Type.Unknown(), {
        minItems: 1,
        maxItems: MAX_PREDICT_INSTANCES,
        description:
          "TF Serving's columnar form for a model of one input: the batch, first dimension first (the same values as `instances`); the answer has `outputs` instead of `predictions`. Send `instances` or `inputs`, not both",
      }),
    ),
  },
  { additionalProperties: false },
);
export type PredictRequest = Static<typeof PredictRequest>;

/** Which model served a prediction: by name, also the registered name and the version the request resolved to. */
export const ServedModel = Type.Object({
  name: Type.Optional(Type.String({ description: 'the registered name, when predicted by name' })),
  version: Type.Optional(Type.Integer({ minimum: 1, description: 'the version the name or alias resolved to' })),
  modelId: Id,
});
export type ServedModel = Static<typeof ServedModel>;

export const PredictResponse = Type.Object({
  model: ServedModel,
  predictions: Type.Optional(
    Type.Array(Type.Unknown(), { description: "the model's outputs, one per instance (requests with `instances`)" }),
  ),
  outputs: Type.Optional(
    Type.Array(Type.Unknown(), {
      description:
        "the model's outputs, first dimension the batch (requests with `inputs`, TF Serving's columnar form)",
    }),
  ),
  classes: Type.Optional(
    Type.Array(Type.Union([Type.Integer(), Type.Array(Type.Unknown())]), {
      description:
        'for classifiers: the index of the highest output (binary: 1 when the output is >= 0.5); for sequence outputs ([steps, classes]) an array of them per instance',
    }),
  ),
  labels: Type.Optional(
    Type.Array(Type.Union([Type.String(), Type.Array(Type.Unknown())]), {
      description:
        'for classifiers trained on text labels: the predicted class name of each instance (an array of them for sequence outputs)',
    }),
  ),
});
