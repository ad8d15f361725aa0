import type * as tf from '@tensorflow/tfjs';
import { AppError } from '../errors.ts';
import type { ModelSpec } from '../schemas/job-request.ts';
import { buildModel, type Limits, type ModelSummary, summarize } from './build-model.ts';
import { disposeModel } from './dispose.ts';
import { camelizeKeys } from './keras-names.ts';
import { parseModel } from './model-spec.ts';
import { type LayerWeights, setKerasWeights } from './keras-weights.ts';

export interface ImportedModel {
  model: tf.LayersModel;
  summary: ModelSummary;
  /** One raw instance's shape: the model's input without the batch dimension. */
  inputShape: number[];
  compile: { optimizer: { type: string; [k: string]: unknown }; loss: string; metrics: string[] };
  warnings: string[];
}

/**
 * A model from a Keras file: its config through the same path as a pasted Keras document
 * (so a Lambda, a custom class or an unknown layer is the same 422 naming it), built under the
 * same limits, then given the file's weights. The caller disposes `model`.
 */
export function modelFromKerasFile(config: unknown, weights: LayerWeights[], limits: Limits): ImportedModel {
  const def = parseModel(camelizeKeys(config) as ModelSpec, '/file/model_config');
  const first = def.layers[0];
  const declared = def.graph?.input.shape ?? (first?.args.inputShape as (number | null)[] | undefined);
  if (!declared || declared.some((d) => d === null || !(d > 0))) {
    const message = `the model's input shape is ${declared ? `[${declared}]` : 'not given'}; an imported model needs a fixed one (e.g. an InputLayer with batch_input_shape [null, 784])`;
    throw new AppError(422, 'invalid_model', message, [{ path: '/file/model_config', message }]);
  }
  const inputShape = declared as number[];
  // The file gives every weight: drawing random ones first (an LSTM's orthogonal kernel is a QR
  // decomposition, seconds) would be work for nothing. The stored document
  // says zeros for the initializers, which only matter to training from scratch.
  const model = buildModel(def, inputShape, { ...limits, shapesOnly: true });
  try {
    setKerasWeights(model, weights);
  } catch (err) {
    disposeModel(model);
    throw err;
  }
  const spec = def.compile;
  const optimizer = spec?.optimizer ?? 'rmsprop';
  return {
    model,
    summary: summarize(model),
    inputShape,
    compile: {
      optimizer:
        typeof optimizer === 'string' ? { type: optimizer } : (optimizer as ImportedModel['compile']['optimizer']),
      loss: spec?.loss ?? 'meanSquaredError',
      metrics: spec?.metrics ?? [],
    },
    warnings: def.warnings,
  };
}
