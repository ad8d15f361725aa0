import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  getJson,
  postJson,
  readEvents,
  slowJob,
  smallMnistJob,
  startService,
  waitForJob,
  type TestService,
} from './helpers.ts';

describe('job control', () => {
  let service: TestService;
  before(async () => {
    service = await startService();
  });
  after(() => service.close());

  test('a queued job leaves the queue at once; finished jobs cannot be cancelled', async () => {
    await service.worker!.worker.pause();
    try {
      const queued = await postJson(`${service.url}/v1/jobs`, smallMnistJob());
      const cancelled = await postJson(`${service.url}/v1/jobs/${queued.body.id}/cancel`, {});
      assert.equal(cancelled.status, 200, JSON.stringify(cancelled.body));
      assert.equal(cancelled.body.status, 'cancelled');
      assert.equal(await service.app.services.queue().getJob(queued.body.id), undefined, 'BullMQ no longer holds it');
      const again = await postJson(`${service.url}/v1/jobs/${queued.body.id}/cancel`, {});
      assert.equal(again.status, 409);
      const { events } = await readEvents(`${service.url}/v1/jobs/${queued.body.id}/events`);
      assert.deepEqual(
        events.map((e) => e.event),
        ['status', 'status', 'end'],
      );
      assert.deepEqual(events.at(-1)!.data, { status: 'cancelled' });
    } finally {
      service.worker!.worker.resume();
    }
    assert.equal(
      (await postJson(`${service.url}/v1/jobs/01a218af-0000-7000-8000-000000000000/cancel`, {})).status,
      404,
    );
  });

  test('a running job stops within a batch, ends cancelled with its history so far and no model', async () => {
    const submitted = await postJson(`${service.url}/v1/jobs`, slowJob(20));
    const { events: early } = await readEvents(`${service.url}/v1/jobs/${submitted.body.id}/events`, {
      stopAfter: (e) => e.event === 'epoch',
    });
    const asked = Date.now();
    const response = await postJson(`${service.url}/v1/jobs/${submitted.body.id}/cancel`, {});
    assert.equal(response.status, 202);
    const job = await waitForJob(service.url, submitted.body.id, ['cancelled', 'completed', 'failed'], 30_000);
    assert.equal(job.status, 'cancelled');
    console.log(`cancel latency (request sent -> job cancelled): ${Date.parse(job.finishedAt) - asked} ms`);
    assert.ok(
      job.history.loss.length >= 1 && job.history.loss.length < 20,
      `history of ${job.history.loss.length} epochs`,
    );
    assert.equal(job.modelId, null);
    assert.ok(early.some((e) => e.event === 'epoch'));
    const { events } = await readEvents(`${service.url}/v1/jobs/${submitted.body.id}/events`);
    assert.deepEqual(events.at(-1)!.data, { status: 'cancelled' });
    assert.equal(
      events.filter((e) => e.event === 'epoch').length,
      job.history.loss.length,
      'each finished epoch once, no partial one',
    );
    assert.equal((await postJson(`${service.url}/v1/jobs/${submitted.body.id}/cancel`, {})).status, 409);
  });

  test('a cancel may keep the partial model', async () => {
    const submitted = await postJson(`${service.url}/v1/jobs`, slowJob(20));
    await readEvents(`${service.url}/v1/jobs/${submitted.body.id}/events`, { stopAfter: (e) => e.event === 'epoch' });
    await postJson(`${service.url}/v1/jobs/${submitted.body.id}/cancel`, { keepModel: true });
    const job = await waitForJob(service.url, submitted.body.id, ['cancelled'], 30_000);
    assert.ok(job.modelId);
    assert.equal((await getJson(`${service.url}/v1/models/${job.modelId}`)).status, 200);
  });

  test('fit.maxDurationSeconds fails the job with code timeout, keeping the model when asked', async () => {
    const submitted = await postJson(
      `${service.url}/v1/jobs`,
      slowJob(100, { maxDurationSeconds: 2, saveModelOnTimeout: true }),
    );
    const job = await waitForJob(service.url, submitted.body.id, ['failed', 'completed'], 60_000);
    assert.equal(job.status, 'failed');
    assert.equal(job.error.code, 'timeout');
    assert.match(job.error.message, /maxDurationSeconds/);
    assert.ok(job.modelId, 'the model so far is kept');
    assert.equal(job.attempts, 1, 'a timeout is not retried');
  });
});
