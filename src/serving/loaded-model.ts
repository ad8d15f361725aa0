import * as tf from '@tensorflow/tfjs';
import { notFound } from '../errors.ts';
import { accelerations, type Forward } from '../compute/accelerations/index.ts';
import type { ModelMeta, ModelStore } from '../storage/model-store.ts';
import { passSize } from './pass-size.ts';

/** A stored model loaded for serving: the model, its forward pass and what one instance costs. */
export interface Loaded {
  meta: ModelMeta;
  model: tf.LayersModel;
  forward: Forward;
  /** Output values of one instance: what its answer holds. */
  outputValues: number;
  /** Bytes one instance holds during a pass: its input and every layer's output (see `passSize`). */
  passBytes: number;
  /** Forward-pass FLOPs of one instance (see `passSize`). */
  passFlops: number;
  /** Most instances one pass takes: within the pass's memory and FLOPs budgets. */
  maxInstances: number;
  /** Bytes of the model's weights in the backend's memory (what keeping it cached costs). */
  weightBytes: number;
  /** Whether this model's last pass multiplied its input on the sparse path (see `carryOver`). */
  sparse?: boolean;
}

/** Loads a stored model and measures it for serving; a model not in the store is a 404. */
export async function loadModel(
  models: ModelStore,
  id: string,
  limits: { maxPassBytes: number; maxPassFlops: number },
): Promise<Loaded> {
  const meta = await models.get(id);
  if (!meta) throw notFound('model', id);
  const model = await tf.loadLayersModel(models.reader(id));
  const weightBytes = model.weights.reduce((sum, w) => sum + w.shape.reduce((a: number, d) => a * (d ?? 1), 1) * 4, 0);
  return { meta, model, forward: forwardOf(model), weightBytes, ...passSize(model, meta.transforms, limits) };
}

/**
 * The model's forward pass: Dense stacks as their bare kernel calls (an acceleration), other
 * models through `call`, which runs the layer graph directly (`predictOnBatch` would first copy
 * the batch into slices and go through generic execution, which costs more a pass).
 */
function forwardOf(model: tf.LayersModel): Forward {
  return (
    accelerations().denseStack(model) ??
    ((input) => {
      const out = model.call(input, { training: false });
      if (Array.isArray(out) && out.length !== 1)
        throw new Error(`a model with ${out.length} outputs cannot be served`);
      return Array.isArray(out) ? out[0] : out;
    })
  );
}
