import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { resolveParent } from '../src/jobs/model-parent.ts';
import { planJob } from '../src/training/plan.ts';
import { apiAs, readEvents, smallMnistJob, startService, testConfig, type TestService } from './helpers.ts';

const ALICE = 'alice-key-0123456789abcdef';
const BOB = 'bob-key-0123456789abcdef00';

/** The same test split for every model here, so accuracies compare. */
const TEST_ROWS = 256;
/** The tiny data a child and a fresh model train on for one epoch. */
const tinyData = { ...smallMnistJob().data, limit: { train: 64, test: TEST_ROWS } };
const tinyLearningRate = {
  optimizer: { type: 'sgd', learningRate: 1e-4 },
  loss: 'categoricalCrossentropy',
  metrics: ['accuracy'],
};
const oneEpoch = { epochs: 1, batchSize: 32, validationSplit: 0, shuffle: true };

/**
 * Fine-tuning against the real service: a job's model starts from a stored or registered
 * model (`model.from`), keeps its weights, pops and adds layers, freezes some, and the stored
 * model records its parent.
 */
describe('fine-tuning', () => {
  let service: TestService;
  let alice: ReturnType<typeof apiAs>;
  let bob: ReturnType<typeof apiAs>;
  let parent: any;

  const weightsOf = async (modelId: string) => {
    const model = await tf.loadLayersModel(service.app.services.models.reader(modelId));
    const byLayer = Object.fromEntries(model.layers.map((l) => [l.name, l.getWeights().map((w) => w.dataSync())]));
    model.dispose();
    return byLayer;
  };
  const run = async (body: unknown) => {
    const submitted = await alice.post('/v1/jobs', body);
    assert.equal(submitted.status, 202, JSON.stringify(submitted.body));
    const job = await alice.waitFor(submitted.body.id);
    assert.equal(job.status, 'completed', JSON.stringify(job.error));
    return job;
  };

  before(async () => {
    service = await startService({ config: await testConfig({ API_KEYS: `${ALICE}:alice,${BOB}:bob` }) });
    alice = apiAs(service.url, ALICE);
    bob = apiAs(service.url, BOB);
    parent = await run(
      smallMnistJob({
        name: 'parent',
        data: { ...smallMnistJob().data, limit: { train: 2048, test: TEST_ROWS } },
        fit: { epochs: 3, batchSize: 32, validationSplit: 0, shuffle: true },
        register: { name: 'digits', aliases: ['production'] },
      }),
    );
    assert.ok(parent.evaluation.acc > 0.8, `the parent learned: ${JSON.stringify(parent.evaluation)}`);
  });
  after(() => service?.close());

  test("one epoch at a tiny learning rate keeps the parent's accuracy; the same epoch from scratch does not", async () => {
    const [child, fresh] = await Promise.all([
      run({
        model: { from: parent.modelId },
        compile: tinyLearningRate,
        data: tinyData,
        fit: oneEpoch,
        evaluate: true,
      }),
      run({ ...smallMnistJob(), compile: tinyLearningRate, data: tinyData, fit: oneEpoch }),
    ]);
    const [p, c, f] = [parent, child, fresh].map((j) => j.evaluation.acc as number);
    assert.ok(Math.abs(c - p) < 0.05, `child ${c} is within a few points of its parent ${p}`);
    assert.ok(c > f + 0.3 && f < 0.4, `the child ${c} beats the fresh model ${f}, near chance`);
    const stored = (await alice.get(`/v1/models/${child.modelId}`)).body;
    assert.deepEqual(stored.parent, { modelId: parent.modelId });
  });

  test('registry:<name>@<alias> resolves at submit; frozen layers stay bit-identical, the rest train', async () => {
    const job = await run({
      model: { from: 'registry:digits@production', freeze: ['dense_1'] },
      compile: { optimizer: 'adam', loss: 'categoricalCrossentropy', metrics: ['accuracy'] },
      data: tinyData,
      fit: oneEpoch,
    });
    assert.equal(job.request.model.from, parent.modelId, 'the queued job names the model id the alias meant');
    const stored = (await alice.get(`/v1/models/${job.modelId}`)).body;
    assert.deepEqual(stored.parent, { modelId: parent.modelId, name: 'digits', version: 1 });
    assert.deepEqual(
      stored.summary.layers.map((l: any) => [l.name, l.trainable]),
      [
        ['dense_1', false],
        ['dense_2', true],
      ],
    );
    const [before, after] = await Promise.all([weightsOf(parent.modelId), weightsOf(job.modelId)]);
    for (const [i, w] of before.dense_1.entries()) assert.deepEqual(after.dense_1[i], w, `dense_1 weight ${i}`);
    assert.notDeepEqual(after.dense_2[0], before.dense_2[0], 'the unfrozen head trained');
  });

  test('pop and add replace the head: a 10-class parent becomes a 2-class model', async () => {
    // Inline digits-shaped rows with two classes; the parent's input transforms (scale 1/255) are inherited.
    const x = Array.from({ length: 32 }, (_, n) =>
      Array.from({ length: 784 }, (_, i) => ((i * 7 + n * 13) % 256) * (n % 2)),
    );
    const y = Array.from({ length: 32 }, (_, n) => n % 2);
    const job = await run({
      model: {
        from: parent.modelId,
        pop: 1,
        add: [{ type: 'dense', units: 2, activation: 'softmax' }],
        freeze: ['dense_1'],
      },
      compile: { optimizer: 'adam', loss: 'categoricalCrossentropy', metrics: ['accuracy'] },
      data: { x, y, labels: { oneHot: 2 } },
      fit: { epochs: 2, batchSize: 8, validationSplit: 0, shuffle: true },
    });
    const stored = (await alice.get(`/v1/models/${job.modelId}`)).body;
    assert.deepEqual(stored.summary.outputShape, [null, 2]);
    assert.deepEqual(
      stored.summary.layers.map((l: any) => l.name),
      ['dense_1', 'dense_3'],
      'the new head is named apart from the popped one',
    );
    assert.deepEqual(stored.transforms.inputs, parent.request.data.inputs, 'input transforms inherited');
    const [before, after] = await Promise.all([weightsOf(parent.modelId), weightsOf(job.modelId)]);
    assert.deepEqual(after.dense_1[0], before.dense_1[0], "the kept layer holds the parent's weights");
    const predicted = await alice.post(`/v1/models/${job.modelId}/predict`, { instances: x.slice(0, 2) });
    assert.equal(predicted.status, 200, JSON.stringify(predicted.body));
    assert.equal(predicted.body.predictions[0].length, 2);
  });

  test('a fine-tuning job that yields mid-run resumes from its checkpoint into the same combined model', async () => {
    const submitted = await alice.post('/v1/jobs', {
      model: { from: parent.modelId, freeze: ['dense_1'] },
      compile: { optimizer: 'adam', loss: 'categoricalCrossentropy', metrics: ['accuracy'] },
      data: { ...smallMnistJob().data, limit: { train: 2048, test: TEST_ROWS } },
      fit: { epochs: 4, batchSize: 8, validationSplit: 0, shuffle: true },
    });
    assert.equal(submitted.status, 202, JSON.stringify(submitted.body));
    const id = submitted.body.id;
    // Asked to yield (as on worker shutdown) once the first epoch's checkpoint is written: it stops at the next batch.
    await readEvents(`${service.url}/v1/jobs/${id}/events`, {
      headers: alice.headers,
      stopAfter: (e) => e.event === 'epoch' && e.data.epoch === 1,
    });
    await service.app.services.control.requestYield(id);
    const job = await alice.waitFor(id);
    assert.equal(job.status, 'completed', JSON.stringify(job.error));
    const { events } = await readEvents(`${service.url}/v1/jobs/${id}/events`, { headers: alice.headers });
    assert.deepEqual(
      events.filter((e) => e.event === 'status').map((e) => e.data.status),
      ['queued', 'running', 'queued', 'running', 'completed'],
      'the job went back to the queue and ran again',
    );
    assert.deepEqual(
      events.filter((e) => e.event === 'epoch').map((e) => e.data.epoch),
      [1, 2, 3, 4],
    );
    const [before, after] = await Promise.all([weightsOf(parent.modelId), weightsOf(job.modelId)]);
    for (const [i, w] of before.dense_1.entries()) assert.deepEqual(after.dense_1[i], w, `dense_1 weight ${i}`);
  });

  test("inherited input transforms keep the parent's statistics; the job's own inputs replace them", async () => {
    const stored = await resolveParent(service.app.services, parent.modelId, { id: 'alice', admin: false });
    const statistics = { mean: new Array(784).fill(3), std: new Array(784).fill(2) };
    const standardized = {
      ...stored,
      transforms: { ...stored.transforms, inputs: { reshape: [784], standardize: true }, statistics },
    };
    const { inputs: _own, ...noInputs } = tinyData;
    const request = { model: { from: parent.modelId }, compile: smallMnistJob().compile, data: noInputs };
    const inherited = planJob(request, {}, undefined, standardized);
    assert.deepEqual(inherited.transforms.inputs, { reshape: [784], standardize: true });
    assert.deepEqual(inherited.transforms.statistics, statistics);
    const own = planJob({ ...request, data: tinyData }, {}, undefined, standardized);
    assert.deepEqual(own.transforms.inputs, tinyData.inputs);
    assert.equal(own.transforms.statistics, undefined);
  });

  test('errors name the field', async () => {
    const validate = (model: unknown, data: unknown = tinyData, as = alice) =>
      as.post('/v1/models/validate', { model, compile: smallMnistJob().compile, data, fit: oneEpoch });
    const expect = async (answer: Promise<any>, status: number, path: RegExp, what: string) => {
      const { status: got, body } = await answer;
      assert.equal(got, status, `${what}: ${JSON.stringify(body)}`);
      assert.ok(
        body.errors?.some((e: any) => path.test(e.path)),
        `${what}: ${JSON.stringify(body.errors)}`,
      );
    };
    const from = parent.modelId;
    await expect(validate({ from, freeze: ['nope'] }), 400, /^\/model\/freeze\/0$/, 'unknown layer to freeze');
    await expect(validate({ from, pop: 2 }), 400, /^\/model\/pop$/, 'popping every layer');
    await expect(
      validate({ from, layers: [{ type: 'dense', units: 1 }] }),
      400,
      /^\/model\/layers$/,
      'from and layers',
    );
    await expect(
      validate({ from, add: [{ type: 'reshape', targetShape: [3, 5] }] }),
      422,
      /^\/model\/add\/0/,
      'an added layer that cannot take the input',
    );
    await expect(
      validate({ from, add: [{ type: 'dense', units: 3, name: 'dense_1' }] }),
      400,
      /^\/model\/add\/0\/name$/,
      "an added layer reusing a parent's name",
    );
    await expect(
      validate({ from }, { ...tinyData, inputs: { reshape: [28, 28], scale: 1 / 255 } }),
      422,
      /^\/data\/inputs$/,
      "data not of the parent's input shape",
    );
    await expect(validate({ from: '0190a5b4-0000-7000-8000-000000000000' }), 422, /^\/model\/from$/, 'unknown id');
    await expect(validate({ from: 'registry:no-such-name@production' }), 422, /^\/model\/from$/, 'unknown name');
    await expect(validate({ from: 'registry:digits@staging' }), 422, /^\/model\/from$/, 'unknown alias');
    await expect(validate({ from: 'registry:digits@7' }), 422, /^\/model\/from$/, 'unknown version');
    await expect(validate({ from }, tinyData, bob), 422, /^\/model\/from$/, "another tenant's model");
    await expect(
      validate({ from: 'registry:digits@1' }, tinyData, bob),
      422,
      /^\/model\/from$/,
      "another tenant's name",
    );
    assert.equal((await validate({ from: 'registry:digits@1' })).status, 200, 'a version number resolves');
  });
});
