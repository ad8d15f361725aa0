import { Type, type Static } from '@sinclair/typebox';

// The Open Inference Protocol (KServe v2, also Triton's and Seldon's HTTP/REST API), on
// registered models: https://github.com/kserve/open-inference-protocol (REST, JSON data only).

/** A registered name, optionally with `@alias` (sent as `@` or `%40`): what `/v2/models/{name}` takes. */
export const V2_MODEL_NAME = '^[a-z0-9][a-z0-9._-]{0,99}(@[a-z][a-z0-9_-]{0,49})?$';

/** Most dimensions a tensor's shape may have (bounds the walk through nested `data`). */
export const MAX_TENSOR_RANK = 8;

const ModelName = Type.String({
  pattern: V2_MODEL_NAME,
  description: 'a registered name (its latest version), or `name@alias` for the version an alias points at',
});
const VersionString = Type.Integer({
  minimum: 1,
  maximum: 2_147_483_647,
  description: 'a version number of the registered name',
});

export const V2ModelParams = Type.Object({ name: ModelName });
export const V2VersionParams = Type.Object({ name: ModelName, version: VersionString });

export const V2Live = Type.Object({ live: Type.Boolean() });
export const V2Ready = Type.Object({ ready: Type.Boolean() });
export const V2ModelReady = Type.Object({ name: Type.String(), ready: Type.Boolean() });

const Parameters = Type.Record(Type.String(), Type.Unknown(), {
  description: 'protocol parameters; accepted and ignored',
});

const TensorMetadata = Type.Object({
  name: Type.String(),
  datatype: Type.String({ description: 'always FP32' }),
  shape: Type.Array(Type.Integer(), { description: 'dimensions; -1 is variable (the first: the batch)' }),
});

export const V2ModelMetadata = Type.Object({
  name: Type.String({ description: 'the registered name' }),
  versions: Type.Array(Type.String(), { description: 'the versions of the registered name, newest first' }),
  platform: Type.String({ description: '`tensorflowjs`' }),
  inputs: Type.Array(TensorMetadata),
  outputs: Type.Array(TensorMetadata),
});

const Shape = Type.Array(Type.Integer({ minimum: 0 }), {
  minItems: 1,
  maxItems: MAX_TENSOR_RANK,
  description: 'the first dimension is the batch',
});

export const V2InferRequest = Type.Object(
  {
    id: Type.Optional(Type.String({ maxLength: 256, description: 'echoed in the answer' })),
    parameters: Type.Optional(Parameters),
    inputs: Type.Array(
      Type.Object(
        {
          name: Type.String({ maxLength: 256 }),
          shape: Shape,
          datatype: Type.String({ maxLength: 16, description: 'FP32 (the only type these models take)' }),
          parameters: Type.Optional(Parameters),
          data: Type.Array(Type.Unknown(), {
            description: 'the values, row-major: flat (length = product of shape) or nested as the shape says',
          }),
        },
        { additionalProperties: false },
      ),
      { minItems: 1, maxItems: 16 },
    ),
    outputs: Type.Optional(
      Type.Array(
        Type.Object(
          { name: Type.String({ maxLength: 256 }), parameters: Type.Optional(Parameters) },
          { additionalProperties: false },
        ),
        { maxItems: 16, description: 'the outputs wanted (default: all)' },
      ),
    ),
  },
  { additionalProperties: false },
);
export type V2InferRequest = Static<typeof V2InferRequest>;

export const V2InferResponse = Type.Object({
  model_name: Type.String(),
  model_version: Type.String(),
  id: Type.Optional(Type.String()),
  outputs: Type.Array(
    Type.Object({
      name: Type.String(),
      shape: Type.Array(Type.Integer()),
      datatype: Type.String(),
      data: Type.Array(Type.Number(), { description: 'row-major, flat' }),
    }),
  ),
});
