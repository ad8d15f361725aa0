import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';

export const WEIGHTS_FILE = 'weights.bin';
export const MODEL_FILE = 'model.json';

/**
 * A saved model's two files as the model store keeps them: model.json naming one weights.bin.
 * Written by the store's writer and by threads that build a model away from the API (a Keras
 * import), which hand the folder to ModelStore.publishStaged. Returns the weights' bytes.
 */
export async function writeTfjsArtifacts(dir: string, artifacts: tf.io.ModelArtifacts): Promise<number> {
  const weights = artifacts.weightData ? tf.io.CompositeArrayBuffer.join(artifacts.weightData) : new ArrayBuffer(0);
  const modelJson = {
    modelTopology: artifacts.modelTopology,
    format: artifacts.format ?? 'layers-model',
    generatedBy: artifacts.generatedBy,
    convertedBy: artifacts.convertedBy ?? null,
    trainingConfig: artifacts.trainingConfig,
    weightsManifest: [{ paths: [`./${WEIGHTS_FILE}`], weights: artifacts.weightSpecs ?? [] }],
  };
  await writeFile(path.join(dir, WEIGHTS_FILE), Buffer.from(weights));
  await writeFile(path.join(dir, MODEL_FILE), JSON.stringify(modelJson));
  return weights.byteLength;
}
