import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { backendState } from '../compute/backend-guard.ts';

const READY_TIMEOUT_MS = 1_000;

const Readiness = Type.Object({
  ready: Type.Boolean(),
  redis: Type.String({ description: '`up` or `unreachable`' }),
  storage: Type.String({ description: 'The object store (STORAGE_URL): `up` or `unreachable`' }),
  storageUrl: Type.String({
    description: 'Where models, datasets and checkpoints are stored: `file:…` or `s3://bucket/prefix/`',
  }),
  backend: Type.String({ description: 'The compute backend, or `replacing` while it is reloaded after a fault' }),
});

export const healthRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { backend } = app.services;

  app.get(
    '/healthz',
    {
      schema: {
        tags: ['health'],
        security: [],
        summary: 'Liveness, and the compute backend this process uses',
        response: {
          200: Type.Object({ status: Type.Literal('ok'), backend: Type.String(), uptimeSeconds: Type.Number() }),
        },
      },
    },
    async () => ({ status: 'ok' as const, backend, uptimeSeconds: Math.round(process.uptime()) }),
  );

  app.get(
    '/readyz',
    {
      schema: {
        tags: ['health'],
        security: [],
        summary:
          'Readiness: Redis and the object store answer, and a backend is loaded (not being replaced after a fault)',
        response: { 200: Readiness, 503: Readiness },
      },
    },
    async (_request, reply) => {
      const found = await readiness(app.services);
      if (!found.ready) reply.code(503).header('Retry-After', found.retryAfter);
      const { retryAfter: _, ...answer } = found;
      return answer;
    },
  );
};

/**
 * Whether this process can serve: Redis and the object store answer, and its backend is loaded
 * (not being replaced after a fault). /readyz and the inference protocol's /v2/health/ready both ask it.
 */
export async function readiness({ redis, backend, storeProbe }: FastifyInstance['services']) {
  const [up, stored] = await Promise.all([
    Promise.race([
      redis.ping().then(
        () => true,
        () => false,
      ),
      new Promise<boolean>((resolve) => setTimeout(resolve, READY_TIMEOUT_MS, false).unref()),
    ]),
    storeProbe.check().then(
      () => true,
      () => false,
    ),
  ]);
  const compute = backendState() === 'ok' ? backend : 'replacing';
  return {
    ready: up && stored && compute === backend,
    /** Seconds a 503's Retry-After asks for: a backend is replaced quickly, an unreachable store is not. */
    retryAfter: up && stored ? '1' : '5',
    redis: up ? 'up' : 'unreachable',
    storage: stored ? 'up' : 'unreachable',
    storageUrl: storeProbe.store.location,
    backend: compute,
  };
}
