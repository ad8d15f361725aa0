import { open, readFile } from 'node:fs/promises';
import path from 'node:path';
import type * as tf from '@tensorflow/tfjs';
import { Value } from '@sinclair/typebox/value';
import type { Transforms } from '../data/transforms.ts';
import { AppError } from '../errors.ts';
import { Model } from '../schemas/model.ts';
import { isZip, readKerasArchive } from './keras-archive.ts';
import { isHdf5, readKerasH5 } from './keras-h5.ts';
import { type LayerWeights, tfjsWeights } from './keras-weights.ts';

/** One uploaded file, already on disk under a name of ours. */
export interface Upload {
  /** The form field it came in. */
  field: string;
  /** The name the client gave it (matched against a model.json's weight paths, never a path here). */
  filename: string;
  path: string;
}

export const invalidFile = (field: string, message: string) =>
  new AppError(400, 'invalid_model_file', `/${field} ${message}`, [{ path: `/${field}`, message }]);

/** The uploaded model, by its first bytes: HDF5's signature, a zip's (a .keras archive), or JSON (a tfjs model.json). */
export async function readModelFile(
  main: Upload,
  uploads: Upload[],
  dir: string,
  limit: number,
): Promise<{ config: unknown; layers: LayerWeights[]; transforms?: unknown }> {
  const handle = await open(main.path);
  const head = Buffer.alloc(8);
  try {
    await handle.read(head, 0, 8, 0);
  } finally {
    await handle.close();
  }
  if (isHdf5(head)) return readKerasH5(main.path);
  if (isZip(head)) return readKerasArchive(main.path, dir, limit);
  const text = head.toString('latin1').trimStart();
  if (!text.startsWith('{'))
    throw invalidFile('file', 'is neither a Keras HDF5 file, a Keras 3 .keras archive nor a TensorFlow.js model.json');
  return readTfjs(main, uploads);
}

async function readTfjs(main: Upload, uploads: Upload[]) {
  let json: tf.io.ModelJSON;
  try {
    json = JSON.parse(await readFile(main.path, 'utf8'));
  } catch (err) {
    throw invalidFile('file', `is not JSON: ${(err as Error).message}`);
  }
  if (typeof json !== 'object' || json === null || !json.modelTopology || !Array.isArray(json.weightsManifest))
    throw invalidFile('file', 'is not a TensorFlow.js layers model.json (modelTopology and weightsManifest)');
  const others = uploads.filter((u) => u !== main);
  const parts: Buffer[] = [];
  for (const group of json.weightsManifest) {
    for (const p of group.paths ?? []) {
      const wanted = path.posix.basename(String(p));
      const upload = others.find((u) => u.filename === wanted);
      if (!upload) throw invalidFile('file', `names the weight file ${JSON.stringify(wanted)}, which was not uploaded`);
      parts.push(await readFile(upload.path));
    }
  }
  const data = Buffer.concat(parts);
  const topology = json.modelTopology as { class_name?: string; config?: unknown; model_config?: unknown };
  // tfjs writes the Keras document itself; the Python converter may wrap it in model_config.
  const config = topology.model_config ?? topology;
  const transforms = (json.userDefinedMetadata as { transforms?: unknown } | undefined)?.transforms;
  return { config, layers: tfjsWeights(manifest(json), arrayBuffer(data)), transforms };
}

export const arrayBuffer = (b: Buffer) => b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
export const manifest = (json: tf.io.ModelJSON) => json.weightsManifest.flatMap((g) => g.weights);

/** Every layer of the topology in order (Keras lists weightless ones too), with tfjs's weight names made Keras's (`:0`). */
export function kerasLayers(topology: { config: unknown }, weights: LayerWeights[]): LayerWeights[] {
  const cfg = topology.config as { layers?: { config?: { name?: string }; name?: string }[] } | unknown[];
  const list = (Array.isArray(cfg) ? cfg : (cfg.layers ?? [])) as { config?: { name?: string }; name?: string }[];
  const byLayer = new Map(weights.map((l) => [l.layer, l.weights]));
  return list
    .map((l) => String(l.config?.name ?? l.name))
    .map((layer) => ({
      layer,
      weights: (byLayer.get(layer) ?? []).map((w) => ({ ...w, name: `${w.name}:0` })),
    }));
}

const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

/**
 * The transforms an export of this service carried, when they are well-formed and fit the
 * model (one raw instance, reshaped, is one model input); otherwise none: predict takes the
 * model's own inputs.
 */
export function carried(candidate: unknown, inputShape: number[]): Transforms | undefined {
  if (!Value.Check(Model.properties.transforms, candidate)) return undefined;
  const t = candidate as Transforms;
  const shaped = t.inputs.reshape ?? t.featureShape;
  return size(t.featureShape) === size(inputShape) && size(shaped) === size(inputShape) ? t : undefined;
}
