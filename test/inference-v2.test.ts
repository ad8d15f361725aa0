import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { apiAs, smallMnistJob, startService, testConfig, type TestService } from './helpers.ts';

const ALICE = 'alice-key-0123456789abcdef';
const BOB = 'bob-key-0123456789abcdef00';

/** Three digits-shaped instances (784 pixel values). */
const INSTANCES = Array.from({ length: 3 }, (_, n) => Array.from({ length: 784 }, (_, i) => (i * 37 + n * 101) % 256));

/** Outputs of the same model agree up to float32 rounding (a batched pass may sum in another order). */
function assertClose(actual: number[], expected: number[], what: string) {
  assert.equal(actual.length, expected.length, what);
  for (const [i, v] of actual.entries()) assert.ok(Math.abs(v - expected[i]) < 1e-5, `${what} [${i}]`);
}

/**
 * The Open Inference Protocol (KServe v2) on registered models, against the real service:
 * health, metadata, readiness, inference (flat and nested data, by name, version and alias),
 * its 400s naming fields, tenancy; and TF Serving's columnar form on v1 predict.
 */
describe('open inference protocol (v2)', () => {
  let service: TestService;
  let alice: ReturnType<typeof apiAs>;
  let bob: ReturnType<typeof apiAs>;
  /** v1's predictions of version 1 for INSTANCES, flat. */
  let expected: number[];

  before(async () => {
    service = await startService({ config: await testConfig({ API_KEYS: `${ALICE}:alice,${BOB}:bob` }) });
    alice = apiAs(service.url, ALICE);
    bob = apiAs(service.url, BOB);
    const submitted = await alice.post(
      '/v1/jobs',
      smallMnistJob({ name: 'v2-digits', register: { name: 'digits', aliases: ['production'] } }),
    );
    assert.equal(submitted.status, 202, JSON.stringify(submitted.body));
    const job = await alice.waitFor(submitted.body.id);
    assert.equal(job.status, 'completed', JSON.stringify(job.error));
    // Version 2: the same stored model, so the alias (version 1) and the latest (2) differ only in number.
    const added = await alice.post('/v1/registry/digits/versions', { modelId: job.modelId });
    assert.equal(added.status, 201, JSON.stringify(added.body));
    const v1 = await alice.post('/v1/registry/digits/versions/1/predict', { instances: INSTANCES });
    assert.equal(v1.status, 200, JSON.stringify(v1.body));
    expected = v1.body.predictions.flat();
  });
  after(() => service?.close());

  const problem = (response: { status: number; headers: Headers; body: any }, status: number, path: string) => {
    assert.equal(response.status, status, `${path}: ${response.status} ${JSON.stringify(response.body)}`);
    assert.match(response.headers.get('content-type') ?? '', /application\/problem\+json/, path);
    assert.ok(
      response.body.errors.some((e: { path: string }) => e.path === path),
      `${path} named in ${JSON.stringify(response.body)}`,
    );
  };

  const infer = (path: string, body: unknown) => alice.post(`/v2/models/${path}/infer`, body);
  const input = (data: unknown[], shape = [3, 784], extra: Record<string, unknown> = {}) => ({
    inputs: [{ name: 'input', shape, datatype: 'FP32', data, ...extra }],
  });

  test('health: live, and ready with the same checks as /readyz; no key needed', async () => {
    const anonymous = apiAs(service.url);
    const live = await anonymous.get('/v2/health/live');
    assert.equal(live.status, 200);
    assert.deepEqual(live.body, { live: true });
    const ready = await anonymous.get('/v2/health/ready');
    assert.equal(ready.status, 200);
    assert.deepEqual(ready.body, { ready: true });
    // The model routes are not open.
    assert.equal((await anonymous.get('/v2/models/digits')).status, 401);
  });

  test('metadata: versions, platform, and the input and output tensors from the stored model', async () => {
    const found = await alice.get('/v2/models/digits');
    assert.equal(found.status, 200, JSON.stringify(found.body));
    assert.deepEqual(found.body, {
      name: 'digits',
      versions: ['2', '1'],
      platform: 'tensorflowjs',
      // MNIST's raw instance is 28x28 (flat 784 is taken too: the same values per instance).
      inputs: [{ name: 'input', datatype: 'FP32', shape: [-1, 28, 28] }],
      outputs: [{ name: 'output', datatype: 'FP32', shape: [-1, 10] }],
    });
    const one = await alice.get('/v2/models/digits/versions/1');
    assert.equal(one.status, 200);
    assert.deepEqual(one.body.inputs, found.body.inputs);
    assert.equal((await alice.get('/v2/models/digits/versions/7')).status, 404);
    assert.equal((await alice.get('/v2/models/nothing-here')).status, 404);
  });

  test('ready: 200 for a version that exists (by name, version or alias), 404 otherwise', async () => {
    for (const path of ['digits', 'digits/versions/1', 'digits@production', 'digits%40production']) {
      const ready = await alice.get(`/v2/models/${path}/ready`);
      assert.equal(ready.status, 200, `${path}: ${JSON.stringify(ready.body)}`);
      assert.equal(ready.body.ready, true);
    }
    assert.deepEqual((await alice.get('/v2/models/digits/ready')).body, { name: 'digits', ready: true });
    for (const path of ['digits/versions/3', 'digits@staging', 'nothing-here'])
      assert.equal((await alice.get(`/v2/models/${path}/ready`)).status, 404, path);
  });

  test('infer: flat and nested data answer what v1 predict does, row-major, with the id echoed', async () => {
    const flat = await infer('digits', { id: 'req-1', ...input(INSTANCES.flat()) });
    assert.equal(flat.status, 200, JSON.stringify(flat.body));
    assert.equal(flat.body.model_name, 'digits');
    assert.equal(flat.body.model_version, '2');
    assert.equal(flat.body.id, 'req-1');
    assert.equal(flat.body.outputs.length, 1);
    const [output] = flat.body.outputs;
    assert.equal(output.name, 'output');
    assert.equal(output.datatype, 'FP32');
    assert.deepEqual(output.shape, [3, 10]);
    assertClose(output.data, expected, 'flat');

    const nested = await infer('digits', input(INSTANCES));
    assert.equal(nested.status, 200, JSON.stringify(nested.body));
    assert.equal(nested.body.id, undefined);
    assertClose(nested.body.outputs[0].data, expected, 'nested');

    // Images as 28x28: another shape with the same values per instance.
    const images = INSTANCES.map((row) => Array.from({ length: 28 }, (_, r) => row.slice(r * 28, r * 28 + 28)));
    const square = await infer('digits', input(images, [3, 28, 28]));
    assert.equal(square.status, 200, JSON.stringify(square.body));
    assertClose(square.body.outputs[0].data, expected, '28x28');

    const asked = await infer('digits', { ...input(INSTANCES.flat()), outputs: [{ name: 'output' }] });
    assert.equal(asked.status, 200, JSON.stringify(asked.body));
  });

  test('infer by version and by name@alias (plain or URL-encoded @)', async () => {
    for (const [path, version] of [
      ['digits/versions/1', '1'],
      ['digits@production', '1'],
      ['digits%40production', '1'],
      ['digits/versions/2', '2'],
    ]) {
      const answer = await infer(path, input(INSTANCES.flat()));
      assert.equal(answer.status, 200, `${path}: ${JSON.stringify(answer.body)}`);
      assert.equal(answer.body.model_version, version, path);
      assertClose(answer.body.outputs[0].data, expected, path);
    }
    assert.equal((await infer('digits@staging', input(INSTANCES.flat()))).status, 404);
    assert.equal((await infer('digits/versions/5', input(INSTANCES.flat()))).status, 404);
  });

  test('bad requests are 400s naming the field', async () => {
    const flat = INSTANCES.flat();
    problem(await infer('digits', input(flat.slice(1))), 400, '/inputs/0/data');
    problem(await infer('digits', input(flat, [3, 784], { datatype: 'INT32' })), 400, '/inputs/0/datatype');
    problem(await infer('digits', input(flat, [3, 784], { name: 'pixels' })), 400, '/inputs/0/name');
    problem(await infer('digits', input(flat, [6, 392])), 400, '/inputs/0/shape');
    problem(await infer('digits', input([])), 400, '/inputs/0/data');
    problem(await infer('digits', input([INSTANCES[0], INSTANCES[1].slice(1), INSTANCES[2]])), 400, '/inputs/0/data/1');
    problem(await infer('digits', input([...flat.slice(1), 'x'])), 400, '/inputs/0/data/2351');
    problem(await infer('digits', { ...input(flat), outputs: [{ name: 'probabilities' }] }), 400, '/outputs/0/name');
    problem(await infer('digits', { inputs: [...input(flat).inputs, ...input(flat).inputs] }), 400, '/inputs/1');
    problem(await infer('digits@production/versions/1', input(flat)), 400, '/name');
    problem(await infer('digits', { data: flat }), 400, '/inputs');
  });

  test("another tenant's registered name is a 404 on every route", async () => {
    for (const path of ['/v2/models/digits', '/v2/models/digits/ready', '/v2/models/digits@production/ready'])
      assert.equal((await bob.get(path)).status, 404, path);
    assert.equal((await bob.post('/v2/models/digits/infer', input(INSTANCES.flat()))).status, 404);
  });

  test("v1 predict takes TF Serving's columnar `inputs` and answers `outputs`", async () => {
    const columnar = await alice.post('/v1/registry/digits/versions/1/predict', { inputs: INSTANCES });
    assert.equal(columnar.status, 200, JSON.stringify(columnar.body));
    assert.equal(columnar.body.predictions, undefined);
    assertClose(columnar.body.outputs.flat(), expected, 'columnar');
    assert.equal(columnar.body.classes.length, 3);
    const rows = await alice.post('/v1/registry/digits/predict', { instances: INSTANCES });
    assert.equal(rows.body.outputs, undefined);
    assert.equal(rows.body.predictions.length, 3);
    problem(
      await alice.post('/v1/registry/digits/predict', { instances: INSTANCES, inputs: INSTANCES }),
      400,
      '/inputs',
    );
    problem(await alice.post('/v1/registry/digits/predict', {}), 400, '/instances');
  });
});
