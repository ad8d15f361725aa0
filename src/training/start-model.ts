import * as tf from '@tensorflow/tfjs';
import { AppError } from '../errors.ts';
import { modelInputShape } from '../data/transforms.ts';
import { buildModel } from '../model/build-model.ts';
import { disposeModel } from '../model/dispose.ts';
import type { TrainingPlan } from './plan.ts';

/**
 * The model a job trains, before compile: built from the plan (new weights from the
 * initializers), then, for a fine-tuning job, given its parent's weights layer by layer.
 * The parent's layers keep their names in the plan, so a name finds its weights; popped
 * layers find no place and new ones keep their initial weights. A resumed job's checkpoint
 * (all weights by position) is loaded over this by the fit loop, into the same layers.
 */
export async function startModel(plan: TrainingPlan): Promise<tf.LayersModel> {
  const model = buildModel(plan.model, modelInputShape(plan.transforms), { seed: plan.fit.seed });
  if (!plan.parent?.weights) return model;
  try {
    await copyWeights(await tf.loadLayersModel(plan.parent.weights), model, plan.parent.modelId);
    return model;
  } catch (err) {
    disposeModel(model);
    throw err;
  }
}

async function copyWeights(parent: tf.LayersModel, model: tf.LayersModel, parentId: string) {
  try {
    for (const layer of parent.layers) {
      const target = model.layers.find((l) => l.name === layer.name);
      if (!target || layer.weights.length === 0) continue;
      const weights = layer.getWeights();
      const shapes = target.weights.map((w) => String(w.shape));
      if (String(weights.map((w) => w.shape)) !== String(shapes) || weights.length !== shapes.length) {
        const message = `layer ${layer.name} of the parent model ${parentId} has weights of another shape than the plan's`;
        throw new AppError(422, 'parent_mismatch', message, [{ path: '/model/from', message }]);
      }
      target.setWeights(weights);
    }
  } finally {
    disposeModel(parent);
  }
}
