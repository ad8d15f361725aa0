import type * as tf from '@tensorflow/tfjs';

/**
 * Frees a model and its optimizer. `model.dispose()` leaves an optimizer passed in as an
 * object (ours always are) alive: its slot variables (RMSprop's accumulators, Adam's moments)
 * would leak with every job, about twice the model's weights each time.
 */
export function disposeModel(model: tf.LayersModel) {
  model.optimizer?.dispose();
  model.dispose();
}
