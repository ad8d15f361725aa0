import { createReadStream } from 'node:fs';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { LRUCache } from 'lru-cache';
import { notFound } from '../errors.ts';
import { IdParams, ProblemRef } from '../schemas/common.ts';
import { ModelList, ModelListQuery } from '../schemas/model.ts';
import { MODEL_FILE, WEIGHTS_FILE } from '../storage/model-store.ts';
import { listScope, type Tenant } from '../tenant.ts';
import { predictRoute, servePrediction } from './predict.ts';

/** Models known to belong to the tenant asking, so predict skips the index read; ownership never changes. */
const KNOWN_OWNED = { max: 10_000, ttl: 60_000 };

export const modelRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { models, predictor } = app.services;
  const owned = new LRUCache<string, true>(KNOWN_OWNED);

  /**
   * The model, if it exists and the tenant may see it: another tenant's model is a 404, like a
   * missing one, and costs the same (its metadata is never read: see OwnedIndex.getFor).
   */
  const existing = async (id: string, tenant: Tenant) => {
    const meta = await models.getFor(id, tenant);
    if (!meta) throw notFound('model', id);
    return meta;
  };

  /**
   * Predict checks the owner on the tenant's index before the predictor loads anything:
   * another tenant's model is never loaded into the shared cache (which would tell it exists
   * and evict models others use). Only ids found to be the tenant's own are remembered.
   */
  const mayPredict = async (id: string, tenant: Tenant) => {
    if (tenant.admin || owned.has(`${tenant.id}/${id}`)) return;
    if (!(await models.visibleTo(id, tenant))) throw notFound('model', id);
    owned.set(`${tenant.id}/${id}`, true);
  };

  app.get(
    '/models',
    {
      schema: {
        tags: ['models'],
        summary: 'List trained models, newest first',
        querystring: ModelListQuery,
        response: { 200: ModelList, 400: ProblemRef, 401: ProblemRef, 429: ProblemRef, 503: ProblemRef },
      },
    },
    async (request) =>
      models.list({
        tenant: listScope(request.tenant),
        limit: request.query.limit ?? 20,
        cursor: request.query.cursor,
        maxBytes: app.services.config.LIST_MAX_BYTES,
      }),
  );

  app.get(
    '/models/:id',
    {
      schema: {
        tags: ['models'],
        summary: 'A model: layers, compile settings, transforms, metrics, the job it came from',
        params: IdParams,
        response: { 200: Type.Ref('Model'), 401: ProblemRef, 404: ProblemRef, 429: ProblemRef, 503: ProblemRef },
      },
    },
    async (request) => existing(request.params.id, request.tenant),
  );

  const artifactRoute = (file: typeof MODEL_FILE | typeof WEIGHTS_FILE, type: string) =>
    app.get(
      `/models/:id/${file}`,
      {
        schema: {
          tags: ['models'],
          summary: `The ${file} artifact; \`tf.loadLayersModel('<base>/v1/models/<id>/model.json')\` loads the model`,
          params: IdParams,
          response: {
            200: Type.Unknown({ description: type }),
            401: ProblemRef,
            404: ProblemRef,
            429: ProblemRef,
            503: ProblemRef,
          },
        },
      },
      async (request, reply) => {
        const { id } = request.params;
        await existing(id, request.tenant);
        const { path, size, release } = await models.artifact(id, file);
        // The cached copy (remote storage) stays until the stream is done with it.
        const stream = createReadStream(path).once('close', release);
        return reply
          .type(type)
          .header('Content-Length', size)
          .header('Content-Disposition', `attachment; filename="${file}"`)
          .send(stream);
      },
    );
  artifactRoute(MODEL_FILE, 'application/json');
  artifactRoute(WEIGHTS_FILE, 'application/octet-stream');

  app.post(
    '/models/:id/predict',
    predictRoute(app.services.config, {
      tags: ['models'],
      summary: 'Predict: raw instances in, model outputs out (training input transforms are re-applied)',
      params: IdParams,
    }),
    async (request) => {
      const { id } = request.params;
      await mayPredict(id, request.tenant);
      return servePrediction(predictor, request.tenant, request.body, { modelId: id });
    },
  );

  app.delete(
    '/models/:id',
    {
      schema: {
        tags: ['models'],
        summary:
          'Delete a model and its artifacts; refused (409) while a registry version points at it or a queued or running job fine-tunes it',
        params: IdParams,
        response: {
          204: Type.Null(),
          401: ProblemRef,
          404: ProblemRef,
          409: ProblemRef,
          429: ProblemRef,
          503: ProblemRef,
        },
      },
    },
    async (request, reply) => {
      const { id } = request.params;
      await existing(id, request.tenant);
      if (!(await models.delete(id))) throw notFound('model', id);
      predictor.evict(id);
      owned.delete(`${request.tenant.id}/${id}`);
      return reply.code(204).send(null);
    },
  );
};
