import type * as tf from '@tensorflow/tfjs';
import type { Transforms } from '../data/transforms.ts';
import { sizeOf } from '../data/types.ts';

/** A forward pass takes at most this many instances; more start the next pass. */
const MAX_BATCH_INSTANCES = 1024;

/**
 * What one instance costs in a pass, from the model's shapes: its answer's values, and the
 * bytes it holds while the pass runs (float32 input and every layer's output, all kept until
 * the pass ends; twice that for the kernels' own scratch space and the transforms).
 */
export function passSize(model: tf.LayersModel, t: Transforms, limits: { maxPassBytes: number; maxPassFlops: number }) {
  const values = (shape: tf.Shape) => shape.slice(1).reduce((a: number, d) => a * (d ?? 1), 1);
  const shapes = (s: tf.Shape | tf.Shape[]) => (Array.isArray(s[0]) ? (s as tf.Shape[]) : [s as tf.Shape]);
  const layerValues = model.layers.reduce((a, l) => a + shapes(l.outputShape).reduce((b, s) => b + values(s), 0), 0);
  const inputValues = Math.max(values(model.inputs[0].shape), sizeOf(t.featureShape));
  const passBytes = 2 * 4 * (inputValues + layerValues);
  // Each weight is multiplied and added once per position its layer's output has (a Dense
  // layer's one, a convolution's every pixel, a recurrent layer's every step, roughly).
  const positions = (s: tf.Shape) => Math.max(1, values(s) / ((s.at(-1) as number | null) ?? 1));
  const passFlops =
    model.layers.reduce((a, l) => a + 2 * l.countParams() * positions(shapes(l.outputShape)[0]), 0) + layerValues;
  const fit = (cap: number, one: number) => Math.max(1, Math.floor(cap / one));
  const maxInstances = Math.min(
    MAX_BATCH_INSTANCES,
    fit(limits.maxPassBytes, passBytes),
    fit(limits.maxPassFlops, passFlops),
  );
  return { outputValues: values(model.outputs[0].shape), passBytes, passFlops, maxInstances };
}
