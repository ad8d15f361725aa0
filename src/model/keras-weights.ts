import * as tf from '@tensorflow/tfjs';
import { AppError } from '../errors.ts';

/** One layer's weights as a Keras file holds them: in Keras's order (kernel, recurrent kernel, bias; gamma, beta, moving mean, moving variance). */
export interface LayerWeights {
  layer: string;
  weights: { name: string; shape: number[]; values: Float32Array }[];
}

const mismatch = (layer: string, message: string) =>
  new AppError(422, 'weights_mismatch', `layer ${JSON.stringify(layer)}: ${message}`, [
    { path: `/file/model_weights/${layer}`, message },
  ]);

/**
 * Sets a built model's weights from a Keras file's, layer by layer in Keras's order, which is
 * tfjs's order too (both come from the same layer definitions). Names inside a layer differ
 * between writers (`dense/kernel:0`, `lstm/lstm_cell/kernel:0`) and are not relied on; the
 * number of weights and every shape are checked, and a difference names the layer.
 */
export function setKerasWeights(model: tf.LayersModel, file: LayerWeights[]) {
  const byLayer = new Map(file.map((l) => [l.layer, l.weights]));
  const known = new Set(model.layers.map((l) => l.name));
  for (const name of byLayer.keys()) {
    if (!known.has(name) && byLayer.get(name)!.length > 0)
      throw mismatch(name, 'the file has weights for this layer but the model config has no such layer');
  }
  for (const layer of model.layers) {
    const expected = layer.weights;
    if (expected.length === 0) continue;
    const given = byLayer.get(layer.name) ?? [];
    if (given.length !== expected.length) {
      throw mismatch(
        layer.name,
        `the file has ${given.length} weights (${given.map((w) => w.name).join(', ') || 'none'}); the layer has ${expected.length} (${expected.map((w) => short(layer.name, w.originalName)).join(', ')})`,
      );
    }
    for (const [i, w] of expected.entries()) {
      const shape = given[i].shape;
      if (shape.length !== w.shape.length || shape.some((d, j) => d !== w.shape[j]))
        throw mismatch(
          layer.name,
          `weight ${JSON.stringify(given[i].name)} has shape [${shape}]; the layer's ${short(layer.name, w.originalName)} needs [${w.shape}]`,
        );
    }
    const tensors = given.map((w) => tf.tensor(w.values, w.shape, 'float32'));
    try {
      layer.setWeights(tensors);
    } finally {
      tf.dispose(tensors);
    }
  }
}

/** A weight's name within its layer: `dense/kernel` -> `kernel`. */
const short = (layer: string, original: string) =>
  original.startsWith(`${layer}/`) ? original.slice(layer.length + 1) : original.split('/').pop()!;

/** A model's weights by layer, named as Keras 2 names them (`dense/kernel:0`), for writing a Keras file. */
export function kerasWeightsOf(model: tf.LayersModel): LayerWeights[] {
  return model.layers.map((layer) => ({
    layer: layer.name,
    weights: layer.weights.map((w) => ({
      name: `${layer.name}/${short(layer.name, w.originalName)}:0`,
      shape: w.shape as number[],
      values: w.read().dataSync() as Float32Array,
    })),
  }));
}

/** A tfjs layers model's weights (its manifest and the bytes of its weight files, joined in manifest order) by layer. */
export function tfjsWeights(specs: tf.io.WeightsManifestEntry[], data: ArrayBuffer): LayerWeights[] {
  let tensors: tf.NamedTensorMap;
  try {
    tensors = tf.io.decodeWeights(data, specs);
  } catch (err) {
    throw new AppError(
      400,
      'invalid_model_file',
      `the weight files do not match model.json: ${(err as Error).message}`,
      [{ path: '/file', message: (err as Error).message }],
    );
  }
  const layers = new Map<string, LayerWeights>();
  try {
    for (const spec of specs) {
      const layer = spec.name.split('/')[0];
      const t = tensors[spec.name];
      if (!layers.has(layer)) layers.set(layer, { layer, weights: [] });
      layers.get(layer)!.weights.push({
        name: spec.name,
        shape: t.shape,
        values: Float32Array.from(t.dataSync() as ArrayLike<number>),
      });
    }
  } finally {
    tf.dispose(Object.values(tensors));
  }
  return [...layers.values()];
}
