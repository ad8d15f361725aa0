import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import type { Transforms } from '../data/transforms.ts';
import type { Limits } from '../model/build-model.ts';
import { disposeModel } from '../model/dispose.ts';
import { type ImportedModel, modelFromKerasFile } from '../model/keras-file-model.ts';
import { writeKerasH5 } from '../model/keras-h5.ts';
import { tfjsWeights } from '../model/keras-weights.ts';
import { arrayBuffer, carried, kerasLayers, manifest, readModelFile, type Upload } from '../model/model-file.ts';
import { MODEL_FILE, WEIGHTS_FILE, writeTfjsArtifacts } from '../storage/tfjs-artifacts.ts';
import { threadOutput, type ThreadOutput, WARM_UP } from './thread-call.ts';

/**
 * The Keras files' thread (see model-file-threads.ts). Parsing a file (h5wasm is synchronous),
 * building its model and writing an HDF5 file cost what the file makes them cost, so they run
 * here, under a time and heap limit, on the plain-JS `cpu` backend, this thread's own: no model
 * of an import ever lives in the API's backend, which predict shares between tenants.
 */
const ready = tf.setBackend('cpu').then(() => tf.ready());

export interface ImportInput {
  kind: 'import';
  /** The `file` upload, and all of them (a model.json's weight files are the others). */
  main: Upload;
  uploads: Upload[];
  /** The upload's temp folder: a .keras archive's members are extracted into it. */
  dir: string;
  limitBytes: number;
  limits: Limits;
  /** Where model.json and weights.bin are written, for ModelStore.publishStaged. */
  stagingDir: string;
}

/** What the API stores beside the staged files. */
export interface ImportResult {
  summary: ImportedModel['summary'];
  compile: ImportedModel['compile'];
  inputShape: number[];
  transforms: Transforms;
}

export interface ExportInput {
  kind: 'export';
  /** A stored model's folder on this machine (model.json, weights.bin). */
  modelDir: string;
  /** The HDF5 file to write. */
  file: string;
  kerasVersion: string;
  transforms: Transforms;
}

export type ModelFileInput = ImportInput | ExportInput;

export default async function modelFileThread(
  input: ModelFileInput | typeof WARM_UP,
): Promise<ThreadOutput<ImportResult | null> | undefined> {
  await ready;
  if (input === WARM_UP) return undefined;
  try {
    return await threadOutput(() => (input.kind === 'import' ? importModel(input) : exportModel(input)));
  } finally {
    tf.disposeVariables();
  }
}

async function importModel(input: ImportInput): Promise<ImportResult> {
  const { main, uploads, dir, limitBytes, limits, stagingDir } = input;
  const { config, layers, transforms } = await readModelFile(main, uploads, dir, limitBytes);
  const { model, summary, compile, inputShape } = modelFromKerasFile(config, layers, limits);
  try {
    await mkdir(stagingDir, { recursive: true });
    await model.save({
      save: async (artifacts) => {
        await writeTfjsArtifacts(stagingDir, artifacts);
        return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts) };
      },
    });
  } finally {
    disposeModel(model);
  }
  return {
    summary,
    compile,
    inputShape,
    transforms: carried(transforms, inputShape) ?? { featureShape: inputShape, inputs: {}, labels: {} },
  };
}

async function exportModel(input: ExportInput): Promise<null> {
  const modelJson = JSON.parse(await readFile(path.join(input.modelDir, MODEL_FILE), 'utf8')) as tf.io.ModelJSON;
  const weights = await readFile(path.join(input.modelDir, WEIGHTS_FILE));
  const topology = modelJson.modelTopology as { class_name: string; config: unknown };
  await writeKerasH5(
    input.file,
    { class_name: topology.class_name, config: topology.config },
    kerasLayers(topology, tfjsWeights(manifest(modelJson), arrayBuffer(weights))),
    input.kerasVersion,
    input.transforms,
  );
  return null;
}
