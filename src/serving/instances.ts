import type { Transforms } from '../data/transforms.ts';
import { sizeOf } from '../data/types.ts';
import type { Prediction } from './prediction-output.ts';

/**
 * The fast path of `instancesTensor` for what predict mostly gets: each instance a flat array
 * of finite numbers of the right length. Anything else (nested arrays, records, bad values)
 * returns undefined and takes the general path, which also words the errors.
 */
export function flatInstances(instances: unknown[], t: Transforms): Float32Array | undefined {
  const per = sizeOf(t.featureShape);
  const values = new Float32Array(instances.length * per);
  for (let i = 0; i < instances.length; i++) {
    const row = instances[i];
    if (!Array.isArray(row) || row.length !== per) return undefined;
    for (let j = 0; j < per; j++) {
      const v = row[j];
      if (typeof v !== 'number' || !Number.isFinite(v)) return undefined;
      values[i * per + j] = v;
    }
  }
  return values;
}

/** One request's answer from the answers of its passes, in order. */
export function joinPredictions(parts: Prediction[]): Prediction {
  const joined: Prediction = { predictions: parts.flatMap((p) => p.predictions) };
  if (parts[0].classes) joined.classes = parts.flatMap((p) => p.classes ?? []);
  if (parts[0].labels) joined.labels = parts.flatMap((p) => p.labels ?? []);
  return joined;
}
