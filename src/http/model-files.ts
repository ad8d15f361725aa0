import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, open, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import multipart from '@fastify/multipart';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type * as tf from '@tensorflow/tfjs';
import { Type } from '@sinclair/typebox';
import yazl from 'yazl';
import { byteLimit, limited } from '../data/ingest.ts';
import { AppError, notFound } from '../errors.ts';
import { disposeModel } from '../model/dispose.ts';
import { isZip, readKerasArchive } from '../model/keras-archive.ts';
import { isHdf5, readKerasH5, writeKerasH5 } from '../model/keras-h5.ts';
import { modelFromKerasFile } from '../model/keras-file-model.ts';
import { type LayerWeights, tfjsWeights } from '../model/keras-weights.ts';
import { HIDDEN_CHARACTERS_RULE, hiddenCharacter, IdParams, ProblemRef } from '../schemas/common.ts';
import { Value } from '@sinclair/typebox/value';
import type { Transforms } from '../data/transforms.ts';
import { Model } from '../schemas/model.ts';
import { MODEL_FILE, ModelStore, WEIGHTS_FILE } from '../storage/model-store.ts';
import { discardBody, formParts, malformedForm } from './form-parts.ts';
import { checkStorageQuota } from './quotas.ts';

/** The Keras version written into exported files: the layout is Keras 2's (tf.keras). */
const KERAS_VERSION = '2.15.0';
/** Files one import may carry: model.json and its weight shards, or one HDF5 file. */
const MAX_FILES = 16;

const invalidFile = (field: string, message: string) =>
  new AppError(400, 'invalid_model_file', `/${field} ${message}`, [{ path: `/${field}`, message }]);

interface Upload {
  field: string;
  filename: string;
  path: string;
}

/**
 * Keras files in and out: POST /models/import takes a Keras HDF5 file or a TensorFlow.js
 * layers model (model.json plus its weight files) and stores it as a model like a trained one;
 * GET /models/:id/export gives a model back as either. Nothing in a file is ever run: the
 * config goes through the Keras document import (keras-import.ts), the weights are only numbers.
 */
export const modelFileRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { models, config } = app.services;
  const limit = config.DATASET_UPLOAD_LIMIT_BYTES;
  const limits = { maxParams: config.MAX_MODEL_PARAMS, maxLayers: config.MAX_MODEL_LAYERS };
  // multipart enforces its own limit one byte later, so ours (a 413 problem) speaks first.
  await app.register(multipart, { limits: { fileSize: limit + 1, files: MAX_FILES, fields: 4, fieldSize: 1024 } });

  app.post(
    '/models/import',
    {
      schema: {
        tags: ['models'],
        summary:
          'Import a Keras HDF5 file or Keras 3 .keras archive (`file`), or a TensorFlow.js layers model (`file`: model.json, plus its weight files as further files); optional field `name` before the files',
        consumes: ['multipart/form-data'],
        response: {
          201: Type.Ref('Model'),
          400: ProblemRef,
          401: ProblemRef,
          403: ProblemRef,
          413: ProblemRef,
          422: ProblemRef,
          429: ProblemRef,
          503: ProblemRef,
        },
      },
    },
    async (request, reply) => {
      try {
        // Before a byte is read: the store being away is a 503 now, a tenant at its quota a 403.
        await app.services.storeProbe.require();
        await checkStorageQuota(app.services, request.tenant.id);
      } catch (err) {
        discardBody(request, reply);
        throw err;
      }
      const dir = await mkdtemp(path.join(os.tmpdir(), 'model-import-'));
      let model: tf.LayersModel | undefined;
      try {
        let name: string | undefined;
        const uploads: Upload[] = [];
        let total = 0;
        for await (const part of formParts(request)) {
          if (part.type === 'field') {
            if (part.fieldname !== 'name')
              throw invalidFile(part.fieldname, 'is not a known field (name, and the files)');
            const value = String(part.value);
            if (value.length === 0 || value.length > 200) throw invalidFile('name', 'must be 1 to 200 characters');
            const hidden = hiddenCharacter(value);
            if (hidden) throw invalidFile('name', `holds ${hidden}; names must have ${HIDDEN_CHARACTERS_RULE}`);
            name = value;
            continue;
          }
          // Stored under a name of ours: nothing from the request becomes a path.
          const file = path.join(dir, `part-${uploads.length}`);
          const source = limited(part.file, byteLimit(limit - total, 'the model files'), (err) =>
            malformedForm(`the form could not be read: ${err.message}`),
          );
          await pipeline(source, createWriteStream(file));
          total += (await stat(file)).size;
          uploads.push({ field: part.fieldname, filename: part.filename ?? '', path: file });
        }
        const main = uploads.find((u) => u.field === 'file');
        if (!main) throw invalidFile('file', 'is required: a Keras .h5 file or a tfjs model.json');
        const { config: modelConfig, layers, transforms } = await readModelFile(main, uploads, dir, limit);
        const imported = modelFromKerasFile(modelConfig, layers, limits);
        model = imported.model;
        const id = ModelStore.newId();
        await model.save(
          models.writer({
            id,
            name: name ?? nameFromFile(main.filename),
            tenant: request.tenant.id,
            jobId: null,
            createdAt: new Date().toISOString(),
            backend: app.services.backend,
            summary: imported.summary,
            compile: imported.compile,
            transforms: carried(transforms, imported.inputShape) ?? {
              featureShape: imported.inputShape,
              inputs: {},
              labels: {},
            },
            metrics: {},
            evaluation: null,
          }),
        );
        return reply.code(201).send(await models.get(id));
      } catch (err) {
        discardBody(request, reply);
        throw err;
      } finally {
        if (model) disposeModel(model);
        await rm(dir, { recursive: true, force: true });
      }
    },
  );

  app.get(
    '/models/:id/export',
    {
      schema: {
        tags: ['models'],
        summary:
          'The model as a Keras 2 HDF5 file (`format=keras-h5`, loads with tf.keras `load_model`) or a zip of the TensorFlow.js model.json and weights.bin (`format=tfjs`)',
        params: IdParams,
        querystring: Type.Object(
          { format: Type.Union([Type.Literal('keras-h5'), Type.Literal('tfjs')], { default: 'keras-h5' }) },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Unknown({ description: 'application/x-hdf5 or application/zip' }),
          400: ProblemRef,
          401: ProblemRef,
          404: ProblemRef,
          429: ProblemRef,
          503: ProblemRef,
        },
      },
    },
    async (request, reply) => {
      const { id } = request.params;
      const meta = await models.getFor(id, request.tenant);
      if (!meta) throw notFound('model', id);
      const copy = await models.open(id);
      const base = meta.name.replace(/[^A-Za-z0-9._-]+/g, '_').slice(0, 100) || 'model';
      if (request.query.format === 'tfjs') {
        const zip = new yazl.ZipFile();
        try {
          const modelJson = JSON.parse(await readFile(path.join(copy.dir, MODEL_FILE), 'utf8'));
          // tfjs keeps userDefinedMetadata as it is: the transforms come back with an import of this zip's files.
          modelJson.userDefinedMetadata = { ...modelJson.userDefinedMetadata, transforms: meta.transforms };
          zip.addBuffer(Buffer.from(JSON.stringify(modelJson)), MODEL_FILE);
        } catch (err) {
          copy.release();
          throw err;
        }
        zip.addFile(path.join(copy.dir, WEIGHTS_FILE), WEIGHTS_FILE);
        zip.end();
        zip.outputStream.once('close', copy.release).once('error', copy.release);
        return reply
          .type('application/zip')
          .header('Content-Disposition', `attachment; filename="${base}.zip"`)
          .send(zip.outputStream);
      }
      const temp = await mkdtemp(path.join(os.tmpdir(), 'model-export-'));
      const file = path.join(temp, 'model.h5');
      try {
        const modelJson = JSON.parse(await readFile(path.join(copy.dir, MODEL_FILE), 'utf8')) as tf.io.ModelJSON;
        const weights = await readFile(path.join(copy.dir, WEIGHTS_FILE));
        const topology = modelJson.modelTopology as { class_name: string; config: unknown };
        await writeKerasH5(
          file,
          { class_name: topology.class_name, config: topology.config },
          kerasLayers(topology, tfjsWeights(manifest(modelJson), arrayBuffer(weights))),
          KERAS_VERSION,
          meta.transforms,
        );
      } catch (err) {
        await rm(temp, { recursive: true, force: true });
        throw err;
      } finally {
        copy.release();
      }
      const stream = createReadStream(file).once('close', () => void rm(temp, { recursive: true, force: true }));
      return reply
        .type('application/x-hdf5')
        .header('Content-Disposition', `attachment; filename="${base}.h5"`)
        .send(stream);
    },
  );
};

/** The file's name without extension, unless it is empty or holds characters names may not. */
function nameFromFile(filename: string) {
  const name = path.parse(filename).name.slice(0, 200);
  return name && !hiddenCharacter(name) ? name : 'imported';
}

const arrayBuffer = (b: Buffer) => b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
const manifest = (json: tf.io.ModelJSON) => json.weightsManifest.flatMap((g) => g.weights);

/** Every layer of the topology in order (Keras lists weightless ones too), with tfjs's weight names made Keras's (`:0`). */
function kerasLayers(topology: { config: unknown }, weights: LayerWeights[]): LayerWeights[] {
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

/** The uploaded model, by its first bytes: HDF5's signature, a zip's (a .keras archive), or JSON (a tfjs model.json). */
async function readModelFile(
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

const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

/**
 * The transforms an export of this service carried, when they are well-formed and fit the
 * model (one raw instance, reshaped, is one model input); otherwise none: predict takes the
 * model's own inputs.
 */
function carried(candidate: unknown, inputShape: number[]): Transforms | undefined {
  if (!Value.Check(Model.properties.transforms, candidate)) return undefined;
  const t = candidate as Transforms;
  const shaped = t.inputs.reshape ?? t.featureShape;
  return size(t.featureShape) === size(inputShape) && size(shaped) === size(inputShape) ? t : undefined;
}
