import * as tf from '@tensorflow/tfjs';
import { AppError, type FieldError } from '../errors.ts';
import type { LayerDef } from './model-spec.ts';

const FACTORIES: Record<string, (args: never) => tf.layers.Layer> = {
  dense: tf.layers.dense,
  dropout: tf.layers.dropout,
  flatten: tf.layers.flatten,
  reshape: tf.layers.reshape,
  activation: tf.layers.activation,
};

type Shape = (number | null)[];

/**
 * Creates the layers and walks their output shapes *before* any weight is allocated, so a
 * shape error names its layer and a model too big to hold is refused with its numbers.
 * Only then builds the tf model.
 */
export function buildModel(layers: LayerDef[], inputShape: number[], maxParams = Infinity): tf.Sequential {
  const errors: FieldError[] = [];
  const first = layers[0];
  const declared = first.args.inputShape as number[] | undefined;
  if (declared && String(declared) !== String(inputShape)) {
    errors.push({ path: `${first.path}/inputShape`, message: `is [${declared}] but the data gives samples of shape [${inputShape}]` });
    throw new AppError(422, 'shape_mismatch', `${errors[0].path} ${errors[0].message}`, errors);
  }
  const created: tf.layers.Layer[] = [];
  let shape: Shape = [null, ...inputShape];
  let params = 0;
  for (const [i, def] of layers.entries()) {
    const args = i === 0 ? { ...def.args, inputShape } : def.args;
    try {
      const layer = FACTORIES[def.type](args as never);
      params += estimateParams(def, shape);
      shape = layer.computeOutputShape(shape) as Shape;
      created.push(layer);
    } catch (err) {
      const message = `cannot follow input of shape [${shape.slice(1)}]: ${(err as Error).message}`;
      throw new AppError(422, 'shape_mismatch', `${def.path} ${message}`, [{ path: def.path, message }]);
    }
  }
  if (params > maxParams) {
    const message = `the model would have about ${params.toLocaleString('en')} parameters; the limit is ${maxParams.toLocaleString('en')}`;
    throw new AppError(422, 'model_too_large', message, [{ path: '/model', message }]);
  }
  const model = tf.sequential();
  try {
    for (const layer of created) model.add(layer);
  } catch (err) {
    model.dispose();
    throw new AppError(422, 'invalid_model', `the model cannot be built: ${(err as Error).message}`, [{ path: '/model', message: (err as Error).message }]);
  }
  return model;
}

/** Weights a layer will allocate, known before it is built (only Dense has any here). */
function estimateParams(def: LayerDef, input: Shape): number {
  if (def.type !== 'dense') return 0;
  const inputs = input[input.length - 1] ?? 0;
  const units = def.args.units as number;
  return inputs * units + (def.args.useBias === false ? 0 : units);
}

export interface LayerSummary {
  name: string;
  type: string;
  outputShape: (number | null)[];
  params: number;
  trainable: boolean;
}

export interface ModelSummary {
  layers: LayerSummary[];
  totalParams: number;
  trainableParams: number;
  inputShape: (number | null)[];
  outputShape: (number | null)[];
}

/** Keras's `model.summary()` as data. */
export function summarize(model: tf.LayersModel): ModelSummary {
  const layers = model.layers.map((l) => ({
    name: l.name,
    type: l.getClassName(),
    outputShape: l.outputShape as (number | null)[],
    params: l.countParams(),
    trainable: l.trainable,
  }));
  const totalParams = layers.reduce((a, l) => a + l.params, 0);
  const trainableParams = model.trainableWeights.reduce((a, w) => a + w.shape.reduce((x: number, y) => x * (y ?? 1), 1), 0);
  return {
    layers,
    totalParams,
    trainableParams,
    inputShape: model.inputs[0].shape,
    outputShape: model.outputs[0].shape,
  };
}
