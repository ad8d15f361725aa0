import { Value } from '@sinclair/typebox/value';
import { AppError, type FieldError } from '../errors.ts';
import { LAYER_SCHEMAS, LAYER_TYPES } from '../schemas/layers.ts';
import type { ModelSpec } from '../schemas/job-request.ts';
import { activationName } from './keras-names.ts';

/** A layer after parsing: its `type` and tfjs constructor arguments, plus where it came from. */
export interface LayerDef {
  type: string;
  args: Record<string, unknown>;
  /** JSON pointer of this layer in the request, for error messages. */
  path: string;
}

const INITIALIZERS = [
  'zeros', 'ones', 'constant', 'glorotNormal', 'glorotUniform', 'heNormal', 'heUniform',
  'leCunNormal', 'leCunUniform', 'randomNormal', 'randomUniform', 'truncatedNormal', 'varianceScaling', 'orthogonal', 'identity',
];

/**
 * Turns the request's `model` (our `{layers}` form or a Keras `to_json()` document) into
 * checked layer definitions. Every problem is collected, so one 400 names them all.
 */
export function parseModel(model: ModelSpec, base = '/model'): LayerDef[] {
  const raw = model.layers ? model.layers.map((l, i) => ({ layer: l as Record<string, unknown>, path: `${base}/layers/${i}` })) : fromKeras(model, base);
  const errors: FieldError[] = [];
  const layers: LayerDef[] = [];
  let pendingInputShape: number[] | undefined;
  for (const { layer, path } of raw) {
    const { type, ...args } = layer as { type: unknown } & Record<string, unknown>;
    if (type === 'inputLayer') {
      pendingInputShape = inputShapeOf(args);
      continue;
    }
    const schema = typeof type === 'string' ? LAYER_SCHEMAS[type] : undefined;
    if (!schema) {
      errors.push({ path: `${path}/type`, message: `unknown layer type ${JSON.stringify(type)}; supported: ${LAYER_TYPES.join(', ')}` });
      continue;
    }
    if (pendingInputShape && args.inputShape === undefined && args.batchInputShape === undefined) args.inputShape = pendingInputShape;
    pendingInputShape = undefined;
    const before = errors.length;
    for (const e of Value.Errors(schema, args)) errors.push({ path: `${path}${e.path}`, message: e.message });
    checkNames(args, path, errors);
    if (errors.length > before) continue;
    const { batchInputShape, ...rest } = args;
    if (batchInputShape && !rest.inputShape) rest.inputShape = (batchInputShape as number[]).slice(1);
    if (typeof rest.activation === 'string') rest.activation = activationName(rest.activation);
    layers.push({ type: type as string, args: rest, path });
  }
  if (raw.length === 0) errors.push({ path: `${base}/layers`, message: 'the model has no layers' });
  if (errors.length > 0) throw new AppError(400, 'invalid_model', describe(errors), errors);
  return layers;
}

function describe(errors: FieldError[]) {
  const head = errors.slice(0, 3).map((e) => `${e.path} ${e.message}`).join('; ');
  return `the model definition is not valid: ${head}${errors.length > 3 ? ` (and ${errors.length - 3} more)` : ''}`;
}

function checkNames(args: Record<string, unknown>, path: string, errors: FieldError[]) {
  if (typeof args.activation === 'string' && !activationName(args.activation)) {
    errors.push({ path: `${path}/activation`, message: `unknown activation ${JSON.stringify(args.activation)}` });
  }
  for (const key of ['kernelInitializer', 'biasInitializer']) {
    const value = args[key];
    if (typeof value === 'string' && !INITIALIZERS.includes(value)) {
      errors.push({ path: `${path}/${key}`, message: `unknown initializer ${JSON.stringify(value)}; use one of ${INITIALIZERS.join(', ')}` });
    }
  }
}

function inputShapeOf(args: Record<string, unknown>): number[] | undefined {
  const batch = (args.batchInputShape ?? args.batchShape) as unknown[] | undefined;
  if (Array.isArray(batch)) return batch.slice(1) as number[];
  return args.inputShape as number[] | undefined;
}

/** Keys Keras writes that carry nothing we need; dropped when null or at their default. */
const KERAS_NOISE = new Set(['module', 'registeredName', 'buildConfig', 'sharedObjectId']);
const NULLABLE_DEFAULTS = new Set([
  'kernelRegularizer', 'biasRegularizer', 'activityRegularizer', 'kernelConstraint', 'biasConstraint', 'noiseShape', 'seed',
]);

/** Keras `{class_name: 'Sequential', config: {layers: [{class_name, config}]}}`, camelized on arrival. */
function fromKeras(model: ModelSpec, base: string) {
  const fail = (path: string, message: string): never => {
    throw new AppError(400, 'invalid_model', `the model definition is not valid: ${path} ${message}`, [{ path, message }]);
  };
  if (model.className !== 'Sequential') {
    if (model.className === undefined) fail(`${base}/layers`, 'give `layers`, or a Keras model.to_json() document');
    fail(`${base}/className`, `unsupported Keras model class ${JSON.stringify(model.className)}; Sequential is supported`);
  }
  const config = model.config as { layers?: unknown } | unknown[] | undefined;
  const list = Array.isArray(config) ? config : config?.layers;
  const listPath = Array.isArray(config) ? `${base}/config` : `${base}/config/layers`;
  if (!Array.isArray(list)) return fail(listPath, 'must be an array of layers');
  return list.map((entry, i) => {
    const path = `${listPath}/${i}`;
    const { className, config: layerConfig } = (entry ?? {}) as { className?: unknown; config?: Record<string, unknown> };
    if (typeof className !== 'string') fail(`${path}/className`, 'must be a string');
    const layer: Record<string, unknown> = { type: lowerFirst(className as string) };
    for (const [key, value] of Object.entries(layerConfig ?? {})) {
      if (KERAS_NOISE.has(key) || (value === null && NULLABLE_DEFAULTS.has(key))) continue;
      if (key === 'dtype') continue; // float32 is all we train in; Keras 3 writes a DTypePolicy object here
      if (key === 'dataFormat' && value === 'channels_last') continue;
      layer[key] = isKerasObject(value) ? lowerFirst(value.className) : value;
    }
    return { layer, path: `${path}/config` };
  });
}

const isKerasObject = (v: unknown): v is { className: string } =>
  typeof v === 'object' && v !== null && typeof (v as { className?: unknown }).className === 'string';

const lowerFirst = (s: string) => s.charAt(0).toLowerCase() + s.slice(1);
