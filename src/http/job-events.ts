import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { AppError, notFound } from '../errors.ts';
import { followEvents } from '../queue/follow-events.ts';
import { IdParams, ProblemRef } from '../schemas/common.ts';
import { canSee } from '../tenant.ts';

export const jobEventRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { jobs, config } = app.services;
  // Blocking readers of open streams; closing them on shutdown ends every stream cleanly.
  const readers = new Set<{ disconnect(): void }>();
  // Each open stream holds a Redis connection: a tenant may hold only so many.
  const openStreams = new Map<string, number>();
  app.addHook('preClose', async () => {
    for (const reader of readers) reader.disconnect();
  });

  app.get('/jobs/:id/events', {
    sse: 'only',
    schema: {
      tags: ['jobs'],
      summary: "Server-Sent Events: the job's whole history, then live events until `end`",
      description:
        'Events: status, epoch, batch, evaluation, end. The `id:` of each is its Redis stream entry id; reconnect with ' +
        '`Last-Event-ID` (or `?lastEventId=`) to get exactly the events after it. A comment goes out every 10 s.',
      params: IdParams,
      querystring: Type.Object({ lastEventId: Type.Optional(Type.String({ pattern: '^\\d+-\\d+$' })) }, { additionalProperties: false }),
      response: { 200: Type.String({ description: 'text/event-stream' }), 401: ProblemRef, 404: ProblemRef, 406: ProblemRef, 429: ProblemRef },
    },
  }, async (request, reply) => {
    const { id } = request.params;
    const owner = await jobs.owner(id);
    if (owner === undefined || !canSee(request.tenant, owner)) throw notFound('job', id);
    const tenant = request.tenant.id;
    const open = openStreams.get(tenant) ?? 0;
    if (config.TENANT_MAX_STREAMS > 0 && open >= config.TENANT_MAX_STREAMS) {
      throw new AppError(429, 'too_many_streams', `tenant ${tenant} has ${open} event streams open (TENANT_MAX_STREAMS); close one first`, [], { 'Retry-After': '5' });
    }
    openStreams.set(tenant, open + 1);
    const header = reply.sse.lastEventId;
    const after = header && /^\d+-\d+$/.test(header) ? header : request.query.lastEventId;
    const blocking = jobs.redis.duplicate({ lazyConnect: false, maxRetriesPerRequest: null });
    blocking.on('error', () => undefined);
    readers.add(blocking);
    let stopped = false;
    const stop = () => {
      if (stopped) return;
      stopped = true;
      readers.delete(blocking);
      blocking.disconnect();
      const left = (openStreams.get(tenant) ?? 1) - 1;
      if (left > 0) openStreams.set(tenant, left);
      else openStreams.delete(tenant);
    };
    reply.sse.onClose(stop);
    try {
      const events = followEvents(jobs, blocking, id, after);
      await reply.sse.send(
        (async function* () {
          for await (const e of events) yield { id: e.id, event: e.event, data: e.data };
        })(),
      );
    } catch (err) {
      // The reader was closed under us: the client left or the server is shutting down.
      request.log.debug({ err: (err as Error).message }, 'event stream closed');
    } finally {
      stop();
    }
  });
};
