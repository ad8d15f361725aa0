import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { v7 as uuidv7 } from 'uuid';
import { AppError, conflict, notFound } from '../errors.ts';
import { reconcileSweep } from '../jobs/sweeps/reconcile.ts';
import { IdParams, ProblemRef } from '../schemas/common.ts';
import { SWEEP_DONE, SweepList, SweepListQuery, SweepRequest, type Trial } from '../schemas/sweep.ts';
import { listScope } from '../tenant.ts';
import { kerasSpelling } from './keras-spelling.ts';
import { checkStorageQuota } from './quotas.ts';
import { queueDeps } from './services.ts';
import { planSweep } from './sweep-plan.ts';

const problems = {
  400: ProblemRef,
  401: ProblemRef,
  403: ProblemRef,
  404: ProblemRef,
  409: ProblemRef,
  413: ProblemRef,
  422: ProblemRef,
  429: ProblemRef,
  503: ProblemRef,
};

/**
 * Sweeps: hyperparameter search as one resource. The trials are ordinary jobs of the tenant
 * (its quotas and fair share apply), launched and followed by the reconcile
 * (src/jobs/sweeps/reconcile.ts), which the API runs after a submit or a cancel and every
 * worker after a trial starts or ends and every few seconds.
 */
export const sweepRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { sweeps, config } = app.services;
  const reconcile = (id: string) => reconcileSweep(queueDeps(app.services), id);
  /** Tenants with a sweep submission being checked in this process. */
  const checking = new Set<string>();

  app.post(
    '/sweeps',
    {
      preValidation: kerasSpelling,
      schema: {
        tags: ['sweeps'],
        summary: 'Start a hyperparameter sweep',
        description:
          'Every trial is planned and validated (schema and dry run) before anything is stored; then the first ' +
          '`parallelism` trials are queued as jobs. Nothing is stored when any check fails.',
        body: SweepRequest,
        response: { 202: Type.Ref('Sweep'), ...problems },
      },
    },
    async (request, reply) => {
      const { tenant, body } = request;
      await app.services.storeProbe.require();
      await checkActiveSweeps(tenant.id);
      // One sweep checked at a time per tenant here: its dry runs take turns with everyone's, not many turns at once.
      if (checking.has(tenant.id))
        throw new AppError(
          429,
          'sweep_busy',
          `tenant ${tenant.id} has a sweep being checked already; try again when it is submitted`,
          [],
          {
            'Retry-After': '5',
          },
        );
      checking.add(tenant.id);
      const planned = await planSweep(app.services, body, tenant).finally(() => checking.delete(tenant.id));
      await checkStorageQuota(app.services, tenant.id);
      const id = uuidv7();
      const trials: Trial[] = planned.trials.map((parameters, index) => ({
        index,
        parameters,
        status: 'pending',
        jobId: null,
        objective: null,
        epochs: 0,
        modelId: null,
        error: null,
        startedAt: null,
        finishedAt: null,
      }));
      if (planned.inlineJson) await app.services.checkpoints.saveInline(id, planned.inlineJson);
      await sweeps.create(
        {
          id,
          name: body.name ?? `sweep-${id.slice(-8)}`,
          tenant: tenant.id,
          status: 'running',
          createdAt: new Date().toISOString(),
          finishedAt: null,
          strategy: body.strategy,
          objective: body.objective,
          maxTrials: body.maxTrials,
          parallelism: Math.min(body.parallelism ?? 1, trials.length),
          best: null,
          request: { ...body, job: planned.job },
          ...(planned.inlineData ? { inlineData: planned.inlineData } : {}),
        },
        trials,
        planned.plans,
      );
      // Launches the first trials; should it fail, the workers' periodic reconcile launches them.
      await reconcile(id).catch((err: Error) =>
        request.log.warn({ sweepId: id, err: err.message }, 'first reconcile failed'),
      );
      reply.code(202).header('Location', `/v1/sweeps/${id}`);
      return (await sweeps.getFor(id, tenant))!;
    },
  );

  /** A tenant's sweeps still running, against TENANT_MAX_ACTIVE_SWEEPS. */
  async function checkActiveSweeps(tenant: string) {
    const max = config.TENANT_MAX_ACTIVE_SWEEPS;
    if (max === 0) return;
    const owners = await Promise.all((await sweeps.activeIds()).map((id) => sweeps.owner(id)));
    const active = owners.filter((o) => o === tenant).length;
    if (active >= max)
      throw new AppError(
        429,
        'sweep_quota',
        `tenant ${tenant} has ${active} sweeps running (TENANT_MAX_ACTIVE_SWEEPS)`,
        [],
        {
          'Retry-After': '30',
        },
      );
  }

  app.get(
    '/sweeps',
    {
      schema: {
        tags: ['sweeps'],
        summary: 'List sweeps, newest first',
        querystring: SweepListQuery,
        response: { 200: SweepList, 400: ProblemRef, 401: ProblemRef, 429: ProblemRef, 503: ProblemRef },
      },
    },
    async (request) =>
      sweeps.list({
        tenant: listScope(request.tenant),
        limit: request.query.limit ?? 20,
        cursor: request.query.cursor,
      }),
  );

  app.get(
    '/sweeps/:id',
    {
      schema: {
        tags: ['sweeps'],
        summary: 'A sweep: its trials (parameters, status, job, objective), the best trial so far',
        params: IdParams,
        querystring: Type.Object(
          { request: Type.Optional(Type.Boolean({ default: false, description: 'include the sweep request' })) },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Ref('Sweep'),
          400: ProblemRef,
          401: ProblemRef,
          404: ProblemRef,
          429: ProblemRef,
          503: ProblemRef,
        },
      },
    },
    async (request) => {
      const sweep = await sweeps.getFor(request.params.id, request.tenant, request.query.request);
      if (!sweep) throw notFound('sweep', request.params.id);
      return sweep;
    },
  );

  app.post(
    '/sweeps/:id/cancel',
    {
      config: { optionalBody: true },
      schema: {
        tags: ['sweeps'],
        summary: 'Cancel a sweep and every trial it has not finished',
        description:
          'Pending and queued trials are cancelled at once, running ones stop within a batch. 200 when nothing was ' +
          'left running (the sweep is `cancelled`), else 202 (`cancelling`: watch the sweep or its events for `end`). ' +
          'A finished sweep is a 409.',
        params: IdParams,
        response: {
          200: Type.Ref('Sweep'),
          202: Type.Ref('Sweep'),
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
      const sweep = await sweeps.getFor(id, request.tenant);
      if (!sweep) throw notFound('sweep', id);
      if (SWEEP_DONE.includes(sweep.status)) throw conflict(`sweep ${id} is already ${sweep.status}`);
      await sweeps.requestCancel(id);
      await reconcile(id);
      const now = (await sweeps.getFor(id, request.tenant))!;
      return reply.code(now.status === 'cancelled' ? 200 : 202).send(now);
    },
  );
};
