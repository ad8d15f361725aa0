import { AppError, type FieldError } from '../errors.ts';
import type { CompileSpec, ModelSpec } from '../schemas/job-request.ts';
import { own } from '../json-guard.ts';
import { LAYER_TYPES, layerType } from '../schemas/layers.ts';
import { lossName, metricName, optimizerName } from './keras-names.ts';
import type { RawLayer, RawModel } from './raw-model.ts';

/**
 * Translates Keras documents into our own raw form: Python Keras 2.x and Keras 3
 * `model.to_json()` (Sequential and Functional) and tfjs `model.toJSON()`. Keys arrive
 * camelized. Keras 3 adds `module`, `registeredName`, `buildConfig`, a `DTypePolicy` dtype,
 * `batchShape` on the InputLayer, a new `inboundNodes` form and a `compileConfig`; all are
 * mapped here. Nothing is ever evaluated: unknown classes and modules are refused by name.
 */

export const isKerasDocument = (model: ModelSpec) =>
  typeof model.className === 'string' || (model.config !== undefined && model.layers === undefined);

type Dict = Record<string, unknown>;
const isDict = (v: unknown): v is Dict => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Keras options with no tfjs counterpart that are harmless at these values. */
const IGNORABLE: Record<string, (v: unknown) => boolean> = {
  groups: (v) => v === 1,
  loraRank: (v) => v === null,
  loraAlpha: (v) => v === null,
  synchronized: (v) => v === false,
  useCudnn: () => true,
  zeroOutputForMask: () => true,
  timeMajor: (v) => v === false,
  sparse: (v) => v === false,
  ragged: (v) => v === false,
  autocast: () => true,
  rmsScaling: (v) => v === false,
  quantizationConfig: (v) => v === null,
  backwardLayer: () => true, // tfjs mirrors the forward layer, as Keras does by default
  seed: () => true,
  inputLength: (v) => v === null,
  optional: (v) => v === false,
  renorm: (v) => v === false,
  renormMomentum: () => true, // only used with renorm
  fused: () => true,
  outputPadding: (v) => v === null,
  keepdims: (v) => v === false,
};

const DROPPED = new Set(['module', 'registeredName', 'buildConfig', 'sharedObjectId', 'dtype']);

/**
 * Refusals by policy rather than by mistake: code (Lambda, Python functions), classes from
 * outside Keras, custom registered classes, classes we do not have. They make the document a
 * 422 `layer_not_allowed` (it is well-formed; we will not run it), other errors a 400.
 */
const REFUSALS = new WeakSet<FieldError>();
const refuse = (errors: FieldError[], path: string, message: string) => {
  const error = { path, message };
  REFUSALS.add(error);
  errors.push(error);
};

/** A Keras-serialized Python function or lambda, or an object from a module outside Keras. */
function foreignCode(value: unknown): string | undefined {
  if (!isDict(value)) return undefined;
  if (value.className === 'function' || value.className === '__lambda__' || value.registeredName === 'function') {
    return `a Python function (${JSON.stringify(String(value.config ?? value.className)).slice(0, 80)})`;
  }
  if (typeof value.module === 'string' && !value.module.startsWith('keras'))
    return `an object from module ${JSON.stringify(value.module.slice(0, 80))}`;
  return undefined;
}

const fail = (path: string, message: string): never => {
  throw new AppError(400, 'invalid_model', `the model definition is not valid: ${path} ${message}`, [
    { path, message },
  ]);
};

export function fromKeras(model: ModelSpec, base: string): RawModel {
  const doc = model as Dict;
  const className = doc.className;
  const warnings: string[] = [];
  const graph = className === 'Functional' || className === 'Model';
  if (!graph && className !== 'Sequential') {
    if (className === undefined)
      fail(`${base}/className`, 'a Keras document needs `class_name` (Sequential or Functional)');
    fail(
      `${base}/className`,
      `unsupported Keras model class ${JSON.stringify(className)}; Sequential and Functional are supported`,
    );
  }
  const config = doc.config as Dict | unknown[] | undefined;
  const list = Array.isArray(config) ? config : config?.layers;
  const listPath = Array.isArray(config) ? `${base}/config` : `${base}/config/layers`;
  if (!Array.isArray(list)) return fail(listPath, 'must be an array of layers');
  const errors: FieldError[] = [];
  const layers: RawLayer[] = [];
  for (const [i, entry] of list.entries()) {
    const path = `${listPath}/${i}`;
    const layer = kerasLayer(entry, path, errors, warnings);
    if (!layer) continue;
    if (graph && isDict(entry)) {
      const inputs = inboundNames((entry as Dict).inboundNodes, `${path}/inboundNodes`, errors);
      if (inputs.length > 0) layer.inputs = inputs;
      if (typeof (entry as Dict).name === 'string') layer.name ??= (entry as Dict).name;
    }
    layers.push({ layer, path: `${path}/config` });
  }
  let outputs: string[] | undefined;
  if (graph && isDict(config)) {
    const ins = tensorRefs(config.inputLayers);
    const outs = tensorRefs(config.outputLayers);
    if (ins.length > 1)
      errors.push({ path: `${base}/config/inputLayers`, message: 'models with more than one input are not supported' });
    if (outs.length > 1)
      errors.push({
        path: `${base}/config/outputLayers`,
        message: 'models with more than one output are not supported',
      });
    outputs = outs.slice(0, 1);
  }
  if (errors.length > 0) {
    const refused = errors.filter((e) => REFUSALS.has(e));
    if (refused.length > 0)
      throw new AppError(
        422,
        'layer_not_allowed',
        `the model document is refused: ${refused[0].path} ${refused[0].message}`,
        refused,
      );
    throw new AppError(
      400,
      'invalid_model',
      `the model definition is not valid: ${errors[0].path} ${errors[0].message}`,
      errors,
    );
  }
  const compile = doc.compileConfig
    ? compileFromKeras(doc.compileConfig, `${base}/compileConfig`, warnings)
    : undefined;
  return { layers, outputs, compile, warnings, graph };
}

/** One Keras layer entry -> our raw layer (`type` + camelCase tfjs options). */
function kerasLayer(entry: unknown, path: string, errors: FieldError[], warnings: string[]): Dict | undefined {
  if (!isDict(entry) || typeof entry.className !== 'string')
    return void errors.push({ path: `${path}/className`, message: 'must be a string' });
  const cls = entry.className;
  const cfg = isDict(entry.config) ? entry.config : {};
  const label = `layer ${JSON.stringify(cfg.name ?? entry.name ?? cls)} (${cls})`;
  if (typeof entry.module === 'string' && !entry.module.startsWith('keras')) {
    return void refuse(
      errors,
      `${path}/module`,
      `${label} comes from module ${JSON.stringify(entry.module)}: custom layers are not supported`,
    );
  }
  if (typeof entry.registeredName === 'string' && entry.registeredName.includes('>')) {
    return void refuse(
      errors,
      `${path}/registeredName`,
      `${label} is a custom registered class (${entry.registeredName}): custom layers are not supported`,
    );
  }
  if (cls === 'Lambda' || cls === 'TFOpLambda' || cls === 'SlicingOpLambda') {
    return void refuse(
      errors,
      `${path}/className`,
      `${label} holds Python code; this service never runs code from a model document`,
    );
  }
  const type = cls === 'InputLayer' ? 'inputLayer' : layerType(cls);
  if (!type)
    return void refuse(
      errors,
      `${path}/className`,
      `${label} is not a supported layer; supported: ${LAYER_TYPES.join(', ')}`,
    );
  const layer: Dict = { type };
  for (const [key, value] of Object.entries(cfg)) {
    const code = key === 'layer' ? undefined : foreignCode(value);
    if (code) {
      refuse(
        errors,
        `${path}/config/${key}`,
        `${label}: ${key} is ${code}; this service never runs code from a model document, only built-in Keras names`,
      );
      continue;
    }
    if (DROPPED.has(key)) {
      if (key === 'dtype') checkDtype(value, label, warnings);
      continue;
    }
    if (value === null) continue; // Keras writes null for "the default"
    if (own(IGNORABLE, key)?.(value)) continue;
    if (key === 'dataFormat') {
      if (value === 'channels_first')
        errors.push({ path: `${path}/config/dataFormat`, message: `${label}: channels_first data is not supported` });
      continue;
    }
    if (key === 'layer') {
      layer.layer = kerasLayer(value, `${path}/config/layer`, errors, warnings);
      continue;
    }
    if (key === 'resetAfter' && value === true) {
      // Keras's default since 2.x; tfjs has only the original GRU, which trains just as well from scratch
      warnings.push(
        `${label}: reset_after=True is not available in TensorFlow.js; it is trained as the reset_after=False GRU (one bias vector fewer)`,
      );
      continue;
    }
    if (type === 'batchNormalization' && key === 'axis' && Array.isArray(value) && value.length === 1) {
      layer.axis = value[0];
      continue;
    }
    layer[key] = value;
  }
  return layer;
}

function checkDtype(value: unknown, label: string, warnings: string[]) {
  const name = isDict(value) ? (value.config as Dict | undefined)?.name : value;
  if (name !== undefined && name !== 'float32')
    warnings.push(`${label} asks for dtype ${JSON.stringify(name)}; it is trained in float32`);
}

/** Keras 2 / tfjs: [[["dense", 0, 0, {}], ...]]; Keras 3: [{args: [{className: "__keras_tensor__", config: {kerasHistory: ["dense", 0, 0]}}]}]. */
function inboundNames(nodes: unknown, path: string, errors: FieldError[]): string[] {
  if (!Array.isArray(nodes) || nodes.length === 0) return [];
  if (nodes.length > 1) errors.push({ path, message: 'a layer used more than once (a shared layer) is not supported' });
  const node = nodes[0];
  if (Array.isArray(node)) return node.filter(Array.isArray).map((t) => String(t[0]));
  const names: string[] = [];
  const walk = (v: unknown) => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (isDict(v)) {
      // {className: "__keras_tensor__", config: {kerasHistory}}, or {kerasHistory} in some writers
      const history = (v.config as Dict | undefined)?.kerasHistory ?? v.kerasHistory;
      if (Array.isArray(history)) names.push(String(history[0]));
      else if (v !== node) return;
      else walk(v.args);
    }
  };
  walk(node);
  return names;
}

/** `[["input_1", 0, 0]]`, or Keras 3's single `["input_1", 0, 0]`. */
function tensorRefs(refs: unknown): string[] {
  if (!Array.isArray(refs)) return [];
  if (refs.length > 0 && typeof refs[0] === 'string') return [refs[0]];
  return refs.filter(Array.isArray).map((r) => String(r[0]));
}

/** Keras 3 `compile_config` -> our compile spec. Unknown names are left for parseCompile to name. */
function compileFromKeras(raw: unknown, path: string, warnings: string[]): CompileSpec {
  if (!isDict(raw)) return fail(path, 'must be an object');
  const name = (v: unknown) => (isDict(v) ? String(v.className ?? '') : String(v ?? ''));
  const loss =
    Array.isArray(raw.loss) || (isDict(raw.loss) && !('className' in raw.loss))
      ? fail(`${path}/loss`, 'one loss per model is supported')
      : raw.loss;
  if (isDict(loss) && isDict(loss.config) && loss.config.fromLogits === true) {
    fail(
      `${path}/loss/config/fromLogits`,
      'from_logits=True is not supported: give the output layer a softmax (or sigmoid) activation instead',
    );
  }
  const metricsRaw = Array.isArray(raw.metrics) ? raw.metrics.flat(2) : [];
  const metrics = metricsRaw.map(name).filter((m) => m !== '' && m !== 'loss' && m !== 'compileMetrics');
  return {
    optimizer: optimizerFromKeras(raw.optimizer, `${path}/optimizer`, warnings),
    loss: lossName(name(loss)) ?? name(loss),
    metrics: metrics.map((m) => metricName(m) ?? m),
  };
}

const OPTIMIZER_KEYS: Record<string, string> = {
  learningRate: 'learningRate',
  lr: 'learningRate',
  momentum: 'momentum',
  nesterov: 'useNesterov',
  rho: 'rho',
  epsilon: 'epsilon',
  centered: 'centered',
  beta1: 'beta1',
  beta2: 'beta2',
  initialAccumulatorValue: 'initialAccumulatorValue',
  clipnorm: 'clipnorm',
  clipvalue: 'clipvalue',
  globalClipnorm: 'globalClipnorm',
};

function optimizerFromKeras(raw: unknown, path: string, warnings: string[]): CompileSpec['optimizer'] {
  if (typeof raw === 'string') return optimizerName(raw) ?? raw;
  if (!isDict(raw)) return fail(path, 'must be a name or a Keras optimizer');
  const type = optimizerName(String(raw.className ?? '')) ?? String(raw.className);
  const options: Dict = { type };
  for (const [key, value] of Object.entries(isDict(raw.config) ? raw.config : {})) {
    if (value === null || value === false || key === 'name') continue;
    const ours = own(OPTIMIZER_KEYS, key);
    if (ours && (typeof value === 'number' || typeof value === 'boolean')) options[ours] = value;
    else if (key === 'learningRate' && isDict(value)) {
      const initial = (value.config as Dict | undefined)?.initialLearningRate;
      if (typeof initial !== 'number') fail(`${path}/config/learningRate`, 'learning-rate schedules are not supported');
      options.learningRate = initial;
      warnings.push(
        `the optimizer's ${String(value.className)} schedule is not supported; training uses its initial learning rate ${initial} (use the reduceLROnPlateau callback to lower it)`,
      );
    } else if (['useEma', 'amsgrad', 'weightDecay'].includes(key) && value)
      warnings.push(`optimizer option ${key}=${JSON.stringify(value)} is not supported and is ignored`);
  }
  return options as CompileSpec['optimizer'];
}
