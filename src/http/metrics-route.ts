import fp from 'fastify-plugin';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { WorkerMetrics } from '../jobs/job-metrics.ts';
import { LOCAL_TENANT } from '../tenant.ts';
import { ProblemRef } from '../schemas/common.ts';
import type { Keyring } from './api-keys.ts';

/**
 * Times every request into `http_request_duration_seconds`: one observation per response, in
 * onResponse, labelled by the route's template, never its URL. Registered before any route,
 * so that its hook applies to all of them.
 */
export const requestTiming = fp(
  async (app) => {
    const { metrics } = app.services;
    // A callback hook, like the app's onSend: no promise per request.
    app.addHook('onResponse', (request, reply, done) => {
      metrics.httpDuration.observe(
        {
          method: request.method,
          route: request.routeOptions.url ?? 'unmatched',
          status_code: String(reply.statusCode),
        },
        reply.elapsedTime / 1000,
      );
      done();
    });
  },
  { name: 'request-timing', dependencies: ['services'] },
);

/**
 * `GET /metrics`: an admin key or METRICS_TOKEN when either is configured; outside /v1, so no
 * tenant's rate limit applies. Registered after the docs plugin, which sees only later routes.
 */
export const metricsRoute = fp<{ keyring: Keyring }>(
  async (app, { keyring }) => {
    const { metrics, config, redis, jobs, predictor } = app.services;
    metrics.watch({
      jobs,
      predictor,
      workers: new WorkerMetrics(redis, config.REDIS_PREFIX),
      queue: () => app.services.queue(),
      tenants: [...keyring.tenantIds(), LOCAL_TENANT.id],
    });
    const route: FastifyPluginAsyncTypebox = async (scope) => {
      scope.get(
        '/metrics',
        {
          onRequest: app.adminOnly({ token: config.METRICS_TOKEN }),
          schema: {
            tags: ['operations'],
            summary: 'Prometheus metrics of this API process, and of the workers through Redis',
            description:
              'Prometheus text format. With API keys configured it needs an admin key, or METRICS_TOKEN ' +
              '(also a Bearer credential) when that is set; with neither, it is open. docs/operations.md lists the metrics.',
            response: {
              200: {
                description: 'The Prometheus text exposition format (version 0.0.4)',
                content: { 'text/plain': { schema: Type.String() } },
              },
              401: ProblemRef,
              403: ProblemRef,
              429: ProblemRef,
            },
          },
        },
        async (_request, reply) => {
          const text = await metrics.registry.metrics();
          return reply.type(metrics.registry.contentType).send(text);
        },
      );
    };
    await app.register(route);
  },
  { name: 'metrics-route', dependencies: ['services', 'auth'] },
);
