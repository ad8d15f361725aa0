import { Type, type TObject } from '@sinclair/typebox';
import { Shape } from './common.ts';

/** Options every layer accepts. Keras's `batch_input_shape` arrives camelized. */
const common = {
  name: Type.Optional(Type.String({ pattern: '^[A-Za-z][A-Za-z0-9_.-]{0,63}$' })),
  inputShape: Type.Optional(Shape),
  batchInputShape: Type.Optional(Type.Array(Type.Union([Type.Null(), Type.Integer({ minimum: 1 })]), { minItems: 2, maxItems: 9 })),
  trainable: Type.Optional(Type.Boolean()),
  dtype: Type.Optional(Type.Literal('float32')),
};

/** Activation and initializer names are checked by the model builder, which lists the valid ones. */
const activation = Type.String({ description: 'relu, softmax, sigmoid, tanh, ... (Keras spellings accepted)' });
const initializer = Type.String({ description: 'glorotUniform, heNormal, zeros, ...' });

/** One schema per layer type; the key is the `type` a request uses. */
export const LAYER_SCHEMAS: Record<string, TObject> = {
  dense: Type.Object(
    {
      units: Type.Integer({ minimum: 1, maximum: 1_000_000 }),
      activation: Type.Optional(activation),
      useBias: Type.Optional(Type.Boolean()),
      kernelInitializer: Type.Optional(initializer),
      biasInitializer: Type.Optional(initializer),
      ...common,
    },
    { additionalProperties: false },
  ),
  dropout: Type.Object(
    { rate: Type.Number({ minimum: 0, exclusiveMaximum: 1 }), seed: Type.Optional(Type.Integer()), ...common },
    { additionalProperties: false },
  ),
  flatten: Type.Object({ ...common }, { additionalProperties: false }),
  reshape: Type.Object(
    { targetShape: Type.Array(Type.Integer({ minimum: -1 }), { minItems: 1, maxItems: 8 }), ...common },
    { additionalProperties: false },
  ),
  activation: Type.Object({ activation, ...common }, { additionalProperties: false }),
};

export const LAYER_TYPES = Object.keys(LAYER_SCHEMAS);
