import { Type, type Static } from '@sinclair/typebox';
import { AugmentSpec } from './augment.ts';
import { Name, Shape } from './common.ts';
import { InputDef, LAYER_TYPES } from './layers.ts';
import { RegisterSpec } from './registry.ts';

export const LayerSpec = Type.Unsafe<{ type: string; [option: string]: unknown }>(
  Type.Object(
    { type: Type.String({ maxLength: 100, description: `layer type: ${LAYER_TYPES.join(', ')}` }) },
    { additionalProperties: true, description: 'a layer; its other fields depend on `type` and are checked per type' },
  ),
);

/**
 * Either our own `{layers: [...]}` or a Keras `model.to_json()` document
 * (`class_name`/`config`). The per-layer checks happen in the model builder, which can name
 * the exact layer and option that is wrong.
 */
export const ModelSpec = Type.Object(
  {
    layers: Type.Optional(Type.Array(LayerSpec, { minItems: 1, maxItems: 500 })),
    inputs: Type.Optional(
      Type.Array(InputDef, { minItems: 1, maxItems: 1, description: 'graph models: the model input (name, shape)' }),
    ),
    outputs: Type.Optional(
      Type.Array(Type.String({ maxLength: 128 }), {
        minItems: 1,
        maxItems: 1,
        description: 'graph models: the layer whose output is the model output',
      }),
    ),
    className: Type.Optional(Type.String({ maxLength: 100, description: 'Keras document: Sequential or Functional' })),
    config: Type.Optional(Type.Unknown({ description: 'Keras document: the model config' })),
    from: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 200,
        description:
          'fine-tuning: start from a stored model id or `registry:<name>@<alias|version>` (its layers and weights); the job stores the model id it resolved to',
      }),
    ),
    pop: Type.Optional(
      Type.Integer({ minimum: 0, maximum: 500, description: 'fine-tuning: layers removed from the top of `from`' }),
    ),
    add: Type.Optional(
      Type.Array(LayerSpec, { minItems: 1, maxItems: 500, description: 'fine-tuning: layers stacked on what is kept' }),
    ),
    freeze: Type.Optional(
      Type.Array(Type.String({ maxLength: 128 }), {
        maxItems: 500,
        description: 'fine-tuning: names of layers whose weights training keeps as they are',
      }),
    ),
    parent: Type.Optional(
      Type.Object(
        {
          modelId: Type.String({ maxLength: 100 }),
          name: Type.Optional(Type.String({ maxLength: 100 })),
          version: Type.Optional(Type.Integer({ minimum: 1 })),
        },
        { additionalProperties: false, description: 'set by the service: what `from` resolved to at submit' },
      ),
    ),
  },
  { additionalProperties: true },
);
export type ModelSpec = Static<typeof ModelSpec>;

const OptimizerOptions = Type.Object(
  {
    type: Type.String({ maxLength: 100, description: 'sgd, momentum, rmsprop, adam, adamax, adagrad, adadelta' }),
    learningRate: Type.Optional(Type.Number({ exclusiveMinimum: 0 })),
    momentum: Type.Optional(Type.Number({ minimum: 0 })),
    useNesterov: Type.Optional(Type.Boolean()),
    nesterov: Type.Optional(Type.Boolean({ description: "Keras's name for useNesterov" })),
    rho: Type.Optional(Type.Number({ minimum: 0 })),
    decay: Type.Optional(Type.Number({ minimum: 0 })),
    epsilon: Type.Optional(Type.Number({ exclusiveMinimum: 0 })),
    centered: Type.Optional(Type.Boolean()),
    beta1: Type.Optional(Type.Number({ minimum: 0, exclusiveMaximum: 1 })),
    beta2: Type.Optional(Type.Number({ minimum: 0, exclusiveMaximum: 1 })),
    initialAccumulatorValue: Type.Optional(Type.Number({ minimum: 0 })),
    clipnorm: Type.Optional(Type.Number({ exclusiveMinimum: 0, description: 'clip each gradient to this L2 norm' })),
    clipvalue: Type.Optional(
      Type.Number({ exclusiveMinimum: 0, description: 'clip each gradient value to [-clipvalue, clipvalue]' }),
    ),
    globalClipnorm: Type.Optional(
      Type.Number({ exclusiveMinimum: 0, description: 'clip all gradients together to this L2 norm' }),
    ),
  },
  { additionalProperties: false },
);

export const CompileSpec = Type.Object(
  {
    optimizer: Type.Optional(
      Type.Union([Type.String({ maxLength: 100 }), OptimizerOptions], {
        description: 'a name, or {type, learningRate, ...}; default rmsprop, as in Keras',
      }),
    ),
    loss: Type.Optional(
      Type.String({
        maxLength: 100,
        description:
          'categoricalCrossentropy, meanSquaredError, ... (Keras spellings accepted); required unless the Keras model document has a compile_config',
      }),
    ),
    metrics: Type.Optional(Type.Array(Type.String({ maxLength: 100 }), { maxItems: 10 })),
  },
  { additionalProperties: false },
);
export type CompileSpec = Static<typeof CompileSpec>;

export const InputTransforms = Type.Object(
  {
    reshape: Type.Optional(Shape),
    scale: Type.Optional(Type.Number({ description: 'multiply every feature, e.g. 1/255 for pixels' })),
    standardize: Type.Optional(
      Type.Boolean({
        description:
          "subtract each feature's mean and divide by its standard deviation (computed on the training split, stored with the model)",
      }),
    ),
    minMax: Type.Optional(
      Type.Boolean({
        description: 'rescale each feature to 0..1 by its training-split min and max (stored with the model)',
      }),
    ),
  },
  { additionalProperties: false },
);
export type InputTransforms = Static<typeof InputTransforms>;

export const LabelTransforms = Type.Object(
  { oneHot: Type.Optional(Type.Integer({ minimum: 2, maximum: 100_000, description: 'number of classes' })) },
  { additionalProperties: false },
);
export type LabelTransforms = Static<typeof LabelTransforms>;

/** Most tokens a text vocabulary may hold: the vocabulary and its idf weights are stored with the model. */
export const MAX_TEXT_TOKENS = 100_000;

export const TextModes = ['int', 'multiHot', 'count', 'tfIdf'] as const;

export const TextSpec = Type.Object(
  {
    column: Type.String({
      minLength: 1,
      maxLength: 200,
      description: 'a column uploaded as raw text (the upload option `text`)',
    }),
    mode: Type.Optional(
      Type.Union(
        TextModes.map((m) => Type.Literal(m)),
        {
          description:
            "Keras's output_mode: int (token indices, 0 padding, 1 OOV; for embedding layers), multiHot, count or tfIdf (one value per vocabulary slot, 0 the OOV); default int",
        },
      ),
    ),
    maxTokens: Type.Optional(
      Type.Integer({
        minimum: 3,
        maximum: MAX_TEXT_TOKENS,
        description:
          'vocabulary size counting the OOV token (and the padding token in int mode), as Keras counts it; the width of multiHot/count/tfIdf vectors; default 10000',
      }),
    ),
    outputSequenceLength: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 10_000,
        description: 'int mode (required there): pad with 0 or truncate every document to this many tokens',
      }),
    ),
    ngrams: Type.Optional(
      Type.Union([Type.Literal(1), Type.Literal(2)], {
        description: '2: bigrams too, joined by a space; default 1',
      }),
    ),
    standardize: Type.Optional(
      Type.Union([Type.Literal('lowerAndStripPunctuation'), Type.Literal('lower'), Type.Literal('none')], {
        description: 'after Unicode NFC: lowercase, and strip ASCII punctuation; default lowerAndStripPunctuation',
      }),
    ),
    split: Type.Optional(
      Type.Union([Type.Literal('whitespace'), Type.Literal('character')], {
        description: 'whitespace runs, or every Unicode code point; default whitespace',
      }),
    ),
  },
  {
    additionalProperties: false,
    description:
      "Keras TextVectorization of one text column: the vocabulary (and idf) is learned on the training rows only and stored with the model; predict takes raw strings. Other feature columns (data.features) are appended after the text's values",
  },
);
export type TextSpec = Static<typeof TextSpec>;

const Samples = (what: string) =>
  Type.Array(Type.Unknown(), {
    minItems: 1,
    description: `${what}: one entry per sample, a number or nested arrays of numbers`,
  });

export const DataSpec = Type.Object(
  {
    dataset: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 100,
        description: 'a built-in dataset name (mnist) or the id of an uploaded dataset (POST /v1/datasets)',
      }),
    ),
    features: Type.Optional(
      Type.Array(Type.String({ minLength: 1, maxLength: 200 }), {
        minItems: 1,
        maxItems: 10_000,
        description: 'feature columns of an uploaded dataset; default: every numeric column but the label',
      }),
    ),
    label: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 200,
        description: 'label column of an uploaded dataset; default: the one chosen at upload',
      }),
    ),
    testDataset: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 100,
        description: 'an uploaded dataset with the same columns, used as the test split',
      }),
    ),
    testSplit: Type.Optional(
      Type.Number({
        exclusiveMinimum: 0,
        exclusiveMaximum: 1,
        description: 'a shuffled (fit.seed, default 0) fraction of an uploaded dataset held out as the test split',
      }),
    ),
    stratify: Type.Optional(
      Type.Boolean({ description: 'validation and test splits keep the class proportions of the labels' }),
    ),
    x: Type.Optional(Samples('inline training features')),
    y: Type.Optional(Samples('inline training labels')),
    xTest: Type.Optional(Samples('inline test features')),
    yTest: Type.Optional(Samples('inline test labels')),
    limit: Type.Optional(
      Type.Object(
        {
          train: Type.Optional(Type.Integer({ minimum: 1, description: 'use only the first N training samples' })),
          test: Type.Optional(Type.Integer({ minimum: 1, description: 'use only the first N test samples' })),
        },
        { additionalProperties: false },
      ),
    ),
    inputs: Type.Optional(InputTransforms),
    labels: Type.Optional(LabelTransforms),
    augment: Type.Optional(AugmentSpec),
    text: Type.Optional(TextSpec),
  },
  { additionalProperties: false },
);
export type DataSpec = Static<typeof DataSpec>;

export const CallbackSpec = Type.Object(
  {
    type: Type.String({
      maxLength: 100,
      description:
        'earlyStopping, reduceLROnPlateau or modelCheckpoint (keep the best epoch; Keras spellings accepted)',
    }),
    monitor: Type.Optional(
      Type.String({
        maxLength: 100,
        description: 'a logged metric: loss, acc, val_loss, val_acc, ... (default val_loss)',
      }),
    ),
    mode: Type.Optional(Type.Union([Type.Literal('auto'), Type.Literal('min'), Type.Literal('max')])),
    minDelta: Type.Optional(Type.Number({ minimum: 0 })),
    patience: Type.Optional(Type.Integer({ minimum: 0, maximum: 10_000 })),
    baseline: Type.Optional(Type.Number({ description: 'earlyStopping: stop unless the metric beats this' })),
    restoreBestWeights: Type.Optional(
      Type.Boolean({ description: "earlyStopping: end with the best epoch's weights" }),
    ),
    factor: Type.Optional(
      Type.Number({
        exclusiveMinimum: 0,
        exclusiveMaximum: 1,
        description: 'reduceLROnPlateau: multiply the learning rate by this',
      }),
    ),
    cooldown: Type.Optional(Type.Integer({ minimum: 0 })),
    minLr: Type.Optional(Type.Number({ minimum: 0 })),
    saveBestOnly: Type.Optional(
      Type.Literal(true, { description: 'modelCheckpoint: the stored model is always the best epoch' }),
    ),
    verbose: Type.Optional(Type.Integer({ description: 'accepted for Keras compatibility; ignored' })),
  },
  { additionalProperties: false },
);
export type CallbackSpec = Static<typeof CallbackSpec>;

export const FitSpec = Type.Object(
  {
    epochs: Type.Integer({ minimum: 1, maximum: 10_000, default: 1 }),
    batchSize: Type.Integer({ minimum: 1, maximum: 65_536, default: 32 }),
    validationSplit: Type.Number({
      minimum: 0,
      exclusiveMaximum: 1,
      default: 0,
      description: 'a shuffled fraction held out for val_* metrics',
    }),
    shuffle: Type.Boolean({ default: true }),
    seed: Type.Optional(
      Type.Integer({
        minimum: 0,
        description:
          'seed of the validation split, of the shuffle of data read from disk, and of every random layer initializer the model leaves unseeded',
      }),
    ),
    callbacks: Type.Optional(Type.Array(CallbackSpec, { maxItems: 8, description: 'Keras-style callbacks' })),
    maxDurationSeconds: Type.Optional(
      Type.Integer({ minimum: 1, description: 'stop and fail the job with code `timeout` after this long' }),
    ),
    saveModelOnTimeout: Type.Optional(
      Type.Boolean({ description: 'on timeout, still store the model as trained so far' }),
    ),
  },
  { additionalProperties: false },
);
export type FitSpec = Static<typeof FitSpec>;

export const JobRequest = Type.Object(
  {
    name: Type.Optional(Name()),
    model: ModelSpec,
    compile: Type.Optional(CompileSpec),
    data: DataSpec,
    fit: Type.Optional(FitSpec),
    evaluate: Type.Optional(
      Type.Boolean({ default: false, description: 'score the model on the test split after fitting' }),
    ),
    register: Type.Optional(RegisterSpec),
  },
  { additionalProperties: false, $id: 'JobRequest' },
);
export type JobRequest = Static<typeof JobRequest>;
