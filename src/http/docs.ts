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
      refResolver: {
        buildLocalReference: (json, _base, _fragment, i) => (typeof json.$id === 'string' ? json.$id : `def-${i}`),
      },
      // @fastify/swagger marks every body required; a route whose schema says `x-body-optional` takes none too.
      transformObject: (documents) => {
        const paths = ('openapiObject' in documents ? documents.openapiObject.paths : undefined) ?? {};
        for (const item of Object.values(paths)) {
          for (const operation of Object.values(item ?? {}) as {
            'x-body-optional'?: boolean;
            requestBody?: { required?: boolean };
          }[]) {
            if (!operation?.['x-body-optional']) continue;
            if (operation.requestBody) operation.requestBody.required = false;
            delete operation['x-body-optional'];
          }
        }
        return 'openapiObject' in documents ? documents.openapiObject : documents.swaggerObject;
      },
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
          { name: 'registry', description: 'registered names, versions and aliases; prediction by name' },
          {
            name: 'inference (v2)',
            description:
              'the Open Inference Protocol (KServe v2: Triton, KServe and Seldon clients) on registered models, JSON data',
          },
          { name: 'health', description: 'liveness and readiness' },
          { name: 'operations', description: 'metrics for Prometheus (admins or METRICS_TOKEN when keys are set)' },
        ],
        security: [{ apiKey: [] }],
        components: {
          securitySchemes: {
            apiKey: {
              type: 'http',
              scheme: 'bearer',
              description: 'an API key from API_KEYS; required on /v1 and /v2/models when keys are configured',
            },
          },
        },
      },
    });
    await app.register(swaggerUi, { routePrefix: '/docs', ...(onRequest ? { uiHooks: { onRequest } } : {}) });
    app.get('/openapi.json', { schema: { hide: true }, onRequest }, async () => app.swagger());
  },
  { name: 'docs', dependencies: ['auth'] },
);
