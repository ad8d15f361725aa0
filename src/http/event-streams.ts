import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { AppError, notFound } from '../errors.ts';
import { type EventLog, followEvents, parseEventId, resumePoint } from '../jobs/follow-events.ts';
import { IdParams, ProblemRef } from '../schemas/common.ts';
import { canSee } from '../tenant.ts';

/** What an event stream route follows: the log, and who owns an id (undefined: no such id). */
type FollowedLog = EventLog & { owner(id: string): Promise<string | undefined> };

/**
 * Server-Sent Events for jobs and sweeps alike: the whole history from the Redis stream, then
 * live events until `end`, resumable with Last-Event-ID; one cap on open streams per tenant.
 */
export const eventRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { jobs, sweeps, config } = app.services;
  // Blocking readers of open streams; closing them on shutdown ends every stream cleanly.
  const readers = new Set<{ disconnect(): void }>();
  // Each open stream holds a Redis connection: a tenant may hold only so many.
  const openStreams = new Map<string, number>();
  app.addHook('preClose', async () => {
    for (const reader of readers) reader.disconnect();
  });

  const route = (what: 'job' | 'sweep', log: FollowedLog, events: string) =>
    app.get(
      `/${what}s/:id/events`,
      {
        sse: 'only',
        schema: {
          tags: [`${what}s`],
          summary: `Server-Sent Events: the ${what}'s whole history, then live events until \`end\``,
          description:
            `Events: ${events}. The \`id:\` of each is its Redis stream entry id; reconnect with ` +
            '`Last-Event-ID` (or `?lastEventId=`; the header wins) to get exactly the events after it. A comment goes out every 10 s. ' +
            `An id that is not a stream id is a 400; so is one after the last event of a ${what} still going (no stream sent it). ` +
            `A finished ${what} with nothing after the id answers 204 No Content, which tells EventSource to stop reconnecting. ` +
            'A client that refuses text/event-stream (e.g. `Accept: application/json`) gets a 406.',
          params: IdParams,
          querystring: Type.Object(
            { lastEventId: Type.Optional(Type.String({ pattern: '^\\d+-\\d+$' })) },
            { additionalProperties: false },
          ),
          response: {
            200: Type.String({ description: 'text/event-stream' }),
            204: Type.Null({
              description: `the ${what} has finished and nothing follows Last-Event-ID: stop reconnecting`,
            }),
            400: ProblemRef,
            401: ProblemRef,
            404: ProblemRef,
            406: ProblemRef,
            429: ProblemRef,
            503: ProblemRef,
          },
        },
        // @fastify/sse answers a client that refuses text/event-stream itself, in a JSON shape of
        // its own that the 406 schema would not serialize (a 500): it becomes our problem+json.
        preSerialization: async (_request, reply, payload) => {
          if (reply.statusCode !== 406 || (payload as { code?: unknown } | null)?.code !== undefined) return payload;
          reply.type('application/problem+json');
          return {
            type: 'urn:problem:not_acceptable',
            title: 'Not Acceptable',
            status: 406,
            code: 'not_acceptable',
            detail: 'this route only answers text/event-stream; send Accept: text/event-stream (or no Accept header)',
          };
        },
      },
      async (request, reply) => {
        const { id } = request.params;
        const owner = await log.owner(id);
        if (owner === undefined || !canSee(request.tenant, owner)) throw notFound(what, id);
        const after = resumeAfter(request.headers['last-event-id'], request.query.lastEventId);
        if (after) {
          const point = await resumePoint(log, id, after.parsed);
          if (point === 'finished') return reply.code(204).send(null);
          if (point === 'unknown') {
            const message = `is after the last event of ${what} ${id}, which is still going: no stream sent it; reconnect without it to get the whole history`;
            throw new AppError(400, 'invalid_last_event_id', `${after.path} ${message}`, [
              { path: after.path, message },
            ]);
          }
        }
        const tenant = request.tenant.id;
        const open = openStreams.get(tenant) ?? 0;
        if (config.TENANT_MAX_STREAMS > 0 && open >= config.TENANT_MAX_STREAMS) {
          throw new AppError(
            429,
            'too_many_streams',
            `tenant ${tenant} has ${open} event streams open (TENANT_MAX_STREAMS); close one first`,
            [],
            { 'Retry-After': '5' },
          );
        }
        openStreams.set(tenant, open + 1);
        // Not the API client's fail-fast options: XREAD BLOCK waits longer than a command timeout, and may queue until connected.
        const blocking = log.redis.duplicate({
          lazyConnect: false,
          maxRetriesPerRequest: null,
          enableOfflineQueue: true,
          commandTimeout: undefined,
          socketTimeout: undefined,
          autoResendUnfulfilledCommands: true,
        });
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
        // Commit the 200 now, not at the first event: a client resuming at the tail of a live job
        // would otherwise wait without headers (and without heartbeats, which start with them).
        reply.sse.sendHeaders();
        try {
          const events = followEvents(log, blocking, id, after?.text);
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
      },
    );
  route('job', jobs, 'status, epoch, batch, evaluation, end');
  route('sweep', sweeps, 'trial (every trial transition), epoch (every epoch of every trial), best, end');
};

/**
 * The id to resume after: the `Last-Event-ID` header (EventSource sends it on reconnect), else
 * the query's `lastEventId`. One that is not a Redis stream id (`<ms>-<seq>`, 64 bits each) is a
 * 400 naming where it came from: ignoring it would replay everything, or Redis would refuse it.
 */
function resumeAfter(header: string | string[] | undefined, query: string | undefined) {
  // An empty header is no id (the SSE spec's clients leave it out then).
  const [text, path] =
    header !== undefined && header !== ''
      ? [String(header), '/headers/last-event-id']
      : [query, '/querystring/lastEventId'];
  if (text === undefined) return undefined;
  const parsed = parseEventId(text);
  if (!parsed) {
    const message = `${JSON.stringify(text.slice(0, 40))} is not an event id this stream sent (<milliseconds>-<sequence>, each at most 2^64-1)`;
    throw new AppError(400, 'invalid_last_event_id', `${path} ${message}`, [{ path, message }]);
  }
  return { text, parsed, path };
}
