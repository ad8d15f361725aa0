import { randomUUID } from 'node:crypto';
import Fastify, { type FastifyServerOptions } from 'fastify';
import { fastifySSE } from '@fastify/sse';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Config } from './config.ts';
import { Problem } from './schemas/common.ts';
import { Job } from './schemas/job.ts';
import { Model } from './schemas/model.ts';
import { Dataset } from './schemas/dataset.ts';
import { Keyring } from './http/api-keys.ts';
import { auth } from './http/auth.ts';
import { datasetRoutes } from './http/datasets.ts';
import { dashboard } from './http/dashboard.ts';
import { docs } from './http/docs.ts';
import { errorHandler, frameworkErrors, sendProblem } from './http/error-handler.ts';
import { healthRoutes } from './http/health.ts';
import { inferenceV2Health, inferenceV2Routes } from './http/inference-v2.ts';
import { eventRoutes } from './http/event-streams.ts';
import { jobCancelRoutes } from './http/job-cancel.ts';
import { jobRoutes } from './http/jobs.ts';
import { sweepRoutes } from './http/sweeps.ts';
import { Sweep } from './schemas/sweep.ts';
import { jsonBody } from './http/json-body.ts';
import { metricsRoute, requestTiming } from './http/metrics-route.ts';
import { modelRoutes } from './http/models.ts';
import { modelFileRoutes } from './http/model-files.ts';
import { queueBoard } from './http/queue-board.ts';
import { registryRoutes } from './http/registry.ts';
import { tenantRateLimit } from './http/rate-limit.ts';
import { services } from './http/services.ts';
import { validatorCompiler } from './http/validation.ts';

export async function buildApp(config: Config, options: { logger?: FastifyServerOptions['logger'] } = {}) {
  const app = Fastify({
    logger: options.logger ?? { level: config.LOG_LEVEL },
    bodyLimit: config.BODY_LIMIT_BYTES,
    return503OnClosing: true,
    // Our own ids: a client-sent X-Request-Id would be an unchecked string in every log line.
    genReqId: () => randomUUID(),
    frameworkErrors,
  }).withTypeProvider<TypeBoxTypeProvider>();
  const keyring = Keyring.fromConfig(config);

  app.setValidatorCompiler(validatorCompiler);
  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler((request, reply) =>
    sendProblem(reply, 404, 'not_found', `no route ${request.method} ${request.url}`),
  );
  for (const schema of [Problem, Job, Model, Dataset, Sweep]) app.addSchema(schema);
  await app.register(jsonBody, { maxDepth: config.MAX_JSON_DEPTH });

  // A callback hook, not an async one: it runs on every response, and a promise per request shows in predict's profile.
  app.addHook('onSend', (request, reply, payload, done) => {
    reply.header('X-Request-Id', request.id);
    done(null, payload);
  });

  // Services first: authentication counts failures in Redis.
  await app.register(services, { config });
  await app.register(auth, { keyring });
  // Before any route: its onResponse hook times every one of them.
  await app.register(requestTiming);
  await app.register(docs, { protect: keyring.size > 0 && !config.DOCS_PUBLIC });
  await app.register(metricsRoute, { keyring });
  await app.register(fastifySSE, { heartbeatInterval: config.SSE_HEARTBEAT_MS });
  await app.register(healthRoutes);
  // Every /v1 route: a tenant (or 401), then its rate limit, then the route.
  await app.register(
    async (v1) => {
      v1.addHook('onRequest', v1.authenticate);
      await v1.register(tenantRateLimit);
      await v1.register(jobRoutes);
      await v1.register(eventRoutes);
      await v1.register(jobCancelRoutes);
      await v1.register(modelRoutes);
      await v1.register(modelFileRoutes);
      await v1.register(registryRoutes);
      await v1.register(datasetRoutes);
      await v1.register(sweepRoutes);
    },
    { prefix: '/v1' },
  );
  // The Open Inference Protocol: health open like /healthz, models behind the same keys, rate limit and tenancy as /v1.
  await app.register(inferenceV2Health, { prefix: '/v2' });
  await app.register(
    async (v2) => {
      v2.addHook('onRequest', v2.authenticate);
      await v2.register(tenantRateLimit);
      await v2.register(inferenceV2Routes);
    },
    { prefix: '/v2' },
  );
  await app.register(dashboard);
  await app.register(queueBoard);
  return app;
}

export type App = Awaited<ReturnType<typeof buildApp>>;
