import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { getJson, postJson, smallMnistJob, startService, testConfig, type TestService } from './helpers.ts';

/** The API alone (no worker): submissions are validated and queued, bad ones leave nothing behind. */
describe('jobs API', () => {
  let service: TestService;
  before(async () => {
    service = await startService({ worker: false, config: await testConfig({ BODY_LIMIT_BYTES: '65536' }) });
  });
  after(() => service.close());

  const nothingQueued = async () => {
    const counts = await service.app.services.queue().getJobCounts();
    assert.equal(
      Object.values(counts).reduce((a, b) => a + b, 0),
      0,
      `BullMQ holds jobs: ${JSON.stringify(counts)}`,
    );
    assert.deepEqual((await getJson(`${service.url}/v1/jobs`)).body.items, []);
  };

  const refusals: [string, unknown, number, string][] = [
    [
      'an unknown layer',
      { ...smallMnistJob(), model: { layers: [{ type: 'denze', units: 10, inputShape: [784] }] } },
      400,
      '/model/layers/0/type',
    ],
    [
      'negative units',
      { ...smallMnistJob(), model: { layers: [{ type: 'dense', units: -5, inputShape: [784] }] } },
      400,
      '/model/layers/0/units',
    ],
    [
      'a bad activation',
      { ...smallMnistJob(), model: { layers: [{ type: 'dense', units: 10, activation: 'relu7', inputShape: [784] }] } },
      400,
      '/model/layers/0/activation',
    ],
    [
      'an inputShape that does not match the data',
      {
        ...smallMnistJob(),
        model: { layers: [{ type: 'dense', units: 10, activation: 'softmax', inputShape: [28, 28] }] },
      },
      422,
      '/model/layers/0/inputShape',
    ],
    [
      'a last layer narrower than the labels',
      {
        ...smallMnistJob(),
        model: { layers: [{ type: 'dense', units: 8, activation: 'softmax', inputShape: [784] }] },
      },
      422,
      '/model/layers/0/units',
    ],
    [
      'an unknown dataset',
      { ...smallMnistJob(), data: { ...smallMnistJob().data, dataset: 'cifar1000' } },
      422,
      '/data/dataset',
    ],
    [
      'a reshape that does not fit the samples',
      { ...smallMnistJob(), data: { ...smallMnistJob().data, inputs: { reshape: [780] } } },
      422,
      '/data/inputs/reshape',
    ],
    [
      'oneHot narrower than the classes',
      { ...smallMnistJob(), data: { ...smallMnistJob().data, labels: { oneHot: 5 } } },
      422,
      '/data/labels/oneHot',
    ],
    [
      'an unknown loss',
      { ...smallMnistJob(), compile: { optimizer: 'adam', loss: 'crossentropy9' } },
      400,
      '/compile/loss',
    ],
    ['a string in place of a number', { ...smallMnistJob(), fit: { epochs: '5', batchSize: 32 } }, 400, '/fit/epochs'],
    ['an unknown field', { ...smallMnistJob(), epochz: 3 }, 400, '/epochz'],
    ['a missing model', { ...smallMnistJob(), model: undefined }, 400, '/model'],
    [
      'a ragged inline array',
      {
        ...smallMnistJob(),
        data: { x: [[1, 2], [3]], y: [0, 1] },
        model: { layers: [{ type: 'dense', units: 1 }] },
        compile: { optimizer: 'sgd', loss: 'mse' },
        evaluate: false,
      },
      400,
      '/data/x/1',
    ],
    [
      'evaluate without test data',
      {
        ...smallMnistJob(),
        data: {
          x: [
            [1, 2],
            [3, 4],
          ],
          y: [0, 1],
        },
        model: { layers: [{ type: 'dense', units: 1 }] },
        compile: { optimizer: 'sgd', loss: 'mse' },
        evaluate: true,
      },
      422,
      '/evaluate',
    ],
  ];
  for (const [what, body, status, path] of refusals) {
    test(`${what} is a ${status} naming ${path}, and nothing is queued`, async () => {
      const response = await postJson(`${service.url}/v1/jobs`, body);
      assert.equal(response.status, status, JSON.stringify(response.body));
      assert.equal(response.headers.get('content-type'), 'application/problem+json; charset=utf-8');
      assert.equal(response.body.status, status);
      assert.ok(
        response.body.errors.some((e: { path: string }) => e.path === path),
        JSON.stringify(response.body.errors),
      );
      await nothingQueued();
    });
  }

  test('malformed JSON is a 400 problem, and nothing is queued', async () => {
    const response = await fetch(`${service.url}/v1/jobs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"model": ',
    });
    assert.equal(response.status, 400);
    assert.equal(((await response.json()) as { code: string }).code, 'malformed_json');
    await nothingQueued();
  });

  test('an oversized body is a 413 problem, and nothing is queued', async () => {
    const body = {
      ...smallMnistJob(),
      data: { x: Array.from({ length: 20_000 }, () => [1, 2, 3]), y: Array.from({ length: 20_000 }, () => 1) },
    };
    const response = await postJson(`${service.url}/v1/jobs`, body);
    assert.equal(response.status, 413);
    assert.match(response.body.detail, /BODY_LIMIT_BYTES/);
    await nothingQueued();
  });

  test('a prototype-pollution key is refused', async () => {
    const response = await fetch(`${service.url}/v1/jobs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"__proto__": {"polluted": true}, "model": {"layers": [{"type": "dense", "units": 1}]}}',
    });
    assert.equal(response.status, 400);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    await nothingQueued();
  });

  test('a valid job is accepted with 202, Location and the queued job; Keras spellings work', async () => {
    const job = smallMnistJob();
    const keras = {
      ...job,
      compile: { optimizer: 'rmsprop', loss: 'categorical_crossentropy', metrics: ['accuracy'] },
      fit: { epochs: 2, batch_size: 16 },
    };
    const response = await postJson(`${service.url}/v1/jobs`, keras);
    assert.equal(response.status, 202, JSON.stringify(response.body));
    assert.equal(response.headers.get('location'), `/v1/jobs/${response.body.id}`);
    assert.equal(response.body.status, 'queued');
    assert.equal(response.body.queuePosition, 1);
    assert.deepEqual(response.body.progress, { epoch: 0, epochs: 2 });
    assert.equal(response.body.summary.totalParams, 784 * 64 + 64 + 64 * 10 + 10);
    const fetched = await getJson(`${service.url}${response.headers.get('location')}`);
    assert.equal(fetched.body.request.fit.batchSize, 16);
    assert.equal(fetched.body.request.compile.loss, 'categorical_crossentropy');
    assert.equal(await service.app.services.queue().getJobCountByTypes('wait', 'prioritized'), 1);
  });

  test('jobs list newest first, filter by status and page with a cursor', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++)
      ids.push((await postJson(`${service.url}/v1/jobs`, { ...smallMnistJob(), name: `page-${i}` })).body.id);
    const first = await getJson(`${service.url}/v1/jobs?limit=2`);
    assert.deepEqual(
      first.body.items.map((j: { id: string }) => j.id),
      [ids[2], ids[1]],
    );
    assert.ok(first.body.nextCursor);
    const second = await getJson(`${service.url}/v1/jobs?limit=2&cursor=${first.body.nextCursor}`);
    assert.equal(second.body.items[0].id, ids[0]);
    const queued = await getJson(`${service.url}/v1/jobs?status=queued&limit=100`);
    assert.ok(queued.body.items.every((j: { status: string }) => j.status === 'queued'));
    assert.deepEqual((await getJson(`${service.url}/v1/jobs?status=completed`)).body.items, []);
    const positions = queued.body.items.map((j: { queuePosition: number }) => j.queuePosition);
    assert.deepEqual(
      positions,
      [...positions].sort((a, b) => b - a),
      'newest has the largest queue position',
    );
    assert.equal((await getJson(`${service.url}/v1/jobs?status=exploded`)).status, 400);
  });

  test('an unknown or malformed job id is a 404 problem', async () => {
    assert.equal((await getJson(`${service.url}/v1/jobs/01a218af-0000-7000-8000-000000000000`)).status, 404);
    assert.equal((await getJson(`${service.url}/v1/jobs/..%2F..%2Fetc`)).status, 404);
    assert.equal((await getJson(`${service.url}/v1/models/01a218af-0000-7000-8000-000000000000`)).status, 404);
  });

  test('the dry run returns the model summary without queuing', async () => {
    const before = await service.app.services.queue().getJobCountByTypes('wait', 'prioritized', 'delayed');
    const response = await postJson(`${service.url}/v1/models/validate`, smallMnistJob());
    assert.equal(response.status, 200);
    assert.deepEqual(
      response.body.summary.layers.map((l: { outputShape: unknown }) => l.outputShape),
      [
        [null, 64],
        [null, 10],
      ],
    );
    assert.equal(await service.app.services.queue().getJobCountByTypes('wait', 'prioritized', 'delayed'), before);
  });

  test('health and readiness report the backend', async () => {
    const health = await getJson(`${service.url}/healthz`);
    assert.equal(health.body.status, 'ok');
    assert.ok(['tensorflow', 'wasm', 'cpu'].includes(health.body.backend));
    const ready = await getJson(`${service.url}/readyz`);
    assert.equal(ready.status, 200);
    assert.equal(ready.body.redis, 'up');
    assert.equal((await fetch(`${service.url}/docs/`)).status, 200, 'Swagger UI');
    assert.equal((await getJson(`${service.url}/openapi.json`)).body.openapi, '3.1.0');
  });
});
