import { createReadStream } from 'node:fs';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { notFound } from '../errors.ts';
import { IdParams, PageQuery, ProblemRef } from '../schemas/common.ts';
import { ModelList, PredictRequest, PredictResponse } from '../schemas/model.ts';
import { MODEL_FILE, WEIGHTS_FILE } from '../storage/model-store.ts';
import { canSee, listScope, type Tenant } from '../tenant.ts';

export const modelRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { models, predictor } = app.services;

  /** The model, if it exists and the tenant may see it: another tenant's model is a 404, like a missing one. */
  const existing = async (id: string, tenant: Tenant) => {
    const meta = await models.get(id);
    if (!meta || !canSee(tenant, meta.tenant)) throw notFound('model', id);
    return meta;
  };

  app.get('/models', {
    schema: {
      tags: ['models'],
      summary: 'List trained models, newest first',
      querystring: Type.Object(PageQuery, { additionalProperties: false }),
      response: { 200: ModelList, 400: ProblemRef, 401: ProblemRef, 429: ProblemRef },
    },
  }, async (request) => models.list({ tenant: listScope(request.tenant), limit: request.query.limit ?? 20, cursor: request.query.cursor }));

  app.get('/models/:id', {
    schema: {
      tags: ['models'],
      summary: 'A model: layers, compile settings, transforms, metrics, the job it came from',
      params: IdParams,
      response: { 200: Type.Ref('Model'), 401: ProblemRef, 404: ProblemRef, 429: ProblemRef },
    },
  }, async (request) => existing(request.params.id, request.tenant));

  const artifactRoute = (file: typeof MODEL_FILE | typeof WEIGHTS_FILE, type: string) =>
    app.get(`/models/:id/${file}`, {
      schema: {
        tags: ['models'],
        summary: `The ${file} artifact; \`tf.loadLayersModel('<base>/v1/models/<id>/model.json')\` loads the model`,
        params: IdParams,
        response: { 200: Type.Unknown({ description: type }), 401: ProblemRef, 404: ProblemRef, 429: ProblemRef },
      },
    }, async (request, reply) => {
      const { id } = request.params;
      await existing(id, request.tenant);
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
    bodyLimit: app.services.config.PREDICT_BODY_LIMIT_BYTES,
    config: { bodyLimitSetting: 'PREDICT_BODY_LIMIT_BYTES' },
    schema: {
      tags: ['models'],
      summary: 'Predict: raw instances in, model outputs out (training input transforms are re-applied)',
      params: IdParams,
      body: PredictRequest,
      response: { 200: PredictResponse, 400: ProblemRef, 401: ProblemRef, 404: ProblemRef, 413: ProblemRef, 429: ProblemRef },
    },
  }, async (request) => {
    // The predictor checks the owner on its cached metadata: no extra Redis read per request.
    return predictor.predict(request.params.id, request.body.instances, (meta) => canSee(request.tenant, meta.tenant));
  });

  app.delete('/models/:id', {
    schema: {
      tags: ['models'],
      summary: 'Delete a model and its artifacts',
      params: IdParams,
      response: { 204: Type.Null(), 401: ProblemRef, 404: ProblemRef, 429: ProblemRef },
    },
  }, async (request, reply) => {
    const { id } = request.params;
    await existing(id, request.tenant);
    if (!(await models.delete(id))) throw notFound('model', id);
    predictor.evict(id);
    return reply.code(204).send(null);
  });
};
