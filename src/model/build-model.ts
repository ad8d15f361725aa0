import * as tf from '@tensorflow/tfjs';
import { AppError } from '../errors.ts';
import { MERGE_LAYERS } from '../schemas/layers.ts';
import { tfjsOptions } from './layer-options.ts';
import type { ModelDef } from './model-spec.ts';
import { estimateLayer, type LayerEstimate } from './model-estimates.ts';
import { seedInitializers, seedSequence } from './seed-initializers.ts';

type Factory = (args: never) => tf.layers.Layer;
const L = tf.layers as unknown as Record<string, Factory>;

/** Our layer types are tfjs's factory names. */
const factory = (type: string): Factory => L[type];

type Shape = (number | null)[];

export interface Limits {
  maxParams?: number;
  maxLayers?: number;
  /** A dry run: weights are allocated for their shapes only, as zeros (see `tfjsOptions`). */
  shapesOnly?: boolean;
  /** fit.seed: seeds every random initializer the request left unseeded (see `seedInitializers`). */
  seed?: number;
}

/** The model's layers, created (no weights yet) with their shapes and size estimates. */
export interface ModelPlan {
  estimates: LayerEstimate[];
  totalParams: number;
}

/**
 * Creates the layers and walks their output shapes *before* any weight is allocated, so a
 * shape error names its layer and a model too big to hold is refused with its numbers.
 * Only then builds the tf model: a tf.Sequential for a stack, a tf.LayersModel for a graph.
 */
export function buildModel(def: ModelDef, inputShape: number[], limits: Limits = {}): tf.LayersModel {
  return buildWithEstimates(def, inputShape, limits).model;
}

export function buildWithEstimates(
  def: ModelDef,
  inputShape: number[],
  limits: Limits = {},
): { model: tf.LayersModel; plan: ModelPlan } {
  const { created, plan } = createLayers(def, inputShape, limits);
  return { model: connect(def, inputShape, created), plan };
}

function connect(def: ModelDef, inputShape: number[], created: Map<string, tf.layers.Layer>): tf.LayersModel {
  try {
    if (!def.graph) return tf.sequential({ layers: def.layers.map((l) => created.get(l.name)!) });
    const symbolic = new Map<string, tf.SymbolicTensor>();
    symbolic.set(def.graph.input.name, tf.input({ shape: inputShape, name: def.graph.input.name }));
    for (const l of def.layers) {
      const inputs = l.inputs!.map((n) => symbolic.get(n)!);
      symbolic.set(
        l.name,
        created.get(l.name)!.apply(MERGE_LAYERS.has(l.type) ? inputs : inputs[0]) as tf.SymbolicTensor,
      );
    }
    return tf.model({
      inputs: symbolic.get(def.graph.input.name)!,
      outputs: symbolic.get(def.graph.output)!,
      name: 'model',
    });
  } catch (err) {
    if (err instanceof AppError) throw err;
    const message = (err as Error).message;
    throw new AppError(422, 'invalid_model', `the model cannot be built: ${message}`, [{ path: '/model', message }]);
  }
}

/** The dry walk: layer objects, shapes and estimates, with every limit checked. */
export function createLayers(def: ModelDef, inputShape: number[], limits: Limits = {}) {
  const layerCount = def.layers.length;
  if (limits.maxLayers !== undefined && layerCount > limits.maxLayers) {
    const message = `the model has ${layerCount} layers; the limit is ${limits.maxLayers}`;
    throw new AppError(422, 'model_too_large', message, [{ path: '/model/layers', message }]);
  }
  const first = def.layers[0];
  const declared = def.graph ? def.graph.input.shape : (first.args.inputShape as Shape | undefined);
  if (declared && !sameShape(declared, inputShape)) {
    const path = def.graph ? '/model/inputs/0/shape' : `${first.path}/inputShape`;
    const message = `is [${declared}] but the data gives samples of shape [${inputShape}]`;
    throw new AppError(422, 'shape_mismatch', `${path} ${message}`, [{ path, message }]);
  }
  const created = new Map<string, tf.layers.Layer>();
  const shapes = new Map<string, Shape>();
  const estimates: LayerEstimate[] = [];
  const inputName = def.graph?.input.name ?? '';
  shapes.set(inputName, [null, ...inputShape]);
  let previous = inputName;
  const nextSeed = limits.seed === undefined || limits.shapesOnly ? undefined : seedSequence(limits.seed);
  for (const [i, l] of def.layers.entries()) {
    const inputs = (l.inputs ?? [previous]).map((n) => shapes.get(n)!);
    const input = MERGE_LAYERS.has(l.type) ? inputs : inputs[0];
    try {
      const args: Record<string, unknown> = { ...tfjsOptions(l.args, limits.shapesOnly), name: l.name };
      delete args.inputShape;
      if (i === 0 && !def.graph) args.inputShape = inputShape;
      if (l.type === 'gaussianNoise' || l.type === 'gaussianDropout') delete args.seed;
      if (l.wrapped) args.layer = factory(l.wrapped.type)(tfjsOptions(l.wrapped.args, limits.shapesOnly) as never);
      const layer = factory(l.type)(args as never);
      if (nextSeed) seedInitializers(layer, nextSeed);
      const output = layer.computeOutputShape(input as never) as Shape;
      if (output.some((d, j) => j > 0 && d !== null && !(d > 0)))
        throw new Error(`the output shape would be [${output.slice(1)}]`);
      created.set(l.name, layer);
      shapes.set(l.name, output);
      estimates.push(estimateLayer(l, inputs, output));
    } catch (err) {
      const shown = inputs.map((s) => `[${s.slice(1)}]`).join(' and ');
      const message = `cannot take input of shape ${shown}: ${(err as Error).message}`;
      throw new AppError(422, 'shape_mismatch', `${l.path} ${message}`, [{ path: l.path, message }]);
    }
    previous = l.name;
  }
  const totalParams = estimates.reduce((a, e) => a + e.params, 0);
  if (limits.maxParams !== undefined && totalParams > limits.maxParams) {
    const message = `the model would have ${totalParams.toLocaleString('en')} parameters; the limit is ${limits.maxParams.toLocaleString('en')}`;
    throw new AppError(422, 'model_too_large', message, [{ path: '/model', message }]);
  }
  return { created, plan: { estimates, totalParams } as ModelPlan };
}

const sameShape = (a: Shape, b: number[]) => a.length === b.length && a.every((d, i) => d === null || d === b[i]);

export interface LayerSummary {
  name: string;
  type: string;
  outputShape: (number | null)[];
  params: number;
  trainable: boolean;
  /** Graph models: the layers this one takes its input from. */
  inputs?: string[];
}

export interface ModelSummary {
  layers: LayerSummary[];
  totalParams: number;
  trainableParams: number;
  nonTrainableParams: number;
  inputShape: (number | null)[];
  outputShape: (number | null)[];
}

const count = (ws: tf.LayerVariable[]) => ws.reduce((a, w) => a + w.shape.reduce((x: number, y) => x * (y ?? 1), 1), 0);

/** Keras's `model.summary()` as data. */
export function summarize(model: tf.LayersModel): ModelSummary {
  const graph = !(model instanceof tf.Sequential);
  const layers = model.layers.map((l) => ({
    name: l.name,
    type: l.getClassName(),
    outputShape: l.outputShape as (number | null)[],
    params: l.countParams(),
    trainable: l.trainable,
    ...(graph ? { inputs: l.inboundNodes.flatMap((n) => n.inboundLayers.map((x) => x.name)) } : {}),
  }));
  const totalParams = layers.reduce((a, l) => a + l.params, 0);
  const trainableParams = count(model.trainableWeights);
  return {
    layers,
    totalParams,
    trainableParams,
    nonTrainableParams: totalParams - trainableParams,
    inputShape: model.inputs[0].shape,
    outputShape: model.outputs[0].shape,
  };
}
