import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { conflict, notFound } from '../errors.ts';
import { TERMINAL } from '../schemas/job-status.ts';
import { IdParams, ProblemRef } from '../schemas/common.ts';
import { CancelRequest } from '../schemas/job.ts';
import { cancelJob } from '../jobs/cancel-job.ts';

export const jobCancelRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { jobs, control, checkpoints } = app.services;

  app.post(
    '/jobs/:id/cancel',
    {
      // No body, an empty one and `{}` all mean the defaults.
      config: { optionalBody: true },
      preValidation: async (request) => {
        request.body ??= {};
      },
      schema: {
        tags: ['jobs'],
        summary: 'Cancel a queued or running job',
        description:
          'A queued job leaves the queue at once (200, status cancelled). A running job is asked to stop through Redis, ' +
          'whichever machine trains it; it stops within one batch and ends `cancelled` with its history so far (202; watch ' +
          'the job or its events). A finished job is a 409. The body is optional: none, an empty one and `{}` all cancel ' +
          'without keeping the model.',
        params: IdParams,
        body: CancelRequest,
        'x-body-optional': true,
        response: {
          200: Type.Ref('Job'),
          202: Type.Ref('Job'),
          400: ProblemRef,
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
      const record = await jobs.getFor(id, request.tenant, false);
      if (!record) throw notFound('job', id);
      if (TERMINAL.includes(record.status))
        throw conflict(`job ${id} is already ${record.status}; only queued or running jobs can be cancelled`);
      const deps = { jobs, control, checkpoints, queue: app.services.queue() };
      if ((await cancelJob(deps, id, request.body?.keepModel ?? false)) === 'cancelled')
        return reply.code(200).send({ ...(await jobs.get(id, false))!, queuePosition: null });
      const now = await jobs.get(id, false);
      return reply.code(TERMINAL.includes(now!.status) ? 200 : 202).send({ ...now!, queuePosition: null });
    },
  );
};
