/**
 * The architecture's import rules, checked by `npm run lint:deps` (part of `npm test`).
 * docs/architecture.md ("Code map") states the same rules; change both together.
 *
 * Layers, lowest first. A module may import its own layer and the layers below it, never
 * one above; the rules below name, for each layer, exactly what it may import.
 *
 *   0. leaf modules        src/errors.ts, src/config.ts (+ config-limits.ts), src/tenant.ts, src/json-guard.ts,
 *                          src/local-redis.ts, src/redis-connection.ts: import nothing of ours.
 *   1. src/schemas/        the API's TypeBox schemas and the vocabulary they name (job
 *                          statuses): only src/errors.ts and src/json-guard.ts.
 *   2. src/compute/        the TensorFlow.js backend and kernels: only src/errors.ts, and
 *                          from npm only @tensorflow/*.
 *      src/data/           datasets, readers, transforms: leaf modules and schemas.
 *      (compute and data never import each other.)
 *   3. src/model/          the model language: spec, Keras import, layer options, build,
 *                          compile, estimates, warnings: layers 0-2.
 *      src/storage/        models, datasets, checkpoints on disk, their Redis indexes, and
 *                          the Redis key names (storage/keys.ts): layers 0-2.
 *      (model and storage never import each other.)
 *   4. src/training/       the plan, the dry run, the fit loop, callbacks, training from
 *                          memory or disk, the evaluation report: layers 0-3.
 *      src/serving/        the predictor and its outputs: layers 0-3.
 *      (training and serving never import each other.)
 *   5. src/jobs/           job records, control, event streams, the BullMQ queue, one job's
 *                          run and its supervision: layers 0-4 except serving.
 *   6. src/http/           the Fastify routes: layers 0-5.
 *      workers/            the BullMQ worker: layers 0-5, never serving.
 *      (http and workers never import each other.)
 *   7. src/app.ts, src/server.ts, src/start.ts: the composition roots (start.ts runs the
 *      API and a worker in one process); nothing in src/ or workers/ imports them.

 * Outside the layers:
 *   - src/client/ is the service's HTTP client, published as `tfjs-training-service/client`:
 *     it imports only the types of src/schemas/ (so it carries no schema code).
 *   - src/cli/ talks to the service over HTTP: it imports only src/client/, src/schemas/ and
 *     src/errors.ts.
 *   - bench/ and scripts/ may import src/, workers/ and their own folder, never test/.
 *   - test/ may import anything.
 *   - Domain code (model, training, serving, data, storage, compute) never imports fastify,
 *     @fastify/*, fastify-plugin or bullmq: those belong to src/http/ and workers/.
 *   - bullmq is imported only by src/jobs/training-queue.ts, workers/ and (types only)
 *     src/http/services.ts: one module owns the queue.
 *   - No circular dependencies anywhere.
 */

const OURS = '^(src|workers|bench|scripts|test)/';
const LEAF = '^src/(errors|config|config-limits|tenant|json-guard|local-redis|redis-connection)\\.ts$';
const below = (...parts) => `^src/(${parts.join('|')})/`;
/** Modules under `from` may import (of ours) only their own folder and the `allowed` paths. */
const layer = (name, from, allowed, comment) => ({
  name,
  comment,
  severity: 'error',
  from: { path: from },
  to: { path: OURS, pathNot: [from, ...allowed] },
});

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'No import cycles anywhere: move the shared type or function to the module that owns it.',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'leaf-imports-nothing',
      comment:
        'errors, config (with config-limits, its part), tenant, json-guard, local-redis and redis-connection are leaf modules: they import nothing of ours.',
      severity: 'error',
      from: { path: LEAF },
      to: { path: OURS, pathNot: '^src/config-limits\\.ts$' },
    },
    layer(
      'schemas-layer',
      '^src/schemas/',
      ['^src/(errors|json-guard)\\.ts$'],
      'src/schemas/ imports only src/errors.ts and src/json-guard.ts.',
    ),
    layer(
      'compute-layer',
      '^src/compute/',
      ['^src/errors\\.ts$'],
      'src/compute/ imports only src/errors.ts (and TensorFlow.js).',
    ),
    {
      name: 'compute-npm-tfjs-only',
      comment: 'src/compute/ uses no npm package but @tensorflow/*.',
      severity: 'error',
      from: { path: '^src/compute/' },
      to: {
        dependencyTypesNot: ['local', 'core'],
        pathNot: '(^|/)node_modules/@tensorflow/|^@tensorflow/',
      },
    },
    layer(
      'data-layer',
      '^src/data/',
      [LEAF, below('schemas')],
      'src/data/ imports leaf modules and src/schemas/ only.',
    ),
    layer(
      'model-layer',
      '^src/model/',
      [LEAF, below('schemas', 'compute', 'data')],
      'src/model/ imports layers 0-2 only (never storage, training, serving, jobs, http).',
    ),
    layer(
      'storage-layer',
      '^src/storage/',
      [LEAF, below('schemas', 'compute', 'data')],
      'src/storage/ imports layers 0-2 only (never model, training, serving, jobs, http).',
    ),
    layer(
      'training-layer',
      '^src/training/',
      [LEAF, below('schemas', 'compute', 'data', 'model', 'storage')],
      'src/training/ imports layers 0-3 only (never serving, jobs, http).',
    ),
    layer(
      'serving-layer',
      '^src/serving/',
      [LEAF, below('schemas', 'compute', 'data', 'model', 'storage')],
      'src/serving/ imports layers 0-3 only (never training, jobs, http).',
    ),
    layer(
      'jobs-layer',
      '^src/jobs/',
      [LEAF, below('schemas', 'compute', 'data', 'model', 'storage', 'training')],
      'src/jobs/ imports layers 0-4 except serving (never http, workers).',
    ),
    layer(
      'http-layer',
      '^src/http/',
      [LEAF, below('schemas', 'compute', 'data', 'model', 'storage', 'training', 'serving', 'jobs')],
      'src/http/ imports layers 0-5 only (never workers, cli, the composition roots).',
    ),
    layer(
      'workers-layer',
      '^workers/',
      [LEAF, below('schemas', 'compute', 'data', 'model', 'storage', 'training', 'jobs')],
      'workers/ imports layers 0-5 except serving (never src/http/, cli, the composition roots).',
    ),
    layer(
      'client-over-http',
      '^src/client/',
      ['^src/schemas/', '^src/errors\\.ts$'],
      'src/client/ talks HTTP: it imports only src/schemas/ and src/errors.ts.',
    ),
    {
      name: 'client-schema-types-only',
      comment: 'src/client/ takes only types from src/schemas/: the published client carries no TypeBox schema code.',
      severity: 'error',
      from: { path: '^src/client/' },
      to: { path: '^src/schemas/', dependencyTypesNot: ['type-only'] },
    },
    layer(
      'cli-over-http',
      '^src/cli/',
      ['^src/client/', '^src/schemas/', '^src/errors\\.ts$'],
      'src/cli/ talks HTTP through src/client/: it imports only src/client/, src/schemas/ and src/errors.ts.',
    ),
    {
      name: 'composition-roots-on-top',
      comment:
        'src/app.ts, src/server.ts and src/start.ts wire everything; only they, bench/, scripts/ and test/ import them.',
      severity: 'error',
      from: { path: '^(src/(schemas|compute|data|model|storage|training|serving|jobs|http|cli|client)/|workers/)' },
      to: { path: '^src/(app|server|start)\\.ts$' },
    },
    {
      name: 'composition-roots-order',
      comment: 'start.ts imports server.ts imports app.ts, never the other way round.',
      severity: 'error',
      from: { path: '^src/(app|server)\\.ts$' },
      to: { path: '^src/start\\.ts$' },
    },
    {
      name: 'app-below-server',
      comment: 'app.ts builds the API and never imports server.ts.',
      severity: 'error',
      from: { path: '^src/app\\.ts$' },
      to: { path: '^src/server\\.ts$' },
    },
    {
      name: 'tools-not-tests',
      comment: 'bench/ and scripts/ may import src/ and workers/, never test/: shared helpers live in bench/ or src/.',
      severity: 'error',
      from: { path: '^(bench|scripts)/' },
      to: { path: '^test/' },
    },
    {
      name: 'only-tests-import-tests',
      comment: 'Nothing outside test/ imports test/.',
      severity: 'error',
      from: { pathNot: '^test/' },
      to: { path: '^test/' },
    },
    {
      name: 'domain-without-transport',
      comment:
        'Domain code (model, training, serving, data, storage, compute) never imports fastify, @fastify/*, fastify-plugin or bullmq.',
      severity: 'error',
      from: { path: '^src/(model|training|serving|data|storage|compute)/' },
      to: {
        path: '(^|/)node_modules/(fastify|fastify-plugin|@fastify/[^/]+|bullmq)/|^(fastify|fastify-plugin|@fastify/[^/]+|bullmq)(/|$)',
      },
    },
    {
      name: 'bullmq-in-one-place',
      comment:
        'One module owns the queue: bullmq is imported by src/jobs/training-queue.ts, workers/, and for types by src/http/services.ts.',
      severity: 'error',
      from: { pathNot: '^(src/jobs/training-queue\\.ts|workers/|src/http/services\\.ts|test/|bench/)' },
      to: { path: '(^|/)node_modules/bullmq/|^bullmq(/|$)' },
    },
    {
      name: 'not-to-unresolvable',
      comment: 'Every import resolves (the optional @tensorflow/tfjs-node may be absent).',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true, pathNot: '^@tensorflow/tfjs-node$' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    // node_modules stays visible (not followed) so the rules about npm packages can see it.
    exclude: { path: '^dist/' },
    // Type-only imports count: a type import still ties one layer to another.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      mainFields: ['module', 'main', 'types', 'typings'],
    },
  },
};
