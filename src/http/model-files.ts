import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import multipart from '@fastify/multipart';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import yazl from 'yazl';
import { byteLimit, limited } from '../data/ingest.ts';
import { notFound } from '../errors.ts';
import { invalidFile, type Upload } from '../model/model-file.ts';
import { HIDDEN_CHARACTERS_RULE, hiddenCharacter, IdParams, ProblemRef } from '../schemas/common.ts';
import { MODEL_FILE, ModelStore, WEIGHTS_FILE } from '../storage/model-store.ts';
import { discardBody, formParts, malformedForm } from './form-parts.ts';
import { checkStorageQuota } from './quotas.ts';

/** The Keras version written into exported files: the layout is Keras 2's (tf.keras). */
const KERAS_VERSION = '2.15.0';
/** Files one import may carry: model.json and its weight shards, or one HDF5 file. */
const MAX_FILES = 16;

/**
 * Keras files in and out: POST /models/import takes a Keras HDF5 file or a TensorFlow.js
 * layers model (model.json plus its weight files) and stores it as a model like a trained one;
 * GET /models/:id/export gives a model back as either. Nothing in a file is ever run: the
 * config goes through the Keras document import (keras-import.ts), the weights are only numbers.
 * Parsing, building the model and writing HDF5 cost what the file makes them cost: they run in
 * threads with a time and heap limit (ModelFileThreads), never on this event loop or in the
 * backend predict shares; the route only streams files to disk and publishes what was staged.
 */
export const modelFileRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { models, config, modelFiles } = app.services;
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
      const id = ModelStore.newId();
      const staged = models.stagingDir(id);
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
        const imported = await modelFiles.importModel({
          main,
          uploads,
          dir,
          limitBytes: limit,
          limits,
          stagingDir: staged,
        });
        await models.publishStaged(
          {
            id,
            name: name ?? nameFromFile(main.filename),
            tenant: request.tenant.id,
            jobId: null,
            createdAt: new Date().toISOString(),
            backend: app.services.backend,
            summary: imported.summary,
            compile: imported.compile,
            transforms: imported.transforms,
            metrics: {},
            evaluation: null,
          },
          staged,
        );
        return reply.code(201).send(await models.get(id));
      } catch (err) {
        discardBody(request, reply);
        throw err;
      } finally {
        // A thread ended half-way may have left staged files; published ones were moved away.
        await rm(staged, { recursive: true, force: true });
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
          422: ProblemRef,
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
        await modelFiles.exportKerasH5({
          modelDir: copy.dir,
          file,
          kerasVersion: KERAS_VERSION,
          transforms: meta.transforms,
        });
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
