import type * as tf from '@tensorflow/tfjs';

/** Where tfjs keeps the layers a layer is made of: an RNN's cell(s), a wrapper's inner layer(s). */
const PARTS = ['cell', 'cells', 'layer', 'forwardLayer', 'backwardLayer'] as const;

/**
 * Gives every random initializer of `layer` (and of the layers it wraps) that has no seed of its
 * own the next seed from `next`, so fit.seed makes the initial weights the same on every run.
 * tfjs draws an unseeded initializer from Math.random, so without this two runs of the same
 * request start from different weights. Runs before the layer is built (weights are drawn then);
 * each initializer gets a seed of its own, or same-shaped kernels would start out identical.
 */
export function seedInitializers(layer: object, next: () => number, seen = new Set<object>()) {
  if (seen.has(layer)) return;
  seen.add(layer);
  const fields = layer as Record<string, unknown>;
  for (const [key, value] of Object.entries(fields)) {
    // tfjs does not export the Initializer class: its layers name them `…Initializer`.
    if (
      !key.endsWith('Initializer') ||
      typeof (value as tf.serialization.Serializable | undefined)?.getConfig !== 'function'
    )
      continue;
    const config = (value as tf.serialization.Serializable).getConfig() as Record<string, unknown>;
    // Only random initializers take a seed; one the request set is kept.
    if (!('seed' in config) || config.seed != null) continue;
    const Kind = (value as object).constructor as new (args: Record<string, unknown>) => object;
    fields[key] = new Kind({ ...config, seed: next() });
  }
  for (const part of PARTS) {
    const inner = fields[part];
    for (const item of Array.isArray(inner) ? inner : [inner])
      if (item && typeof item === 'object') seedInitializers(item, next, seen);
  }
}

/** Seeds 0, 1, 2, … after `seed`: one per initializer, in the model's layer order. */
export const seedSequence = (seed: number) => {
  let n = seed;
  return () => n++;
};
