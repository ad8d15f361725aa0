import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  getJson,
  postJson,
  readEvents,
  slowJob,
  startService,
  testConfig,
  waitForJob,
  type TestService,
} from './helpers.ts';
import { spawnWorker, startRedis } from './processes.ts';

const epochsOf = (events: { event: string; data: any }[]) =>
  events.filter((e) => e.event === 'epoch').map((e) => e.data.epoch);

/** Real worker processes killed, stopped and cut off from Redis; each asserts what the user sees. */
describe('faults', () => {
  let service: TestService;
  before(async () => {
    service = await startService({
      worker: false,
      config: await testConfig({ WORKER_LOCK_MS: '2000', WORKER_SHUTDOWN_GRACE_MS: '20000' }),
    });
  });
  after(() => service.close());

  test('kill -9 of the worker in epoch 3 of 6: another worker resumes from the checkpoint; each epoch once, one model', async () => {
    const first = spawnWorker(service.config);
    const submitted = await postJson(`${service.url}/v1/jobs`, slowJob(6));
    await readEvents(`${service.url}/v1/jobs/${submitted.body.id}/events`, {
      stopAfter: (e) => e.event === 'epoch' && e.data.epoch === 2,
    });
    first.child.kill('SIGKILL');
    await first.exited;
    const second = spawnWorker(service.config);
    try {
      const job = await waitForJob(service.url, submitted.body.id, ['completed', 'failed'], 120_000);
      assert.equal(job.status, 'completed', JSON.stringify(job.error));
      const { events } = await readEvents(`${service.url}/v1/jobs/${submitted.body.id}/events`);
      assert.deepEqual(epochsOf(events), [1, 2, 3, 4, 5, 6]);
      assert.equal(job.history.loss.length, 6);
      const statuses = events.filter((e) => e.event === 'status').map((e) => e.data.status);
      assert.deepEqual(
        [statuses[0], statuses[1], statuses.at(-1)],
        ['queued', 'running', 'completed'],
        `statuses ${statuses}`,
      );
      assert.ok(!statuses.includes('failed'));
      const models = (await getJson(`${service.url}/v1/models?limit=100`)).body.items.filter(
        (m: { jobId: string }) => m.jobId === job.id,
      );
      assert.equal(models.length, 1);
      assert.equal(models[0].id, job.modelId);
      assert.match(second.output(), /training job started/);
    } finally {
      second.child.kill('SIGTERM');
      await second.exited;
    }
  });

  test('SIGTERM: the worker hands its job back within the grace period and exits; the next worker resumes it', async () => {
    const first = spawnWorker(service.config);
    const submitted = await postJson(`${service.url}/v1/jobs`, slowJob(4));
    await readEvents(`${service.url}/v1/jobs/${submitted.body.id}/events`, {
      stopAfter: (e) => e.event === 'epoch' && e.data.epoch === 2,
    });
    first.child.kill('SIGTERM');
    assert.deepEqual(await first.exited, { code: 0, signal: null });
    const handedBack = (await getJson(`${service.url}/v1/jobs/${submitted.body.id}`)).body;
    assert.equal(handedBack.status, 'queued');
    assert.ok(handedBack.progress.epoch >= 2);
    const second = spawnWorker(service.config);
    try {
      const job = await waitForJob(service.url, submitted.body.id, ['completed', 'failed'], 120_000);
      assert.equal(job.status, 'completed', JSON.stringify(job.error));
      const { events } = await readEvents(`${service.url}/v1/jobs/${submitted.body.id}/events`);
      assert.deepEqual(epochsOf(events), [1, 2, 3, 4]);
      assert.deepEqual(
        events.filter((e) => e.event === 'status').map((e) => e.data.status),
        ['queued', 'running', 'queued', 'running', 'completed'],
      );
    } finally {
      second.child.kill('SIGTERM');
      await second.exited;
    }
  });

  test('kill -9 of a worker mid-sweep: another worker carries the sweep on; every trial runs once, each epoch once', async () => {
    const first = spawnWorker(service.config);
    const submitted = await postJson(`${service.url}/v1/sweeps`, {
      job: slowJob(4, { validationSplit: 0 }),
      parameters: { '/model/layers/0/units': { values: [8, 16, 24] } },
      strategy: { type: 'grid' },
      objective: { metric: 'loss', goal: 'min' },
      maxTrials: 3,
      parallelism: 2,
    });
    assert.equal(submitted.status, 202, JSON.stringify(submitted.body));
    const id = submitted.body.id;
    await readEvents(`${service.url}/v1/sweeps/${id}/events`, {
      stopAfter: (e) => e.event === 'epoch' && e.data.epoch === 2,
    });
    first.child.kill('SIGKILL');
    await first.exited;
    const second = spawnWorker(service.config);
    try {
      let sweep: any;
      for (let i = 0; i < 1200; i++) {
        sweep = (await getJson(`${service.url}/v1/sweeps/${id}`)).body;
        if (['completed', 'failed', 'cancelled'].includes(sweep.status)) break;
        await new Promise((r) => setTimeout(r, 250));
      }
      assert.equal(sweep.status, 'completed', JSON.stringify(sweep.trials));
      assert.deepEqual(
        sweep.trials.map((t: any) => [t.index, t.status, t.epochs]),
        [
          [0, 'completed', 4],
          [1, 'completed', 4],
          [2, 'completed', 4],
        ],
      );
      // One job per trial, no more, each with its epochs once.
      const jobs = (await getJson(`${service.url}/v1/jobs?limit=100`)).body.items.filter(
        (j: any) => j.sweep?.id === id,
      );
      assert.deepEqual(jobs.map((j: any) => j.sweep.trial).sort(), [0, 1, 2]);
      const { events } = await readEvents(`${service.url}/v1/sweeps/${id}/events`);
      for (const trial of sweep.trials) {
        const { events: jobEvents } = await readEvents(`${service.url}/v1/jobs/${trial.jobId}/events`);
        assert.deepEqual(epochsOf(jobEvents), [1, 2, 3, 4], `trial ${trial.index}'s job`);
        assert.deepEqual(
          events.filter((e) => e.event === 'epoch' && e.data.index === trial.index).map((e) => e.data.epoch),
          [1, 2, 3, 4],
          `trial ${trial.index} in the sweep's stream`,
        );
      }
      assert.equal(events.filter((e) => e.event === 'end').length, 1);
    } finally {
      second.child.kill('SIGTERM');
      await second.exited;
    }
  });
});

describe('Redis outages', () => {
  test('submit while Redis is down is a 503 with Retry-After; after a restart nothing is lost and training goes on', async () => {
    const redis = await startRedis();
    const service = await startService({
      worker: false,
      config: await testConfig({ REDIS_URL: redis.url, WORKER_LOCK_MS: '3000' }),
    });
    const worker = spawnWorker(service.config);
    try {
      const running = await postJson(`${service.url}/v1/jobs`, slowJob(4));
      const waiting = await postJson(`${service.url}/v1/jobs`, { ...slowJob(1), name: 'queued-across-restart' });
      await readEvents(`${service.url}/v1/jobs/${running.body.id}/events`, { stopAfter: (e) => e.event === 'epoch' });

      await redis.stop();
      const refused = await postJson(`${service.url}/v1/jobs`, slowJob(1));
      assert.equal(refused.status, 503);
      assert.equal(refused.headers.get('retry-after'), '5');
      assert.equal((await getJson(`${service.url}/readyz`)).status, 503);

      await redis.start();
      const [a, b] = [
        await waitForJob(service.url, running.body.id, ['completed', 'failed'], 120_000),
        await waitForJob(service.url, waiting.body.id, ['completed', 'failed'], 120_000),
      ];
      assert.equal(a.status, 'completed', JSON.stringify(a.error));
      assert.equal(b.status, 'completed', JSON.stringify(b.error));
      assert.equal(a.history.loss.length, 4);
      const { events } = await readEvents(`${service.url}/v1/jobs/${running.body.id}/events`);
      assert.deepEqual(epochsOf(events), [1, 2, 3, 4]);
      assert.equal((await getJson(`${service.url}/readyz`)).status, 200);
      assert.equal((await postJson(`${service.url}/v1/jobs`, slowJob(1))).status, 202);
    } finally {
      worker.child.kill('SIGTERM');
      await worker.exited;
      await service.close();
      await redis.remove();
    }
  });
});
