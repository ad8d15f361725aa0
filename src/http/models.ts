import { createReadStream } from 'node:fs';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { notFound } from '../errors.ts';
import { IdParams, PageQuery, ProblemRef } from '../schemas/common.ts';
import { ModelList, PredictRequest, PredictResponse } from '../schemas/model.ts';
import { MODEL_FILE, WEIGHTS_FILE } from '../storage/model-store.ts';

export const modelRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { models, predictor } = app.services;

  const existing = async (id: string) => {
    const meta = await models.get(id);
    if (!meta) throw notFound('model', id);
    return meta;
  };

  app.get('/models', {
    schema: {
      tags: ['models'],
      summary: 'List trained models, newest first',
      querystring: Type.Object(PageQuery, { additionalProperties: false }),
      response: { 200: ModelList, 400: ProblemRef },
    },
  }, async (request) => models.list({ limit: request.query.limit ?? 20, cursor: request.query.cursor }));

  app.get('/models/:id', {
    schema: {
      tags: ['models'],
      summary: 'A model: layers, compile settings, transforms, metrics, the job it came from',
      params: IdParams,
      response: { 200: Type.Ref('Model'), 404: ProblemRef },
    },
  }, async (request) => existing(request.params.id));

  const artifactRoute = (file: typeof MODEL_FILE | typeof WEIGHTS_FILE, type: string) =>
    app.get(`/models/:id/${file}`, {
      schema: {
        tags: ['models'],
        summary: `The ${file} artifact; \`tf.loadLayersModel('<base>/v1/models/<id>/model.json')\` loads the model`,
        params: IdParams,
        response: { 200: Type.Unknown({ description: type }), 404: ProblemRef },
      },
    }, async (request, reply) => {
      const { id } = request.params;
      await existing(id);
      const { path, size } = await models.artifact(id, file);
      return reply
        .type(type)
        .header('Content-Length', size)
        .header('Content-Disposition', `attachment; filename="${file}"`)
        .send(createReadStream(path));
    });
  artifactRoute(MODEL_FILE, 'application/json');
  artifactRoute(WEIGHTS_FILE, 'application/octet-stream');

  app.post('/models/:id/predict', {
    schema: {
      tags: ['models'],
      summary: 'Predict: raw instances in, model outputs out (training input transforms are re-applied)',
      params: IdParams,
      body: PredictRequest,
      response: { 200: PredictResponse, 400: ProblemRef, 404: ProblemRef, 413: ProblemRef },
    },
  }, async (request) => predictor.predict(request.params.id, request.body.instances));

  app.delete('/models/:id', {
    schema: {
      tags: ['models'],
      summary: 'Delete a model and its artifacts',
      params: IdParams,
      response: { 204: Type.Null(), 404: ProblemRef },
    },
  }, async (request, reply) => {
    const { id } = request.params;
    if (!(await models.delete(id))) throw notFound('model', id);
    predictor.evict(id);
    return reply.code(204).send(null);
  });
};
