import { Value } from '@sinclair/typebox/value';
import { AppError, type FieldError } from '../errors.ts';
import { LAYER_SCHEMAS, LAYER_TYPES, MERGE_LAYERS, layerType } from '../schemas/layers.ts';
import type { CompileSpec, ModelSpec } from '../schemas/job-request.ts';
import { fromKeras, isKerasDocument } from './keras-import.ts';
import type { RawModel } from './raw-model.ts';
import { normalizeOptions } from './layer-options.ts';

/** A layer after parsing: its `type` and tfjs constructor arguments, plus where it came from. */
export interface LayerDef {
  type: string;
  /** Unique within the model (generated when not given). */
  name: string;
  args: Record<string, unknown>;
  /** Graph models: the names of the layers or inputs this layer takes, in order. */
  inputs?: string[];
  /** bidirectional / timeDistributed: the wrapped layer. */
  wrapped?: LayerDef;
  /** JSON pointer of this layer in the request, for error messages. */
  path: string;
}

/** A parsed model: a stack of layers, or a graph with one input and one output. */
export interface ModelDef {
  layers: LayerDef[];
  graph?: { input: { name: string; shape?: number[] }; output: string };
  /** A Keras 3 document's `compile_config`, in our spelling; the request's `compile` wins. */
  compile?: CompileSpec;
  /** Things that were accepted but changed (e.g. Keras options ignored). */
  warnings: string[];
}

/**
 * Turns the request's `model` (our `{layers}` / `{inputs, layers, outputs}` form, a Keras 2
 * or 3 `model.to_json()` document, or tfjs `model.toJSON()`) into checked layer definitions.
 * Every problem is collected, so one 400 names them all.
 */
export function parseModel(model: ModelSpec, base = '/model'): ModelDef {
  const raw = isKerasDocument(model) ? fromKeras(model, base) : ownForm(model, base);
  const errors: FieldError[] = [];
  const layers: LayerDef[] = [];
  const names = new Set<string>((raw.inputs ?? []).map((i) => i.name));
  let pendingInputShape: number[] | undefined;
  let inputName: string | undefined = raw.inputs?.[0]?.name;
  let inputShape: number[] | undefined = raw.inputs?.[0]?.shape;
  for (const [i, { layer, path }] of raw.layers.entries()) {
    const { type: rawType } = layer;
    if (typeof rawType === 'string' && rawType.replace(/_/g, '').toLowerCase() === 'inputlayer') {
      const shape = shapeOf(layer);
      if (raw.graph) {
        const name = String(layer.name ?? `input_${i}`);
        if (inputName && inputName !== name)
          errors.push({ path, message: 'models with more than one input are not supported' });
        inputName = name;
        inputShape = shape;
        names.add(name);
      } else pendingInputShape = shape;
      continue;
    }
    const def = parseLayer(layer, path, errors, i);
    if (!def) continue;
    if (!raw.graph) {
      if (pendingInputShape && def.args.inputShape === undefined) def.args.inputShape = pendingInputShape;
      pendingInputShape = undefined;
    } else {
      def.inputs ??= [layers.at(-1)?.name ?? inputName ?? 'input'];
      if (!inputName && layers.length === 0) {
        inputName = def.inputs[0];
        inputShape = def.args.inputShape as number[] | undefined;
        names.add(inputName);
      }
      def.inputs.forEach((from, j) => {
        if (!names.has(from))
          errors.push({
            path: `${path}/inputs/${j}`,
            message: `refers to ${JSON.stringify(from)}, which is not an input or a layer defined before this one`,
          });
      });
      if (!MERGE_LAYERS.has(def.type) && def.inputs.length > 1)
        errors.push({
          path: `${path}/inputs`,
          message: `a ${def.type} layer takes one input; merge branches with add, concatenate, multiply or average`,
        });
      if (MERGE_LAYERS.has(def.type) && def.inputs.length < 2)
        errors.push({ path: `${path}/inputs`, message: `a ${def.type} layer merges two or more inputs` });
    }
    if (names.has(def.name))
      errors.push({ path: `${path}/name`, message: `the name ${JSON.stringify(def.name)} is used twice` });
    names.add(def.name);
    layers.push(def);
  }
  if (raw.layers.length === 0 || (layers.length === 0 && errors.length === 0))
    errors.push({ path: `${base}/layers`, message: 'the model has no layers' });
  if (!raw.graph) {
    const merge = layers.find((l) => MERGE_LAYERS.has(l.type));
    if (merge)
      errors.push({
        path: merge.path,
        message: `a ${merge.type} layer needs a graph model: give each layer its \`inputs\``,
      });
  }
  let graph: ModelDef['graph'];
  if (raw.graph && layers.length > 0) {
    if ((raw.outputs?.length ?? 1) > 1)
      errors.push({ path: `${base}/outputs`, message: 'models with more than one output are not supported' });
    const output = raw.outputs?.[0] ?? layers[layers.length - 1].name;
    if (!layers.some((l) => l.name === output))
      errors.push({
        path: `${base}/outputs/0`,
        message: `refers to ${JSON.stringify(output)}, which is not a layer of the model`,
      });
    graph = { input: { name: inputName ?? 'input', shape: inputShape }, output };
  }
  if (errors.length > 0) throw new AppError(400, 'invalid_model', describe(errors), errors);
  return { layers, graph, compile: raw.compile, warnings: raw.warnings };
}

/** One layer: type, schema, named options, and (for wrappers) the wrapped layer. */
function parseLayer(
  layer: Record<string, unknown>,
  path: string,
  errors: FieldError[],
  index: number,
): LayerDef | undefined {
  const { type: rawType, ...args } = layer;
  const type = typeof rawType === 'string' ? layerType(rawType) : undefined;
  if (!type) {
    errors.push({
      path: `${path}/type`,
      message: `unknown layer type ${JSON.stringify(rawType)}; supported: ${LAYER_TYPES.join(', ')}`,
    });
    return undefined;
  }
  const before = errors.length;
  const seen = new Set<string>();
  for (const e of Value.Errors(LAYER_SCHEMAS[type], args)) {
    if (!seen.has(e.path))
      errors.push({
        path: `${path}${e.path}`,
        message: e.path === '' ? e.message : `${e.message}${e.schema.description ? ` (${e.schema.description})` : ''}`,
      });
    seen.add(e.path);
  }
  if (errors.length > before) return undefined;
  normalizeOptions(args, path, errors);
  let wrapped: LayerDef | undefined;
  if (args.layer) {
    wrapped = parseLayer(args.layer as Record<string, unknown>, `${path}/layer`, errors, index);
    delete args.layer;
    const rnn = ['lstm', 'gru', 'simpleRNN'];
    if (wrapped && type === 'bidirectional' && !rnn.includes(wrapped.type)) {
      errors.push({
        path: `${path}/layer/type`,
        message: `bidirectional wraps a recurrent layer (${rnn.join(', ')}), not ${wrapped.type}`,
      });
    }
  }
  if ([args.dilationRate].flat().some((d) => d !== undefined && d !== 1)) {
    errors.push({
      path: `${path}/dilationRate`,
      message: 'dilation rates above 1 cannot be trained by TensorFlow.js (it has no gradient for them)',
    });
  }
  if (errors.length > before) return undefined;
  const { batchInputShape, inputs, name, ...rest } = args as Record<string, unknown> & {
    inputs?: string[];
    name?: string;
  };
  if (batchInputShape && !rest.inputShape) rest.inputShape = (batchInputShape as number[]).slice(1);
  if (rest.inputDim !== undefined && type !== 'embedding') {
    rest.inputShape ??= [rest.inputDim];
    delete rest.inputDim;
  }
  return { type, name: name ?? `${type}_${index + 1}`, args: rest, inputs, wrapped, path };
}

function ownForm(model: ModelSpec, base: string): RawModel {
  const spec = model as ModelSpec & { inputs?: { name: string; shape?: number[] }[]; outputs?: string[] };
  if (!Array.isArray(spec.layers)) {
    throw new AppError(400, 'invalid_model', `${base}/layers give \`layers\`, or a Keras model.to_json() document`, [
      { path: `${base}/layers`, message: 'give `layers`, or a Keras model.to_json() document' },
    ]);
  }
  const layers = spec.layers.map((l, i) => ({ layer: l as Record<string, unknown>, path: `${base}/layers/${i}` }));
  const graph =
    spec.inputs !== undefined || spec.outputs !== undefined || layers.some((l) => l.layer.inputs !== undefined);
  return { layers, inputs: spec.inputs, outputs: spec.outputs, graph, warnings: [] };
}

function shapeOf(args: Record<string, unknown>): number[] | undefined {
  const batch = (args.batchInputShape ?? args.batchShape) as unknown[] | undefined;
  if (Array.isArray(batch)) return batch.slice(1) as number[];
  return args.inputShape as number[] | undefined;
}

export function describe(errors: FieldError[]) {
  const head = errors
    .slice(0, 3)
    .map((e) => `${e.path} ${e.message}`)
    .join('; ');
  return `the model definition is not valid: ${head}${errors.length > 3 ? ` (and ${errors.length - 3} more)` : ''}`;
}
