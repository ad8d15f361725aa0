import { Type, type TObject, type TProperties } from '@sinclair/typebox';
import { own } from '../json-guard.ts';
import { DisplayText, Shape } from './common.ts';

/**
 * One schema per layer type (the key is the `type` a request uses, tfjs spelling; Keras
 * class names are matched case-insensitively). Options are tfjs's camelCase names; Keras's
 * snake_case arrives camelized. Names (activations, initializers, ...) are checked by the
 * model parser, which lists the valid ones.
 */

const Int = (min = 1, max = 1_000_000) => Type.Integer({ minimum: min, maximum: max });
const IntOrPair = (min = 1) => Type.Union([Int(min), Type.Array(Int(min), { minItems: 1, maxItems: 3 })]);
const Rate = Type.Number({ minimum: 0, exclusiveMaximum: 1 });

/** Options every layer accepts. */
const common = {
  name: Type.Optional(Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_.\\-/]{0,127}$' })),
  inputShape: Type.Optional(Type.Array(Type.Union([Type.Null(), Int()]), { minItems: 1, maxItems: 8 })),
  batchInputShape: Type.Optional(Type.Array(Type.Union([Type.Null(), Int()]), { minItems: 2, maxItems: 9 })),
  inputDim: Type.Optional(Int()),
  trainable: Type.Optional(Type.Boolean()),
  dtype: Type.Optional(Type.Literal('float32')),
  inputs: Type.Optional(
    Type.Array(Type.String({ maxLength: 128 }), {
      minItems: 1,
      maxItems: 32,
      description: 'graph models: names of the layers (or inputs) this layer takes',
    }),
  ),
};

const activation = Type.String({
  maxLength: 100,
  description: 'relu, softmax, sigmoid, tanh, ... (Keras spellings accepted)',
});
const initializer = Type.Unknown({
  description: 'a name (glorotUniform, heNormal, ...) or {type|className, ...config}',
});
const regularizer = Type.Unknown({ description: 'l1, l2, l1l2, {l1, l2} or a Keras {className, config}' });
const constraint = Type.Unknown({
  description: 'maxNorm, minMaxNorm, nonNeg, unitNorm, or {type|className, ...config}',
});
const padding = Type.Union([Type.Literal('valid'), Type.Literal('same'), Type.Literal('causal')]);
const dataFormat = Type.Literal('channelsLast', { description: 'only channels-last data is supported' });

const weights = {
  useBias: Type.Optional(Type.Boolean()),
  kernelInitializer: Type.Optional(initializer),
  biasInitializer: Type.Optional(initializer),
  kernelRegularizer: Type.Optional(regularizer),
  biasRegularizer: Type.Optional(regularizer),
  activityRegularizer: Type.Optional(regularizer),
  kernelConstraint: Type.Optional(constraint),
  biasConstraint: Type.Optional(constraint),
};

const conv = {
  filters: Int(1, 65_536),
  kernelSize: IntOrPair(),
  strides: Type.Optional(IntOrPair()),
  padding: Type.Optional(padding),
  dataFormat: Type.Optional(dataFormat),
  dilationRate: Type.Optional(IntOrPair()),
  activation: Type.Optional(activation),
  ...weights,
};

const pooling = {
  poolSize: Type.Optional(IntOrPair()),
  strides: Type.Optional(Type.Union([IntOrPair(), Type.Null()])),
  padding: Type.Optional(padding),
  dataFormat: Type.Optional(dataFormat),
};

const rnn = {
  units: Int(1, 65_536),
  activation: Type.Optional(activation),
  recurrentActivation: Type.Optional(activation),
  useBias: Type.Optional(Type.Boolean()),
  kernelInitializer: Type.Optional(initializer),
  recurrentInitializer: Type.Optional(initializer),
  biasInitializer: Type.Optional(initializer),
  kernelRegularizer: Type.Optional(regularizer),
  recurrentRegularizer: Type.Optional(regularizer),
  biasRegularizer: Type.Optional(regularizer),
  activityRegularizer: Type.Optional(regularizer),
  kernelConstraint: Type.Optional(constraint),
  recurrentConstraint: Type.Optional(constraint),
  biasConstraint: Type.Optional(constraint),
  dropout: Type.Optional(Rate),
  recurrentDropout: Type.Optional(Rate),
  returnSequences: Type.Optional(Type.Boolean()),
  returnState: Type.Optional(Type.Literal(false, { description: 'extra state outputs are not supported' })),
  goBackwards: Type.Optional(Type.Boolean()),
  stateful: Type.Optional(Type.Literal(false, { description: 'stateful RNNs are not supported' })),
  unroll: Type.Optional(Type.Boolean()),
  implementation: Type.Optional(Type.Integer({ minimum: 1, maximum: 2 })),
};

const norm = {
  axis: Type.Optional(Type.Union([Type.Integer(), Type.Array(Type.Integer(), { minItems: 1, maxItems: 8 })])),
  epsilon: Type.Optional(Type.Number({ exclusiveMinimum: 0 })),
  center: Type.Optional(Type.Boolean()),
  scale: Type.Optional(Type.Boolean()),
  betaInitializer: Type.Optional(initializer),
  gammaInitializer: Type.Optional(initializer),
  betaRegularizer: Type.Optional(regularizer),
  gammaRegularizer: Type.Optional(regularizer),
  betaConstraint: Type.Optional(constraint),
  gammaConstraint: Type.Optional(constraint),
};

/** A wrapped layer (bidirectional, timeDistributed): checked recursively by the parser. */
const wrapped = Type.Object(
  { type: Type.String({ maxLength: 100 }) },
  { additionalProperties: true, description: 'the wrapped layer, e.g. {type: "lstm", units: 32}' },
);

const layer = (props: TProperties) => Type.Object({ ...props, ...common }, { additionalProperties: false });

export const LAYER_SCHEMAS: Record<string, TObject> = {
  dense: layer({ units: Int(), activation: Type.Optional(activation), ...weights }),
  dropout: layer({
    rate: Rate,
    seed: Type.Optional(Type.Integer()),
    noiseShape: Type.Optional(Type.Array(Type.Union([Type.Null(), Int()]))),
  }),
  flatten: layer({ dataFormat: Type.Optional(dataFormat) }),
  reshape: layer({ targetShape: Type.Array(Type.Integer({ minimum: -1 }), { minItems: 1, maxItems: 8 }) }),
  activation: layer({ activation }),
  batchNormalization: layer({
    ...norm,
    momentum: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
    movingMeanInitializer: Type.Optional(initializer),
    movingVarianceInitializer: Type.Optional(initializer),
  }),
  layerNormalization: layer(norm),
  conv1d: layer(conv),
  conv2d: layer(conv),
  conv2dTranspose: layer(conv),
  separableConv2d: layer({
    ...conv,
    depthMultiplier: Type.Optional(Int(1, 64)),
    depthwiseInitializer: Type.Optional(initializer),
    pointwiseInitializer: Type.Optional(initializer),
    depthwiseRegularizer: Type.Optional(regularizer),
    pointwiseRegularizer: Type.Optional(regularizer),
    depthwiseConstraint: Type.Optional(constraint),
    pointwiseConstraint: Type.Optional(constraint),
  }),
  maxPooling1d: layer(pooling),
  maxPooling2d: layer(pooling),
  averagePooling1d: layer(pooling),
  averagePooling2d: layer(pooling),
  globalAveragePooling1d: layer({ dataFormat: Type.Optional(dataFormat) }),
  globalAveragePooling2d: layer({ dataFormat: Type.Optional(dataFormat) }),
  globalMaxPooling1d: layer({ dataFormat: Type.Optional(dataFormat) }),
  globalMaxPooling2d: layer({ dataFormat: Type.Optional(dataFormat) }),
  zeroPadding2d: layer({
    padding: Type.Optional(
      Type.Union([
        Int(0),
        Type.Array(Type.Union([Int(0), Type.Array(Int(0), { minItems: 2, maxItems: 2 })]), {
          minItems: 2,
          maxItems: 2,
        }),
      ]),
    ),
    dataFormat: Type.Optional(dataFormat),
  }),
  upSampling2d: layer({
    size: Type.Optional(Type.Array(Int(1, 64), { minItems: 2, maxItems: 2 })),
    interpolation: Type.Optional(Type.Union([Type.Literal('nearest'), Type.Literal('bilinear')])),
    dataFormat: Type.Optional(dataFormat),
  }),
  embedding: layer({
    inputDim: Int(1, 10_000_000),
    outputDim: Int(1, 65_536),
    embeddingsInitializer: Type.Optional(initializer),
    embeddingsRegularizer: Type.Optional(regularizer),
    activityRegularizer: Type.Optional(regularizer),
    embeddingsConstraint: Type.Optional(constraint),
    maskZero: Type.Optional(Type.Boolean()),
    inputLength: Type.Optional(Type.Union([Int(), Type.Array(Int())])),
  }),
  simpleRNN: layer(rnn),
  lstm: layer({ ...rnn, unitForgetBias: Type.Optional(Type.Boolean()) }),
  gru: layer({
    ...rnn,
    resetAfter: Type.Optional(Type.Literal(false, { description: 'TensorFlow.js has only the reset_after=False GRU' })),
  }),
  bidirectional: layer({
    layer: wrapped,
    mergeMode: Type.Optional(Type.Union(['concat', 'sum', 'mul', 'ave'].map((m) => Type.Literal(m)))),
  }),
  timeDistributed: layer({ layer: wrapped }),
  repeatVector: layer({ n: Int(1, 100_000) }),
  gaussianNoise: layer({ stddev: Type.Number({ minimum: 0 }), seed: Type.Optional(Type.Integer()) }),
  gaussianDropout: layer({ rate: Rate, seed: Type.Optional(Type.Integer()) }),
  add: layer({}),
  multiply: layer({}),
  average: layer({}),
  concatenate: layer({ axis: Type.Optional(Type.Integer()) }),
};

export const LAYER_TYPES = Object.keys(LAYER_SCHEMAS);

/** Layers that take several inputs. */
export const MERGE_LAYERS = new Set(['add', 'multiply', 'average', 'concatenate']);

/** Keras class names that differ from ours beyond letter case. */
export const LAYER_ALIASES: Record<string, string> = {
  maxpool1d: 'maxPooling1d',
  maxpool2d: 'maxPooling2d',
  avgpool1d: 'averagePooling1d',
  avgpool2d: 'averagePooling2d',
  globalmaxpool1d: 'globalMaxPooling1d',
  globalmaxpool2d: 'globalMaxPooling2d',
  globalavgpool1d: 'globalAveragePooling1d',
  globalavgpool2d: 'globalAveragePooling2d',
  convolution1d: 'conv1d',
  convolution2d: 'conv2d',
  convolution2dtranspose: 'conv2dTranspose',
  separableconvolution2d: 'separableConv2d',
};

/** Our layer type for a name in any spelling (`Conv2D`, `conv2d`, `max_pooling2d`), or undefined. */
export function layerType(name: string): string | undefined {
  const key = name.replace(/_/g, '').toLowerCase();
  return own(LAYER_ALIASES, key) ?? LAYER_TYPES.find((t) => t.toLowerCase() === key);
}

/** Shape of one sample given at the top of a graph model. */
export const InputDef = Type.Object(
  { name: DisplayText({ maxLength: 128 }), shape: Type.Optional(Shape) },
  { additionalProperties: false },
);
