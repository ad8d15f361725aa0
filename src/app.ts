import Fastify, { type FastifyServerOptions } from 'fastify';
import { fastifySSE } from '@fastify/sse';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Config } from './config.ts';
import { Problem } from './schemas/common.ts';
import { Job } from './schemas/job.ts';
import { Model } from './schemas/model.ts';
import { Dataset } from './schemas/dataset.ts';
import { datasetRoutes } from './http/datasets.ts';
import { dashboard } from './http/dashboard.ts';
import { docs } from './http/docs.ts';
import { errorHandler, sendProblem } from './http/error-handler.ts';
import { healthRoutes } from './http/health.ts';
import { jobEventRoutes } from './http/job-events.ts';
import { jobCancelRoutes } from './http/job-cancel.ts';
import { jobRoutes } from './http/jobs.ts';
import { modelRoutes } from './http/models.ts';
import { services } from './http/services.ts';
import { validatorCompiler } from './http/validation.ts';

export async function buildApp(config: Config, options: { logger?: FastifyServerOptions['logger'] } = {}) {
  const app = Fastify({
    logger: options.logger ?? { level: config.LOG_LEVEL },
    bodyLimit: config.BODY_LIMIT_BYTES,
    return503OnClosing: true,
  }).withTypeProvider<TypeBoxTypeProvider>();

  app.setValidatorCompiler(validatorCompiler);
  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler((request, reply) => sendProblem(reply, 404, 'not_found', `no route ${request.method} ${request.url}`));
  for (const schema of [Problem, Job, Model, Dataset]) app.addSchema(schema);

  await app.register(docs);
  await app.register(fastifySSE, { heartbeatInterval: config.SSE_HEARTBEAT_MS });
  await app.register(services, { config });
  await app.register(healthRoutes);
  await app.register(jobRoutes, { prefix: '/v1' });
  await app.register(jobEventRoutes, { prefix: '/v1' });
  await app.register(jobCancelRoutes, { prefix: '/v1' });
  await app.register(modelRoutes, { prefix: '/v1' });
  await app.register(datasetRoutes, { prefix: '/v1' });
  await app.register(dashboard);
  return app;
}

export type App = Awaited<ReturnType<typeof buildApp>>;
