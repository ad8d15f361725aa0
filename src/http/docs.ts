import fp from 'fastify-plugin';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';

/** OpenAPI from the route schemas (the committed openapi.yaml is generated from it) and Swagger UI. */
export const docs = fp(
  async (app) => {
    await app.register(swagger, {
      // Shared schemas keep their $id (Problem, Job, Model) as their component name.
      refResolver: { buildLocalReference: (json, _base, _fragment, i) => (typeof json.$id === 'string' ? json.$id : `def-${i}`) },
      openapi: {
        openapi: '3.1.0',
        info: {
          title: 'TensorFlow.js training service',
          version: '1',
          description:
            'Keras-style model definitions and training jobs over HTTP: queued in Redis, trained by TensorFlow.js workers, ' +
            'streamed over Server-Sent Events, stored and served for prediction. Errors are application/problem+json.',
        },
        tags: [
          { name: 'jobs', description: 'training jobs and their event streams' },
          { name: 'models', description: 'trained models, artifacts and prediction' },
          { name: 'health', description: 'liveness and readiness' },
        ],
      },
    });
    await app.register(swaggerUi, { routePrefix: '/docs' });
    app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  },
  { name: 'docs' },
);
