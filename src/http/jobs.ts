import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { AppError, notFound } from '../errors.ts';
import type { JobRecord } from '../jobs/job-record.ts';
import { ParentGoneError, QuotaError } from '../jobs/job-store.ts';
import { queuePositions } from '../jobs/training-queue.ts';
import { queueJob } from '../jobs/queue-job.ts';
import { queueDeps, type Services } from './services.ts';
import { IdParams, ProblemRef } from '../schemas/common.ts';
import { JobList, JobListQuery } from '../schemas/job.ts';
import { JobRequest } from '../schemas/job-request.ts';
import { ValidationReport } from '../schemas/model.ts';
import { planLimits } from '../training/plan.ts';
import { separateInline } from '../data/inline.ts';
import { listScope } from '../tenant.ts';
import { kerasSpelling } from './keras-spelling.ts';
import { checkStorageQuota } from './quotas.ts';
import { resolveParent } from '../jobs/model-parent.ts';
import { isFineTune } from '../model/fine-tune.ts';
import type { Tenant } from '../tenant.ts';

const problems = {
  400: ProblemRef,
  401: ProblemRef,
  403: ProblemRef,
  404: ProblemRef,
  413: ProblemRef,
  422: ProblemRef,
  429: ProblemRef,
  503: ProblemRef,
};

/**
 * A fine-tuning job's `model.from`, resolved once, at submit: the stored request names the
 * model id it resolved to (an alias moved later does not change what the queued job starts
 * from) and, in `model.parent`, what it was. A `parent` the client sent is dropped.
 */
export async function resolveJobParent(services: Services, body: JobRequest, tenant: Tenant) {
  const { parent: _sent, ...model } = body.model;
  if (!isFineTune(model)) return { body: { ...body, model }, parent: undefined };
  const parent = await resolveParent(services, model.from, tenant);
  const { modelId, name, version } = parent;
  const resolved = { modelId, ...(name !== undefined ? { name, version } : {}) };
  return { body: { ...body, model: { ...model, from: modelId, parent: resolved } }, parent };
}

export const jobRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { jobs, config } = app.services;

  const view = (record: JobRecord, positions: Map<string, number>) => ({
    ...record,
    queuePosition: record.status === 'queued' ? (positions.get(record.id) ?? null) : null,
  });
  const withParent = (body: JobRequest, tenant: Tenant) => resolveJobParent(app.services, body, tenant);

  const positionsIf = async (records: JobRecord[]) =>
    records.some((r) => r.status === 'queued') ? queuePositions(app.services.queue()) : new Map<string, number>();

  app.post(
    '/jobs',
    {
      preValidation: kerasSpelling,
      schema: {
        tags: ['jobs'],
        summary: 'Submit a training job',
        description:
          'Validates the request, dry-runs the model against the data shapes, then queues it. Nothing is queued when any check fails.',
        body: JobRequest,
        response: { 202: Type.Ref('Job'), ...problems },
      },
    },
    async (request, reply) => {
      const { tenant } = request;
      // The job's checkpoints, inline data and model go to the object store: if it is away, say so now.
      await app.services.storeProbe.require();
      const { body, parent } = await withParent(request.body, tenant);
      const plan = await app.services.dryRuns.run(
        body,
        planLimits(config),
        await app.services.datasets.catalog(body.data, tenant),
        parent,
      );
      await checkStorageQuota(app.services, tenant.id);
      // Inline arrays stay out of Redis: they are kept beside the job's checkpoints until it ends.
      const { request: stored, arrays, samples } = separateInline(body);
      const inlineJson = arrays && JSON.stringify(arrays);
      let record: JobRecord;
      try {
        const inlineData = samples && inlineJson ? { samples, bytes: Buffer.byteLength(inlineJson) } : undefined;
        record = await queueJob(
          queueDeps(app.services),
          {
            name: body.name,
            tenant: tenant.id,
            request: stored,
            inlineData,
            epochs: plan.epochs,
            summary: plan.summary,
            // The parent is pinned with the job: it cannot be deleted until the job ends.
            parentModelId: parent?.modelId,
          },
          inlineJson,
        );
      } catch (err) {
        if (err instanceof QuotaError) throw new AppError(429, 'queue_quota', err.message, [], { 'Retry-After': '30' });
        if (err instanceof ParentGoneError) {
          // Deleted between the submit's resolving it and the job's pinning it.
          const message = `${JSON.stringify(request.body.model.from)} ${err.message}`;
          throw new AppError(422, 'unknown_model', `/model/from ${message}`, [{ path: '/model/from', message }]);
        }
        throw err;
      }
      const positions = await queuePositions(app.services.queue());
      reply.code(202).header('Location', `/v1/jobs/${record.id}`);
      return view(record, positions);
    },
  );

  app.post(
    '/models/validate',
    {
      preValidation: kerasSpelling,
      schema: {
        tags: ['models'],
        summary: 'Dry run: build the model against the data, train nothing',
        body: JobRequest,
        response: { 200: ValidationReport, ...problems },
      },
    },
    async (request) => {
      const { body, parent } = await withParent(request.body, request.tenant);
      const plan = await app.services.dryRuns.run(
        body,
        planLimits(config),
        await app.services.datasets.catalog(body.data, request.tenant),
        parent,
      );
      return {
        valid: true as const,
        summary: plan.summary,
        estimates: plan.estimates,
        warnings: plan.warnings,
        compile: plan.compile,
      };
    },
  );

  app.get(
    '/jobs',
    {
      schema: {
        tags: ['jobs'],
        summary: 'List jobs, newest first',
        querystring: JobListQuery,
        response: { 200: JobList, 400: ProblemRef, 401: ProblemRef, 429: ProblemRef, 503: ProblemRef },
      },
    },
    async (request) => {
      const page = await jobs.list({
        status: request.query.status,
        tenant: listScope(request.tenant),
        limit: request.query.limit ?? 20,
        cursor: request.query.cursor,
      });
      const positions = await positionsIf(page.items);
      return { items: page.items.map((r) => view(r, positions)), nextCursor: page.nextCursor };
    },
  );

  app.get(
    '/jobs/:id',
    {
      schema: {
        tags: ['jobs'],
        summary: 'A job: status, progress, history, evaluation, model id, error',
        params: IdParams,
        response: { 200: Type.Ref('Job'), 401: ProblemRef, 404: ProblemRef, 429: ProblemRef, 503: ProblemRef },
      },
    },
    async (request) => {
      const record = await jobs.getFor(request.params.id, request.tenant);
      if (!record) throw notFound('job', request.params.id);
      return view(record, await positionsIf([record]));
    },
  );
};
