import { listenForWarm } from '../storage/warm-announcements.ts';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { ErrorObject } from 'ajv';
import type { FastifyRequest } from 'fastify';
import { AppError, badRequest, notFound } from '../errors.ts';
import { ProblemRef } from '../schemas/common.ts';
import {
  Alias,
  AliasMove,
  AliasParams,
  AliasRequest,
  CreateVersionRequest,
  NameParams,
  RegisteredModel,
  RegisteredModelQuery,
  RegistryList,
  RegistryListQuery,
  RegistryVersion,
  RegistryVersionDetail,
  VersionParams,
} from '../schemas/registry.ts';
import type { RegistryVersion as Version } from '../schemas/registry.ts';
import type { PredictRequest } from '../schemas/model.ts';
import { RegistryQuotaError, type RegistryStore, type VersionTarget } from '../storage/registry-store.ts';
import type { Tenant } from '../tenant.ts';
import { predictRoute, servePrediction } from './predict.ts';
import { fieldErrors } from './validation.ts';

const tags = ['registry'];
const problems = { 400: ProblemRef, 401: ProblemRef, 404: ProblemRef, 429: ProblemRef, 503: ProblemRef };

/**
 * Routes that create under a name or alias from the path: one their pattern refuses is the
 * client's mistake, a 400 naming the parameter (elsewhere such a name is simply not there: 404).
 * They validate with `attachValidation`, and this throws what was found.
 */
function refuseInvalid(request: FastifyRequest) {
  const err = request.validationError as
    | (Error & { validation?: ErrorObject[]; validationContext?: string })
    | undefined;
  if (!err) return;
  if (err.validationContext !== 'params') throw err;
  const errors = fieldErrors(err.validation ?? [], 'params');
  throw badRequest(`the request path is not valid: ${errors.map((e) => `${e.path} ${e.message}`).join('; ')}`, errors);
}

/** The version `target` of the tenant's `name` means now, resolved once; a 404 saying what is missing. */
export async function resolveVersion(
  registry: RegistryStore,
  tenant: Tenant,
  name: string,
  target: VersionTarget,
): Promise<Version> {
  const found = await registry.resolve(tenant.id, name, target);
  if (found === 'no-name') throw notFound('registered model', name);
  if (found !== 'no-version') return found;
  const missing =
    'latest' in target
      ? `registered model ${name} has no versions`
      : 'alias' in target
        ? `registered model ${name} has no alias ${target.alias}`
        : `registered model ${name} has no version ${target.version}`;
  throw new AppError(404, 'not_found', missing);
}

/** The registry: a tenant's registered names, their versions and aliases, and predict by name. */
export const registryRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { registry, models, predictor, config } = app.services;
  const stopListening = listenForWarm(app.services.redis, config.REDIS_PREFIX, (id) => {
    void predictor.warm(id).catch(() => undefined); // a model gone meanwhile: nothing to load
  });
  app.addHook('onClose', async () => stopListening());

  const resolve = (tenant: Tenant, name: string, target: VersionTarget) =>
    resolveVersion(registry, tenant, name, target);

  /** A 404 saying what of `target` is missing (the name, the version, the alias). */
  const absent = async (tenant: Tenant, name: string, target: VersionTarget): Promise<never> => {
    await resolve(tenant, name, target);
    // It came back meanwhile: still, this request found it missing.
    throw notFound('registry entry', `${name} ${JSON.stringify(target)}`);
  };

  /** A version with its stored model's job and metrics, and the aliases pointing at it. */
  const detail = async (version: Version, aliases: { alias: string; version: number }[]) => {
    const meta = await models.get(version.modelId);
    return {
      ...version,
      jobId: meta?.jobId ?? null,
      metrics: meta?.metrics ?? {},
      aliases: aliases.filter((a) => a.version === version.version).map((a) => a.alias),
    };
  };

  app.get(
    '/registry',
    {
      schema: {
        tags,
        summary: 'List registered models, by name',
        querystring: RegistryListQuery,
        response: { 200: RegistryList, ...problems },
      },
    },
    async (request) =>
      registry.list(request.tenant.id, { limit: request.query.limit ?? 20, cursor: request.query.cursor }),
  );

  app.get(
    '/registry/:name',
    {
      schema: {
        tags,
        summary: 'A registered model: its aliases and versions (newest first), with their metrics and jobs',
        params: NameParams,
        querystring: RegisteredModelQuery,
        response: { 200: RegisteredModel, ...problems },
      },
    },
    async (request) => {
      const { name } = request.params;
      const found = await registry.get(request.tenant.id, name, {
        limit: request.query.limit ?? 20,
        cursor: request.query.cursor,
      });
      if (!found) throw notFound('registered model', name);
      return { ...found, versions: await Promise.all(found.versions.map((v) => detail(v, found.aliases))) };
    },
  );

  app.post(
    '/registry/:name/versions',
    {
      attachValidation: true,
      schema: {
        tags,
        summary: "Register a stored model (the tenant's own) as the next version; the first creates the name",
        params: NameParams,
        body: CreateVersionRequest,
        response: { 201: RegistryVersion, 403: ProblemRef, ...problems },
      },
    },
    async (request, reply) => {
      refuseInvalid(request);
      const { name } = request.params;
      const { modelId, description } = request.body;
      const missing = () =>
        new AppError(404, 'not_found', `model ${modelId} does not exist`, [
          { path: '/modelId', message: 'is not a stored model of yours' },
        ]);
      if (!(await models.visibleTo(modelId, request.tenant))) throw missing();
      const added = await registry.addVersion(request.tenant.id, name, { modelId, description }).catch((err) => {
        if (!(err instanceof RegistryQuotaError)) throw err;
        throw new AppError(403, 'registry_quota', err.message, [
          { path: '/params/name', message: `is over ${err.setting} (${err.limit})` },
        ]);
      });
      if (!added) throw missing();
      reply.code(201).header('Location', `/v1/registry/${name}/versions/${added.version}`);
      return added;
    },
  );

  app.get(
    '/registry/:name/versions/:version',
    {
      schema: {
        tags,
        summary: 'One version: its stored model, metrics, job and aliases',
        params: VersionParams,
        response: { 200: RegistryVersionDetail, ...problems },
      },
    },
    async (request) => {
      const { name, version } = request.params;
      const found = await resolve(request.tenant, name, { version });
      return detail(found, await registry.aliases(request.tenant.id, name));
    },
  );

  app.delete(
    '/registry/:name/versions/:version',
    {
      schema: {
        tags,
        summary: 'Delete a version (its number is never given again); refused (409) while an alias points at it',
        params: VersionParams,
        response: { 204: Type.Null(), 409: ProblemRef, ...problems },
      },
    },
    async (request, reply) => {
      const { name, version } = request.params;
      const done = await registry.deleteVersion(request.tenant.id, name, version);
      if (done === 'missing') await absent(request.tenant, name, { version });
      if (typeof done === 'object') {
        const [what, verb] = done.aliases.length > 1 ? ['aliases', 'point'] : ['alias', 'points'];
        throw new AppError(
          409,
          'version_aliased',
          `version ${version} of ${name} is what ${what} ${done.aliases.join(', ')} ${verb} at; move or delete it first`,
        );
      }
      return reply.code(204).send(null);
    },
  );

  app.put(
    '/registry/:name/aliases/:alias',
    {
      attachValidation: true,
      schema: {
        tags,
        summary: "Point an alias at a version (create or move it); the version's model is loaded first",
        description:
          "The move is one atomic step and is appended to the alias's history; `previousVersion` (null for a new alias) is what a rollback PUTs back. The new version's model is loaded into this process's predictor before the alias moves, so requests that follow the alias do not wait for a load.",
        params: AliasParams,
        body: AliasRequest,
        response: { 200: AliasMove, ...problems },
      },
    },
    async (request) => {
      refuseInvalid(request);
      const { name, alias } = request.params;
      const { version } = request.body;
      const target = await resolve(request.tenant, name, { version });
      await predictor.warm(target.modelId);
      // And every other API process: traffic through this alias may reach any of them.
      await registry.announceWarm(target.modelId);
      const moved = await registry.setAlias(request.tenant.id, name, alias, version);
      if (!moved) return absent(request.tenant, name, { version }); // deleted meanwhile
      return { name, alias, version, previousVersion: moved.previousVersion };
    },
  );

  app.get(
    '/registry/:name/aliases/:alias',
    {
      schema: {
        tags,
        summary: 'An alias: the version it points at and its moves, oldest first',
        params: AliasParams,
        response: { 200: Alias, ...problems },
      },
    },
    async (request) => {
      const { name, alias } = request.params;
      const found = await registry.getAlias(request.tenant.id, name, alias);
      if (!found) return absent(request.tenant, name, { alias });
      return { name, alias, ...found };
    },
  );

  app.delete(
    '/registry/:name/aliases/:alias',
    {
      schema: {
        tags,
        summary: 'Delete an alias and its history (its version stays)',
        params: AliasParams,
        response: { 204: Type.Null(), ...problems },
      },
    },
    async (request, reply) => {
      const { name, alias } = request.params;
      if (!(await registry.deleteAlias(request.tenant.id, name, alias))) await absent(request.tenant, name, { alias });
      return reply.code(204).send(null);
    },
  );

  /** Predict by name: the request resolves its version once, then is served wholly by that version's model. */
  const byName = (tenant: Tenant, name: string, target: VersionTarget, body: PredictRequest) =>
    resolve(tenant, name, target).then(({ version, modelId }) =>
      servePrediction(predictor, tenant, body, { name, version, modelId }),
    );

  app.post(
    '/registry/:name/predict',
    predictRoute(config, { tags, summary: 'Predict with the latest version', params: NameParams }),
    async (request) => byName(request.tenant, request.params.name, { latest: true }, request.body),
  );

  app.post(
    '/registry/:name/versions/:version/predict',
    predictRoute(config, { tags, summary: 'Predict with one version', params: VersionParams }),
    async (request) => byName(request.tenant, request.params.name, { version: request.params.version }, request.body),
  );

  app.post(
    '/registry/:name/aliases/:alias/predict',
    predictRoute(config, {
      tags,
      summary: 'Predict with the version an alias points at (resolved once per request)',
      params: AliasParams,
    }),
    async (request) => byName(request.tenant, request.params.name, { alias: request.params.alias }, request.body),
  );
};
