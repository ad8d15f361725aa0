import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { ParentGoneError } from '../src/jobs/job-store.ts';
import { jobHolder } from '../src/storage/model-store.ts';
import { startWorker, type TrainingWorker } from '../workers/worker.ts';
import { apiAs, smallMnistJob, startService, testConfig, type TestService } from './helpers.ts';

const ALICE = 'alice-key-0123456789abcdef';

/**
 * A stored model a queued or running fine-tuning job starts from cannot be deleted: the job
 * pins it at submit (job-create.lua) and lets go when it ends, however it ends
 * (job-transition.lua), or when its submission is undone (JobStore.remove). The API runs
 * without a worker, so submitted jobs stay queued until a test starts one.
 */
describe('a fine-tuning job pins its parent model', () => {
  let service: TestService;
  let alice: ReturnType<typeof apiAs>;
  let worker: TrainingWorker | undefined;
  let parentId: string;

  const child = async () => {
    const submitted = await alice.post('/v1/jobs', {
      model: { from: parentId },
      compile: smallMnistJob().compile,
      data: { ...smallMnistJob().data, limit: { train: 64, test: 32 } },
      fit: { epochs: 1, batchSize: 32, validationSplit: 0, shuffle: true },
    });
    assert.equal(submitted.status, 202, JSON.stringify(submitted.body));
    return submitted.body.id as string;
  };
  const holders = () => service.app.services.redis.smembers(service.app.services.jobs.keys.modelHolds(parentId));

  before(async () => {
    service = await startService({ worker: false, config: await testConfig({ API_KEYS: `${ALICE}:alice` }) });
    alice = apiAs(service.url, ALICE);
    // The parent is trained by a worker that then stops, so the children below stay queued.
    worker = await startWorker(service.config);
    const submitted = await alice.post('/v1/jobs', smallMnistJob({ name: 'parent' }));
    const parent = await alice.waitFor(submitted.body.id);
    assert.equal(parent.status, 'completed', JSON.stringify(parent.error));
    parentId = parent.modelId;
    await worker.close();
    worker = undefined;
  });
  after(async () => {
    await worker?.close();
    await service?.close();
  });

  test('deleting the parent of a queued job is a 409 naming the job, until the job is cancelled', async () => {
    const [first, second] = [await child(), await child()];
    assert.deepEqual((await holders()).sort(), [jobHolder(first), jobHolder(second)].sort());

    const refused = await alice.delete(`/v1/models/${parentId}`);
    assert.equal(refused.status, 409, JSON.stringify(refused.body));
    assert.equal(refused.body.code, 'model_in_use');
    for (const id of [first, second]) assert.match(refused.body.detail, new RegExp(id));
    assert.equal((await alice.get(`/v1/models/${parentId}`)).status, 200, 'nothing was deleted');

    assert.equal((await alice.post(`/v1/jobs/${first}/cancel`)).status, 200);
    const still = await alice.delete(`/v1/models/${parentId}`);
    assert.equal(still.status, 409, 'the second job still holds it');
    assert.doesNotMatch(still.body.detail, new RegExp(first), 'a cancelled job is no longer named');
    assert.match(still.body.detail, new RegExp(second));

    assert.equal((await alice.post(`/v1/jobs/${second}/cancel`)).status, 200);
    assert.deepEqual(await holders(), []);
    assert.equal((await alice.delete(`/v1/models/${parentId}`)).status, 204);

    const late = await alice.post('/v1/jobs', { ...smallMnistJob(), model: { from: parentId } });
    assert.equal(late.status, 422, JSON.stringify(late.body));
    assert.equal(late.body.code, 'unknown_model');
  });

  test('a job that completes or fails lets go of its parent; so does a submission undone', async () => {
    // A parent of its own (the first test deleted its), trained by a worker that stays.
    worker = await startWorker(service.config);
    const submitted = await alice.post('/v1/jobs', smallMnistJob({ name: 'parent-2' }));
    parentId = (await alice.waitFor(submitted.body.id)).modelId;
    const completed = await alice.waitFor(await child());
    assert.equal(completed.status, 'completed', JSON.stringify(completed.error));
    assert.deepEqual(await holders(), [], 'a completed job holds nothing');

    const { jobs } = service.app.services;
    const input = { tenant: 'alice', request: {}, epochs: 1, summary: undefined, parentModelId: parentId };
    // Straight to the store: a job that fails (here before it starts, as a worker fails a job it cannot run).
    const failing = await jobs.create(input);
    assert.ok(typeof failing === 'object');
    const failingId = failing.record.id;
    assert.deepEqual(await holders(), [jobHolder(failingId)]);
    assert.ok(await jobs.transition(failingId, ['queued'], 'failed', { error: { code: 'x', message: 'x' } }));
    assert.deepEqual(await holders(), [], 'a failed job holds nothing');

    // A submission that could not be queued is removed, its pin with it.
    const undone = await jobs.create(input);
    assert.ok(typeof undone === 'object');
    await jobs.remove(undone.record.id);
    assert.deepEqual(await holders(), [], 'a removed job holds nothing');

    assert.equal((await alice.delete(`/v1/models/${parentId}`)).status, 204);
    // The check and the pin are one step: a job cannot pin a model deleted meanwhile.
    await assert.rejects(jobs.create({ ...input, parentModelId: randomUUID() }), ParentGoneError);
    await assert.rejects(jobs.create(input), ParentGoneError);
  });
});
