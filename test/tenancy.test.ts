import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { csv, binaryRows } from './dataset-fixtures.ts';
import { apiAs, readEvents, smallMnistJob, startService, testConfig, type TestService } from './helpers.ts';

const ALICE = 'alice-key-0123456789abcdef';
const BOB = 'bob-key-0123456789abcdef00';
const ADMIN = 'admin-key-0123456789abcdef';

/**
 * Two tenants and an admin on one service: each tenant's jobs, event streams, models,
 * artifacts, predictions and datasets are invisible (404, as if missing) to the other, and
 * listings show only one's own; the admin sees everything.
 */
describe('tenant isolation', () => {
  let service: TestService;
  let alice: ReturnType<typeof apiAs>;
  let bob: ReturnType<typeof apiAs>;
  let admin: ReturnType<typeof apiAs>;
  let jobId: string;
  let modelId: string;
  let datasetId: string;

  before(async () => {
    service = await startService({
      config: await testConfig({ API_KEYS: `${ALICE}:alice,${BOB}:bob,${ADMIN}:ops:admin` }),
    });
    alice = apiAs(service.url, ALICE);
    bob = apiAs(service.url, BOB);
    admin = apiAs(service.url, ADMIN);
    const submitted = await alice.post('/v1/jobs', smallMnistJob());
    assert.equal(submitted.status, 202, JSON.stringify(submitted.body));
    assert.equal(submitted.body.tenant, 'alice');
    jobId = submitted.body.id;
    const done = await alice.waitFor(jobId);
    assert.equal(done.status, 'completed', JSON.stringify(done.error));
    modelId = done.modelId;
    const uploaded = await alice.post('/v1/datasets?label=label', csv(['a', 'b', 'label'], binaryRows(40)), {
      'content-type': 'text/csv',
    });
    assert.equal(uploaded.status, 201, JSON.stringify(uploaded.body));
    assert.equal(uploaded.body.tenant, 'alice');
    datasetId = uploaded.body.id;
  });
  after(() => service.close());

  const notFound = (response: { status: number; headers: Headers; body: any }, what: string) => {
    assert.equal(response.status, 404, `${what}: ${response.status} ${JSON.stringify(response.body)}`);
    assert.match(response.headers.get('content-type') ?? '', /application\/problem\+json/);
    assert.equal(response.body.code, 'not_found', what);
  };

  test('another tenant gets 404 for every route of a job, and its own list does not show it', async () => {
    notFound(await bob.get(`/v1/jobs/${jobId}`), 'GET job');
    notFound(await bob.get(`/v1/jobs/${jobId}/events`), 'SSE events');
    notFound(await bob.post(`/v1/jobs/${jobId}/cancel`, {}), 'cancel');
    assert.deepEqual((await bob.get('/v1/jobs')).body.items, []);
    assert.deepEqual((await bob.get('/v1/jobs?status=completed')).body.items, []);
    const own = await alice.get('/v1/jobs?status=completed');
    assert.deepEqual(
      own.body.items.map((j: { id: string }) => j.id),
      [jobId],
    );
  });

  test('the owner reads its event stream; the other tenant cannot, even with a Last-Event-ID', async () => {
    const { events } = await readEvents(`${service.url}/v1/jobs/${jobId}/events`, { headers: alice.headers });
    assert.deepEqual(
      events.filter((e) => e.event === 'epoch').map((e) => e.data.epoch),
      [1],
    );
    assert.equal(events.at(-1)?.event, 'end');
    const response = await fetch(`${service.url}/v1/jobs/${jobId}/events`, {
      headers: { ...bob.headers, accept: 'text/event-stream', 'last-event-id': events[0].id! },
    });
    assert.equal(response.status, 404);
    assert.doesNotMatch(await response.text(), /epoch/);
  });

  test("another tenant gets 404 for a model, its artifacts, predict and delete; the owner's model survives", async () => {
    notFound(await bob.get(`/v1/models/${modelId}`), 'GET model');
    notFound(await bob.get(`/v1/models/${modelId}/model.json`), 'model.json');
    notFound(await bob.get(`/v1/models/${modelId}/weights.bin`), 'weights.bin');
    notFound(await bob.post(`/v1/models/${modelId}/predict`, { instances: [new Array(784).fill(0)] }), 'predict');
    notFound(await bob.delete(`/v1/models/${modelId}`), 'DELETE model');
    assert.deepEqual((await bob.get('/v1/models')).body.items, []);

    assert.equal((await alice.get(`/v1/models/${modelId}`)).status, 200);
    const predicted = await alice.post(`/v1/models/${modelId}/predict`, { instances: [new Array(784).fill(0)] });
    assert.equal(predicted.status, 200, JSON.stringify(predicted.body));
    assert.equal(predicted.body.predictions[0].length, 10);
    // Predict checks the owner on the model the predictor has cached: still a 404 for bob now.
    notFound(
      await bob.post(`/v1/models/${modelId}/predict`, { instances: [new Array(784).fill(0)] }),
      'predict after load',
    );
  });

  test('artifacts go to their owner with their content types and Content-Disposition', async () => {
    const json = await alice.get(`/v1/models/${modelId}/model.json`);
    assert.equal(json.status, 200);
    assert.match(json.headers.get('content-type') ?? '', /^application\/json/);
    assert.equal(json.headers.get('content-disposition'), 'attachment; filename="model.json"');
    assert.ok(json.body.modelTopology);
    const weights = await fetch(`${service.url}/v1/models/${modelId}/weights.bin`, { headers: alice.headers });
    assert.equal(weights.headers.get('content-type'), 'application/octet-stream');
    assert.equal(weights.headers.get('content-disposition'), 'attachment; filename="weights.bin"');
    assert.ok((await weights.arrayBuffer()).byteLength > 0);
  });

  test("another tenant can neither see, delete nor train on a tenant's dataset", async () => {
    notFound(await bob.get(`/v1/datasets/${datasetId}`), 'GET dataset');
    notFound(await bob.delete(`/v1/datasets/${datasetId}`), 'DELETE dataset');
    const listed = (await bob.get('/v1/datasets')).body.items.map((d: { id: string }) => d.id);
    assert.deepEqual(listed, ['mnist'], 'bob sees only the built-in');
    const job = {
      model: { layers: [{ type: 'dense', units: 1, activation: 'sigmoid', inputShape: [2] }] },
      compile: { optimizer: 'adam', loss: 'binaryCrossentropy', metrics: ['accuracy'] },
      data: { dataset: datasetId },
      fit: { epochs: 1, batchSize: 8 },
    };
    for (const path of ['/v1/jobs', '/v1/models/validate']) {
      const refused = await bob.post(path, job);
      assert.equal(refused.status, 422, `${path}: ${JSON.stringify(refused.body)}`);
      assert.match(refused.body.detail, /unknown dataset/);
    }
    assert.deepEqual((await bob.get('/v1/jobs')).body.items, [], 'nothing was queued for bob');
    assert.equal((await alice.post('/v1/models/validate', job)).status, 200, 'the owner may train on it');
    assert.equal((await alice.get(`/v1/datasets/${datasetId}`)).status, 200);
  });

  test("an admin sees every tenant's jobs, models and datasets", async () => {
    assert.equal((await admin.get(`/v1/jobs/${jobId}`)).body.tenant, 'alice');
    assert.deepEqual(
      (await admin.get('/v1/jobs')).body.items.map((j: { id: string }) => j.id),
      [jobId],
    );
    assert.equal((await admin.get(`/v1/models/${modelId}`)).status, 200);
    assert.equal((await admin.get(`/v1/datasets/${datasetId}`)).status, 200);
    assert.ok((await admin.get('/v1/models')).body.items.some((m: { id: string }) => m.id === modelId));
  });

  test('a model deleted by its owner is gone for everyone, and its bytes leave the usage count', async () => {
    const usage = () => service.app.services.datasets.index.usage('alice');
    const before = await usage();
    const model = (await alice.get(`/v1/models/${modelId}`)).body;
    assert.equal((await alice.delete(`/v1/models/${modelId}`)).status, 204);
    assert.equal(await usage(), before - model.bytes);
    notFound(await admin.get(`/v1/models/${modelId}`), 'deleted model');
  });
});
