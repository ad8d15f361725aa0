import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { buildApp } from '../src/app.ts';
import { AppError } from '../src/errors.ts';
import { keys } from '../src/storage/keys.ts';
import { OwnedIndex } from '../src/storage/owned-index.ts';
import { apiAs, smallMnistJob, startService, testConfig, type TestService } from './helpers.ts';

const ALICE = 'alice-key-0123456789abcdef';
const BOB = 'bob-key-0123456789abcdef00';

/** A few digits-shaped instances (784 pixel values), the same for every request here. */
const INSTANCES = Array.from({ length: 6 }, (_, n) => Array.from({ length: 784 }, (_, i) => (i * 37 + n * 101) % 256));

/** Predictions of the same model agree up to float32 rounding (a batched pass may sum in another order). */
function assertClose(actual: number[][], expected: number[][], what: string) {
  assert.equal(actual.length, expected.length, what);
  for (const [i, row] of actual.entries()) {
    for (const [j, v] of row.entries()) assert.ok(Math.abs(v - expected[i][j]) < 1e-5, `${what} [${i}][${j}]`);
  }
}

/**
 * The model registry against the real service: versions numbered and never reused, aliases
 * moved atomically with their history, models held while a version points at them, predict by
 * name, tenancy, a job that registers its model, and an alias moved under predict traffic.
 */
describe('model registry', () => {
  let service: TestService;
  let alice: ReturnType<typeof apiAs>;
  let bob: ReturnType<typeof apiAs>;
  /** Jobs and their models: A plain, B trained longer and registered by its job as from-job@1. */
  let jobA: any;
  let jobB: any;

  before(async () => {
    service = await startService({ config: await testConfig({ API_KEYS: `${ALICE}:alice,${BOB}:bob` }) });
    alice = apiAs(service.url, ALICE);
    bob = apiAs(service.url, BOB);
    const submitted = await Promise.all([
      alice.post('/v1/jobs', smallMnistJob({ name: 'model-a' })),
      alice.post(
        '/v1/jobs',
        smallMnistJob({
          name: 'model-b',
          fit: { epochs: 2, batchSize: 32, validationSplit: 0, shuffle: true },
          register: { name: 'from-job', aliases: ['candidate'] },
        }),
      ),
    ]);
    for (const s of submitted) assert.equal(s.status, 202, JSON.stringify(s.body));
    [jobA, jobB] = await Promise.all(submitted.map((s) => alice.waitFor(s.body.id)));
    for (const job of [jobA, jobB]) assert.equal(job.status, 'completed', JSON.stringify(job.error));
  });
  after(() => service?.close());

  const problem = (response: { status: number; headers: Headers; body: any }, status: number, what: string) => {
    assert.equal(response.status, status, `${what}: ${response.status} ${JSON.stringify(response.body)}`);
    assert.match(response.headers.get('content-type') ?? '', /application\/problem\+json/, what);
    return response.body;
  };

  test('a job with `register` ends with `registered`, and its version and aliases exist', async () => {
    assert.deepEqual(jobB.registered, { name: 'from-job', version: 1 });
    assert.equal(jobA.registered, undefined);
    const version = await alice.get('/v1/registry/from-job/versions/1');
    assert.equal(version.status, 200, JSON.stringify(version.body));
    assert.equal(version.body.modelId, jobB.modelId);
    assert.equal(version.body.jobId, jobB.id);
    assert.deepEqual(version.body.aliases, ['candidate']);
    assert.equal(typeof version.body.metrics.loss, 'number');
    const alias = await alice.get('/v1/registry/from-job/aliases/candidate');
    assert.equal(alias.body.version, 1);
    assert.deepEqual(
      alias.body.history.map((h: any) => [h.version, h.previousVersion]),
      [[1, null]],
    );

    // The name and aliases are checked at submit: a 400 naming the field, nothing queued.
    const badName = await alice.post('/v1/jobs', smallMnistJob({ register: { name: 'Not A Name' } }));
    assert.equal(problem(badName, 400, 'bad name').errors[0].path, '/register/name');
    const badAlias = await alice.post('/v1/jobs', smallMnistJob({ register: { name: 'ok', aliases: ['Prod'] } }));
    assert.equal(problem(badAlias, 400, 'bad alias').errors[0].path, '/register/aliases/0');
    assert.equal((await alice.get('/v1/jobs')).body.items.length, 2);
  });

  test('versions are numbered 1, 2, ... and a deleted number is never given again', async () => {
    const first = await alice.post('/v1/registry/digits/versions', { modelId: jobA.modelId, description: 'first' });
    assert.equal(first.status, 201, JSON.stringify(first.body));
    assert.deepEqual(
      { ...first.body, createdAt: undefined },
      { name: 'digits', version: 1, modelId: jobA.modelId, description: 'first', createdAt: undefined },
    );
    assert.equal(first.headers.get('location'), '/v1/registry/digits/versions/1');
    const register = async () => (await alice.post('/v1/registry/digits/versions', { modelId: jobB.modelId })).body;
    assert.equal((await register()).version, 2);
    assert.equal((await alice.delete('/v1/registry/digits/versions/2')).status, 204);
    problem(await alice.get('/v1/registry/digits/versions/2'), 404, 'deleted version');
    // The latest deleted too: the next number still comes from the counter, not from what is left.
    assert.equal((await register()).version, 3);
    assert.equal((await alice.delete('/v1/registry/digits/versions/3')).status, 204);
    assert.equal((await register()).version, 4);

    const digits = (await alice.get('/v1/registry/digits')).body;
    assert.equal(digits.latestVersion, 4);
    assert.equal(digits.versionCount, 2);
    assert.deepEqual(
      digits.versions.map((v: any) => [v.version, v.modelId, v.jobId]),
      [
        [4, jobB.modelId, jobB.id],
        [1, jobA.modelId, jobA.id],
      ],
    );
    assert.equal(digits.versions[1].description, 'first');
    assert.equal(typeof digits.versions[1].metrics.loss, 'number');
    const paged = (await alice.get('/v1/registry/digits?limit=1')).body;
    assert.deepEqual([paged.versions.map((v: any) => v.version), paged.nextCursor], [[4], 4]);
    const rest = (await alice.get('/v1/registry/digits?limit=1&cursor=4')).body;
    assert.deepEqual([rest.versions.map((v: any) => v.version), rest.nextCursor], [[1], null]);

    const list = (await alice.get('/v1/registry')).body;
    assert.deepEqual(
      list.items.map((r: any) => [r.name, r.latestVersion, r.versionCount]),
      [
        ['digits', 4, 2],
        ['from-job', 1, 1],
      ],
    );
    const page = (await alice.get('/v1/registry?limit=1')).body;
    assert.deepEqual([page.items.map((r: any) => r.name), page.nextCursor], [['digits'], 'digits']);
    const next = (await alice.get('/v1/registry?limit=1&cursor=digits')).body;
    assert.deepEqual([next.items.map((r: any) => r.name), next.nextCursor], [['from-job'], null]);

    // A name the pattern refuses, a model that is not there, a body that is not one: the field is named.
    const badName = await alice.post('/v1/registry/Digits/versions', { modelId: jobA.modelId });
    assert.equal(problem(badName, 400, 'bad name').errors[0].path, '/params/name');
    const unknown = await alice.post('/v1/registry/digits/versions', { modelId: randomUUID() });
    assert.equal(problem(unknown, 404, 'unknown model').errors[0].path, '/modelId');
    const notAnId = await alice.post('/v1/registry/digits/versions', { modelId: 'x' });
    assert.equal(problem(notAnId, 400, 'not an id').errors[0].path, '/modelId');
  });

  test("aliases move in one step, keep their history (a rollback is one PUT), and the version's model is loaded first", async () => {
    const { predictor } = service.app.services;
    const loads = predictor.stats().loads;
    const created = await alice.put('/v1/registry/digits/aliases/production', { version: 1 });
    assert.equal(created.status, 200, JSON.stringify(created.body));
    assert.deepEqual(created.body, { name: 'digits', alias: 'production', version: 1, previousVersion: null });
    assert.equal(predictor.stats().loads, loads + 1, 'the PUT loaded version 1 into the predictor');
    const served = await alice.post('/v1/registry/digits/aliases/production/predict', { instances: INSTANCES });
    assert.equal(served.status, 200, JSON.stringify(served.body));
    assert.equal(predictor.stats().loads, loads + 1, 'the first request through the alias found it loaded');

    const moved = await alice.put('/v1/registry/digits/aliases/production', { version: 4 });
    assert.equal(moved.body.previousVersion, 1);
    const rolledBack = await alice.put('/v1/registry/digits/aliases/production', { version: 1 });
    assert.deepEqual(rolledBack.body, { name: 'digits', alias: 'production', version: 1, previousVersion: 4 });
    const alias = (await alice.get('/v1/registry/digits/aliases/production')).body;
    assert.equal(alias.version, 1);
    assert.deepEqual(
      alias.history.map((h: any) => [h.version, h.previousVersion]),
      [
        [1, null],
        [4, 1],
        [1, 4],
      ],
    );

    problem(await alice.put('/v1/registry/digits/aliases/production', { version: 2 }), 404, 'a deleted version');
    assert.equal((await alice.get('/v1/registry/digits/aliases/production')).body.version, 1);
    const badAlias = await alice.put('/v1/registry/digits/aliases/Prod', { version: 1 });
    assert.equal(problem(badAlias, 400, 'bad alias').errors[0].path, '/params/alias');
    const badBody = await alice.put('/v1/registry/digits/aliases/production', { version: 0 });
    assert.equal(problem(badBody, 400, 'bad version').errors[0].path, '/version');

    const digits = (await alice.get('/v1/registry/digits')).body;
    assert.deepEqual(digits.aliases, [{ alias: 'production', version: 1 }]);
    assert.deepEqual(digits.versions[1].aliases, ['production']);
    const refused = problem(await alice.delete('/v1/registry/digits/versions/1'), 409, 'aliased version');
    assert.equal(refused.code, 'version_aliased');
    assert.match(refused.detail, /alias production/);

    assert.equal((await alice.put('/v1/registry/digits/aliases/staging', { version: 4 })).status, 200);
    assert.equal((await alice.delete('/v1/registry/digits/aliases/staging')).status, 204);
    problem(await alice.get('/v1/registry/digits/aliases/staging'), 404, 'deleted alias');
    problem(await alice.delete('/v1/registry/digits/aliases/staging'), 404, 'deleted twice');
  });

  test('an alias moved through one API process is loaded by the others before traffic follows it', async () => {
    const other = await buildApp(service.config, { logger: false });
    await other.ready();
    try {
      const { predictor } = other.services;
      const loads = predictor.stats().loads;
      const moved = await alice.put('/v1/registry/digits/aliases/elsewhere', { version: 4 });
      assert.equal(moved.status, 200, JSON.stringify(moved.body));
      // The announcement is pub/sub: bounded wait for the other process to have loaded it.
      for (let i = 0; i < 200 && predictor.stats().loads === loads; i++) await new Promise((r) => setTimeout(r, 25));
      assert.equal(predictor.stats().loads, loads + 1, 'the other API loaded version 4 on the announcement');
      const served = await other.inject({
        method: 'POST',
        url: '/v1/registry/digits/aliases/elsewhere/predict',
        headers: { authorization: `Bearer ${ALICE}` },
        payload: { instances: INSTANCES },
      });
      assert.equal(served.statusCode, 200, served.body);
      assert.equal(served.json().model.version, 4);
      assert.equal(predictor.stats().loads, loads + 1, 'its first request through the alias found it loaded');
    } finally {
      await other.close();
      await alice.delete('/v1/registry/digits/aliases/elsewhere');
    }
  });

  test('predict by latest, version and alias answers like the model it resolved to, and says which', async () => {
    const byId = async (modelId: string) => {
      const answer = await alice.post(`/v1/models/${modelId}/predict`, { instances: INSTANCES });
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      assert.deepEqual(answer.body.model, { modelId });
      return answer.body.predictions;
    };
    const [a, b] = [await byId(jobA.modelId), await byId(jobB.modelId)];
    const cases = [
      ['/v1/registry/digits/predict', { name: 'digits', version: 4, modelId: jobB.modelId }, b],
      ['/v1/registry/digits/versions/1/predict', { name: 'digits', version: 1, modelId: jobA.modelId }, a],
      ['/v1/registry/digits/aliases/production/predict', { name: 'digits', version: 1, modelId: jobA.modelId }, a],
      ['/v1/registry/from-job/aliases/candidate/predict', { name: 'from-job', version: 1, modelId: jobB.modelId }, b],
    ] as const;
    for (const [path, model, expected] of cases) {
      const answer = await alice.post(path, { instances: INSTANCES });
      assert.equal(answer.status, 200, `${path}: ${JSON.stringify(answer.body)}`);
      assert.deepEqual(answer.body.model, model, path);
      assertClose(answer.body.predictions, expected, path);
      assert.equal(answer.body.classes.length, INSTANCES.length);
    }
    const missing = [
      ['/v1/registry/nope/predict', /registered model nope does not exist/],
      ['/v1/registry/digits/versions/9/predict', /has no version 9/],
      ['/v1/registry/digits/aliases/none/predict', /has no alias none/],
    ] as const;
    for (const [path, detail] of missing) {
      assert.match(problem(await alice.post(path, { instances: INSTANCES }), 404, path).detail, detail);
    }
    // The same body checks as predict by id.
    problem(await alice.post('/v1/registry/digits/predict', { instances: [] }), 400, 'no instances');
  });

  test('a stored model a version points at cannot be deleted; the check and the delete are one step', async () => {
    const refused = problem(await alice.delete(`/v1/models/${jobA.modelId}`), 409, 'registered model');
    assert.equal(refused.code, 'model_registered');
    assert.match(refused.detail, /version 1 of registered model digits/);
    assert.match(refused.detail, /DELETE \/v1\/registry\/digits\/versions\/1/);
    assert.equal((await alice.get(`/v1/models/${jobA.modelId}`)).status, 200);

    // Registering and deleting the same model at once, sent in both orders on one connection:
    // whichever runs first wins whole, never a version pointing at a deleted model.
    // (Metadata-only models: nothing here reads their files.)
    const { config, models, registry, redis } = service.app.services;
    const k = keys(config.REDIS_PREFIX);
    const index = new OwnedIndex(redis, {
      meta: k.model,
      all: k.models,
      tenantPrefix: k.tenantPrefix,
      kind: 'models',
      holds: k.modelHolds,
    });
    const outcomes = new Set<string>();
    for (let i = 0; i < 20; i++) {
      const id = randomUUID();
      await index.register({ id, tenant: 'alice', bytes: 0 });
      const register = () => registry.addVersion('alice', 'race', { modelId: id });
      const remove = () => models.delete(id).catch((err: unknown) => err);
      const [added, deleted] =
        i % 2 === 0
          ? await Promise.all([register(), remove()])
          : await Promise.all([remove(), register()]).then(([d, a]) => [a, d] as const);
      if (added) {
        assert.ok(deleted instanceof AppError && deleted.status === 409, String(deleted));
        assert.ok(await models.get(id), 'a registered model is still there');
      } else {
        assert.equal(deleted, true);
        assert.equal(await models.get(id), undefined);
        assert.equal(await redis.scard(k.modelHolds(id)), 0);
      }
      outcomes.add(added ? 'registered' : 'deleted');
    }
    assert.deepEqual([...outcomes].sort(), ['deleted', 'registered']);
  });

  test("another tenant reads the tenant's registry as missing, and cannot register its models", async () => {
    const notFound = (response: any, what: string) => assert.equal(problem(response, 404, what).code, 'not_found');
    assert.deepEqual((await bob.get('/v1/registry')).body.items, []);
    notFound(await bob.get('/v1/registry/digits'), 'GET name');
    notFound(await bob.get('/v1/registry/digits/versions/1'), 'GET version');
    notFound(await bob.get('/v1/registry/digits/aliases/production'), 'GET alias');
    notFound(await bob.put('/v1/registry/digits/aliases/production', { version: 4 }), 'PUT alias');
    notFound(await bob.delete('/v1/registry/digits/aliases/production'), 'DELETE alias');
    notFound(await bob.delete('/v1/registry/digits/versions/4'), 'DELETE version');
    for (const path of ['predict', 'versions/1/predict', 'aliases/production/predict'])
      notFound(await bob.post(`/v1/registry/digits/${path}`, { instances: INSTANCES }), path);
    notFound(await bob.post('/v1/registry/digits/versions', { modelId: jobA.modelId }), "registering alice's model");
    const digits = (await alice.get('/v1/registry/digits')).body;
    assert.equal(digits.versionCount, 2);
    assert.deepEqual(digits.aliases, [{ alias: 'production', version: 1 }]);
  });

  test('an alias moved under concurrent predict traffic: no failed request, each answer wholly one version', async () => {
    const expected = new Map<number, number[][]>();
    for (const version of [1, 4]) {
      const answer = await alice.post(`/v1/registry/digits/versions/${version}/predict`, { instances: INSTANCES });
      expected.set(version, answer.body.predictions);
    }
    assert.notDeepEqual(expected.get(1), expected.get(4), 'the two versions answer differently');
    assert.equal((await alice.put('/v1/registry/digits/aliases/live', { version: 1 })).status, 200);

    // Each move waits for a few more answers (counted, not timed), so traffic runs across every move.
    const CLIENTS = 4;
    const MOVES = 20;
    const answers: { status: number; body: any }[] = [];
    const waiters: { count: number; resolve: () => void }[] = [];
    const answered = (count: number) =>
      answers.length >= count ? Promise.resolve() : new Promise<void>((resolve) => waiters.push({ count, resolve }));
    let moving = true;
    const client = async () => {
      while (moving) {
        const answer = await alice
          .post('/v1/registry/digits/aliases/live/predict', { instances: INSTANCES })
          .catch((err: unknown) => ({ status: 0, body: String(err) }));
        answers.push(answer);
        for (const w of waiters.filter((w) => answers.length >= w.count)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve();
        }
      }
    };
    const clients = Array.from({ length: CLIENTS }, client);
    const moves: number[] = [];
    try {
      for (let i = 0; i < MOVES; i++) {
        await answered((i + 1) * CLIENTS);
        const moved = await alice.put('/v1/registry/digits/aliases/live', { version: i % 2 === 0 ? 4 : 1 });
        assert.equal(moved.status, 200, JSON.stringify(moved.body));
        moves.push(moved.body.version);
      }
    } finally {
      moving = false;
      await Promise.all(clients);
    }

    assert.equal(moves.length, MOVES);
    const seen = new Set<number>();
    for (const [i, answer] of answers.entries()) {
      assert.equal(answer.status, 200, `request ${i}: ${JSON.stringify(answer.body)}`);
      const { version, modelId } = answer.body.model;
      assert.ok(expected.has(version), `request ${i} served by version ${version}`);
      assert.equal(modelId, version === 1 ? jobA.modelId : jobB.modelId);
      assertClose(answer.body.predictions, expected.get(version)!, `request ${i} (version ${version})`);
      seen.add(version);
    }
    assert.deepEqual([...seen].sort(), [1, 4], 'traffic reached both versions');
    const history = (await alice.get('/v1/registry/digits/aliases/live')).body.history;
    assert.equal(history.length, MOVES + 1);
  });

  test('once no version points at it, the model can be deleted', async () => {
    for (const alias of ['production', 'live'])
      assert.equal((await alice.delete(`/v1/registry/digits/aliases/${alias}`)).status, 204);
    assert.equal((await alice.delete('/v1/registry/digits/versions/1')).status, 204);
    assert.equal((await alice.delete(`/v1/models/${jobA.modelId}`)).status, 204);
    const digits = (await alice.get('/v1/registry/digits')).body;
    assert.deepEqual(
      digits.versions.map((v: any) => v.version),
      [4],
    );
    // Model B is still version 4 of digits and version 1 of from-job.
    assert.match(problem(await alice.delete(`/v1/models/${jobB.modelId}`), 409, 'B').detail, /from-job/);
  });
});
