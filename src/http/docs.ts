import fp from 'fastify-plugin';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';

/**
 * OpenAPI from the route schemas (the committed openapi.yaml is generated from it) and Swagger
 * UI; with `protect` (keys configured and DOCS_PUBLIC=false) both need an API key.
 */
export const docs = fp<{ protect: boolean }>(
  async (app, { protect }) => {
    const onRequest = protect ? app.authenticate : undefined;
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
        security: [{ apiKey: [] }],
        components: {
          securitySchemes: {
            apiKey: { type: 'http', scheme: 'bearer', description: 'an API key from API_KEYS; required on /v1 when keys are configured' },
          },
        },
      },
    });
    await app.register(swaggerUi, { routePrefix: '/docs', ...(onRequest ? { uiHooks: { onRequest } } : {}) });
    app.get('/openapi.json', { schema: { hide: true }, onRequest }, async () => app.swagger());
  },
  { name: 'docs', dependencies: ['auth'] },
);
