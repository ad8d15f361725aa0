import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { backendState } from '../compute/backend-guard.ts';

const READY_TIMEOUT_MS = 1_000;

export const healthRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { redis, backend } = app.services;

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
        summary: 'Readiness: Redis answers and a backend is loaded (not being replaced after a fault)',
        response: {
          200: Type.Object({ ready: Type.Boolean(), redis: Type.String(), backend: Type.String() }),
          503: Type.Object({ ready: Type.Boolean(), redis: Type.String(), backend: Type.String() }),
        },
      },
    },
    async (_request, reply) => {
      const up = await Promise.race([
        redis.ping().then(
          () => true,
          () => false,
        ),
        new Promise<boolean>((resolve) => setTimeout(resolve, READY_TIMEOUT_MS, false).unref()),
      ]);
      const compute = backendState() === 'ok' ? backend : 'replacing';
      const ready = up && compute === backend;
      if (!ready) reply.code(503).header('Retry-After', up ? '1' : '5');
      return { ready, redis: up ? 'up' : 'unreachable', backend: compute };
    },
  );
};
