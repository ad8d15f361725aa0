import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { sizeOf } from '../data/types.ts';
import { AppError, badRequest, type FieldError } from '../errors.ts';
import { ProblemRef } from '../schemas/common.ts';
import {
  V2InferRequest,
  V2InferResponse,
  V2Live,
  V2ModelMetadata,
  V2ModelParams,
  V2ModelReady,
  V2Ready,
  V2VersionParams,
} from '../schemas/inference-v2.ts';
import { MAX_PREDICT_INSTANCES } from '../schemas/model.ts';
import type { ModelMeta } from '../storage/model-store.ts';
import type { VersionTarget } from '../storage/registry-store.ts';
import type { Tenant } from '../tenant.ts';
import { readiness } from './health.ts';
import { predictRoute, servePrediction } from './predict.ts';
import { resolveVersion } from './registry.ts';

// The Open Inference Protocol (KServe v2) over registered models, so Triton, KServe and Seldon
// clients work unchanged. Every model has one input and one output, FP32, named as below.

const INPUT_NAME = 'input';
const OUTPUT_NAME = 'output';
const DATATYPE = 'FP32';
/** Versions the metadata lists, newest first: enough for a client to pick one, bounded whatever the registry holds. */
const LISTED_VERSIONS = 100;

const tags = ['inference (v2)'];
const problems = { 400: ProblemRef, 401: ProblemRef, 404: ProblemRef, 429: ProblemRef, 503: ProblemRef };

/** `/v2/health/live` and `/v2/health/ready`: open, as /healthz and /readyz are (probes carry no key). */
export const inferenceV2Health: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/health/live',
    { schema: { tags, security: [], summary: 'Liveness (Open Inference Protocol)', response: { 200: V2Live } } },
    async () => ({ live: true }),
  );

  app.get(
    '/health/ready',
    {
      schema: {
        tags,
        security: [],
        summary: 'Readiness (Open Inference Protocol): the same checks as /readyz',
        response: { 200: V2Ready, 503: V2Ready },
      },
    },
    async (_request, reply) => {
      const { ready, retryAfter } = await readiness(app.services);
      if (!ready) reply.code(503).header('Retry-After', retryAfter);
      return { ready };
    },
  );
};

/** `name` or `name@alias` of the path, with the path's version if any: which version is meant. */
function targetOf(param: string, version?: number): { name: string; target: VersionTarget } {
  const [name, alias] = param.split('@');
  if (alias !== undefined && version !== undefined) {
    const message = `name an alias (${param}) or a version (/versions/${version}), not both`;
    throw badRequest(message, [{ path: '/name', message }]);
  }
  return {
    name,
    target: alias !== undefined ? { alias } : version !== undefined ? { version } : { latest: true },
  };
}

const dims = (shape: (number | null)[]) => shape.map((d) => d ?? -1);

/** The model's one input and one output as the protocol describes tensors; the first dimension is the batch. */
function tensors(meta: ModelMeta) {
  return {
    inputs: [{ name: INPUT_NAME, datatype: DATATYPE, shape: [-1, ...meta.transforms.featureShape] }],
    outputs: [{ name: OUTPUT_NAME, datatype: DATATYPE, shape: [-1, ...dims(meta.summary.outputShape.slice(1))] }],
  };
}

/**
 * A tensor's values, row-major, from `data` flat (as long as the shape's product) or nested as
 * the shape says; anything else is a 400 naming where. The walk is as deep as the shape, which
 * the schema bounds.
 */
function tensorValues(data: unknown[], shape: number[], at: string): number[] {
  const fail = (path: string, message: string): never => {
    throw badRequest(`${path} ${message}`, [{ path, message }]);
  };
  const total = sizeOf(shape);
  // Grown as values are found, not sized from the shape: the body (bounded) is what holds them.
  const values: number[] = [];
  const put = (v: unknown, path: string) => {
    if (typeof v !== 'number' || !Number.isFinite(v)) fail(path, `is ${JSON.stringify(v)}; FP32 data are numbers`);
    values.push(v as number);
  };
  if (data.length === total && data.every((v) => !Array.isArray(v))) {
    for (const [i, v] of data.entries()) put(v, `${at}/data/${i}`);
    return values;
  }
  if (shape.length === 1 || !data.some(Array.isArray))
    fail(`${at}/data`, `holds ${data.length} values; shape [${shape}] needs ${total}`);
  const walk = (items: unknown, depth: number, path: string) => {
    if (!Array.isArray(items) || items.length !== shape[depth])
      fail(path, `should be an array of ${shape[depth]} (dimension ${depth} of shape [${shape}])`);
    const list = items as unknown[];
    for (const [i, v] of list.entries()) {
      if (depth === shape.length - 1) put(v, `${path}/${i}`);
      else walk(v, depth + 1, `${path}/${i}`);
    }
  };
  walk(data, 0, `${at}/data`);
  return values;
}

/** The request's one input as instances for the predictor, each checked against the model's input. */
function instancesOf(body: V2InferRequest, meta: ModelMeta): number[][] {
  const [input, extra] = body.inputs;
  if (extra) throw badRequest('this model has one input', [{ path: '/inputs/1', message: 'this model has one input' }]);
  const field = (name: string, message: string) =>
    badRequest(`/inputs/0/${name} ${message}`, [{ path: `/inputs/0/${name}`, message }]);
  if (input.name !== INPUT_NAME)
    throw field('name', `is ${JSON.stringify(input.name)}; this model's input is "${INPUT_NAME}"`);
  if (input.datatype !== DATATYPE)
    throw field('datatype', `is ${JSON.stringify(input.datatype)}; this model's input is ${DATATYPE}`);
  const [batch, ...inner] = input.shape;
  const per = sizeOf(meta.transforms.featureShape);
  if (batch < 1 || batch > MAX_PREDICT_INSTANCES)
    throw field('shape', `has a batch of ${batch}; 1 to ${MAX_PREDICT_INSTANCES} instances per request`);
  if (sizeOf(inner) !== per)
    throw field(
      'shape',
      `is [${input.shape}]: ${sizeOf(inner)} values per instance; the model takes ${per} (shape [-1,${meta.transforms.featureShape}])`,
    );
  const values = tensorValues(input.data, input.shape, '/inputs/0');
  return Array.from({ length: batch }, (_, i) => values.slice(i * per, (i + 1) * per));
}

/** The predictor's errors name `/instances/...`: here the instances are the input's data. */
function asInputError(err: unknown): unknown {
  if (!(err instanceof AppError) || !err.errors.some((e) => e.path.startsWith('/instances'))) return err;
  const errors: FieldError[] = err.errors.map((e) => {
    const instance = /^\/instances\/(\d+)/.exec(e.path);
    if (!e.path.startsWith('/instances')) return e;
    return { path: '/inputs/0/data', message: instance ? `instance ${instance[1]}: ${e.message}` : e.message };
  });
  return new AppError(
    err.status,
    err.code,
    err.message.replaceAll('/instances', '/inputs/0/data'),
    errors,
    err.headers,
  );
}

/** One instance's output, nested: its shape (by its first elements) and values, row-major. */
function flatten(predictions: unknown[]): { inner: number[]; data: number[] } {
  const inner: number[] = [];
  for (let x = predictions[0]; Array.isArray(x); x = x[0]) inner.push(x.length);
  return { inner, data: predictions.flat(inner.length) as number[] };
}

/** `/v2/models/...`: metadata, readiness and inference of registered models, behind the same keys and tenancy as /v1. */
export const inferenceV2Routes: FastifyPluginAsyncTypebox = async (app) => {
  const { registry, models, predictor, config } = app.services;

  /** The version the path means and its stored model (the registry is per tenant: another's name is a 404). */
  const find = async (tenant: Tenant, param: string, pathVersion?: number) => {
    const { name, target } = targetOf(param, pathVersion);
    const version = await resolveVersion(registry, tenant, name, target);
    const meta = await models.get(version.modelId);
    if (!meta) throw new AppError(404, 'not_found', `version ${version.version} of ${name} has no stored model`);
    return { name, version, meta };
  };

  const metadata = async (tenant: Tenant, param: string, pathVersion?: number) => {
    const { name, meta } = await find(tenant, param, pathVersion);
    const listed = await registry.get(tenant.id, name, { limit: LISTED_VERSIONS });
    const versions = (listed?.versions ?? []).map((v) => String(v.version));
    return { name, versions, platform: 'tensorflowjs', ...tensors(meta) };
  };

  const ready = async (tenant: Tenant, param: string, pathVersion?: number) => {
    await find(tenant, param, pathVersion);
    return { name: param, ready: true };
  };

  const infer = async (tenant: Tenant, param: string, body: V2InferRequest, pathVersion?: number) => {
    const { name, version, meta } = await find(tenant, param, pathVersion);
    for (const [i, wanted] of (body.outputs ?? []).entries()) {
      if (wanted.name === OUTPUT_NAME) continue;
      const message = `is ${JSON.stringify(wanted.name)}; this model's output is "${OUTPUT_NAME}"`;
      throw badRequest(`/outputs/${i}/name ${message}`, [{ path: `/outputs/${i}/name`, message }]);
    }
    const instances = instancesOf(body, meta);
    const served = { name, version: version.version, modelId: version.modelId };
    const answer = await servePrediction(predictor, tenant, { instances }, served).catch((err) => {
      throw asInputError(err);
    });
    const { inner, data } = flatten('predictions' in answer ? answer.predictions : answer.outputs);
    return {
      model_name: name,
      model_version: String(version.version),
      ...(body.id !== undefined ? { id: body.id } : {}),
      outputs: [{ name: OUTPUT_NAME, datatype: DATATYPE, shape: [instances.length, ...inner], data }],
    };
  };

  app.get(
    '/models/:name',
    {
      schema: {
        tags,
        summary: "A registered model's metadata: versions, input and output tensors (latest version, or name@alias)",
        params: V2ModelParams,
        response: { 200: V2ModelMetadata, ...problems },
      },
    },
    async (request) => metadata(request.tenant, request.params.name),
  );

  app.get(
    '/models/:name/versions/:version',
    {
      schema: {
        tags,
        summary: "One version's metadata",
        params: V2VersionParams,
        response: { 200: V2ModelMetadata, ...problems },
      },
    },
    async (request) => metadata(request.tenant, request.params.name, request.params.version),
  );

  app.get(
    '/models/:name/ready',
    {
      schema: {
        tags,
        summary: 'Whether the model (latest version, or name@alias) can be inferred with: 404 when it does not exist',
        params: V2ModelParams,
        response: { 200: V2ModelReady, ...problems },
      },
    },
    async (request) => ready(request.tenant, request.params.name),
  );

  app.get(
    '/models/:name/versions/:version/ready',
    {
      schema: {
        tags,
        summary: 'Whether the version can be inferred with: 404 when it does not exist',
        params: V2VersionParams,
        response: { 200: V2ModelReady, ...problems },
      },
    },
    async (request) => ready(request.tenant, request.params.name, request.params.version),
  );

  /** v1 predict's options (body limit, float32 check, problems), with the protocol's request and answer. */
  const inferRoute = <P extends typeof V2ModelParams | typeof V2VersionParams>(summary: string, params: P) => {
    const base = predictRoute(config, { tags, summary, params });
    return {
      ...base,
      schema: { ...base.schema, body: V2InferRequest, response: { ...base.schema.response, 200: V2InferResponse } },
    };
  };

  app.post(
    '/models/:name/infer',
    inferRoute('Inference with the latest version, or name@alias (Open Inference Protocol, JSON data)', V2ModelParams),
    async (request) => infer(request.tenant, request.params.name, request.body),
  );

  app.post(
    '/models/:name/versions/:version/infer',
    inferRoute('Inference with one version (Open Inference Protocol, JSON data)', V2VersionParams),
    async (request) => infer(request.tenant, request.params.name, request.body, request.params.version),
  );
};
