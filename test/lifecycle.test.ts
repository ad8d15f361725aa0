import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import { configToEnv } from '../src/config.ts';
import {
  cleanup,
  getJson,
  postJson,
  readEvents,
  slowJob,
  smallMnistJob,
  startService,
  testConfig,
  waitForJob,
} from './helpers.ts';
import { freePort, spawnWorker, trainingChildren } from './processes.ts';

describe('job lifecycle', () => {
  test('finished jobs and their streams expire after JOB_RETENTION_SECONDS; models stay', async () => {
    const service = await startService({ config: await testConfig({ JOB_RETENTION_SECONDS: '1' }) });
    try {
      const submitted = await postJson(`${service.url}/v1/jobs`, smallMnistJob());
      const job = await waitForJob(service.url, submitted.body.id);
      assert.equal(job.status, 'completed');
      // Waits for time itself: the record and stream expire by their Redis TTL, one second after the job ended.
      await new Promise((r) => setTimeout(r, 2_200));
      assert.equal((await getJson(`${service.url}/v1/jobs/${job.id}`)).status, 404);
      assert.equal(
        (await fetch(`${service.url}/v1/jobs/${job.id}/events`, { headers: { accept: 'text/event-stream' } })).status,
        404,
      );
      assert.equal(await service.app.services.jobs.sweepExpired(), 1);
      assert.deepEqual((await getJson(`${service.url}/v1/jobs`)).body.items, []);
      assert.equal((await getJson(`${service.url}/v1/models/${job.modelId}`)).status, 200, 'models stay until deleted');
    } finally {
      await service.close();
    }
  });

  test('a crashed training process is retried with backoff and resumes from its checkpoint', async () => {
    const EPOCHS = 6;
    const service = await startService({ worker: false, config: await testConfig({ JOB_RETRY_DELAY_MS: '500' }) });
    const worker = spawnWorker(service.config);
    try {
      const submitted = await postJson(`${service.url}/v1/jobs`, slowJob(EPOCHS));
      await readEvents(`${service.url}/v1/jobs/${submitted.body.id}/events`, {
        stopAfter: (e) => e.event === 'epoch' && e.data.epoch === 2,
      });
      const children = trainingChildren(worker.child.pid!);
      assert.equal(children.length, 1, 'one training child');
      // Frozen first, so the test knows the crash lands mid-run: a stopped child writes nothing more.
      process.kill(children[0], 'SIGSTOP');
      const held = (await getJson(`${service.url}/v1/jobs/${submitted.body.id}`)).body;
      assert.equal(
        held.status,
        'running',
        `the job is still running when its child is killed (it had done ${held.progress?.epoch} of ${EPOCHS} epochs)`,
      );
      process.kill(children[0], 'SIGKILL');
      const job = await waitForJob(service.url, submitted.body.id, ['completed', 'failed'], 120_000);
      assert.equal(job.status, 'completed', JSON.stringify(job.error));
      assert.equal(job.attempts, 2);
      const { events } = await readEvents(`${service.url}/v1/jobs/${submitted.body.id}/events`);
      assert.deepEqual(
        events.filter((e) => e.event === 'epoch').map((e) => e.data.epoch),
        Array.from({ length: EPOCHS }, (_, i) => i + 1),
      );
      assert.deepEqual(
        events.filter((e) => e.event === 'status').map((e) => e.data.status),
        ['queued', 'running', 'queued', 'running', 'completed'],
      );
    } finally {
      worker.child.kill('SIGTERM');
      await worker.exited;
      await service.close();
    }
  });

  test('SIGTERM to the API ends open event streams cleanly and exits', async () => {
    const config = await testConfig({ PORT: String(await freePort()) });
    const api = spawn(
      process.execPath,
      ['--import', 'tsx', fileURLToPath(new URL('../src/server.ts', import.meta.url))],
      {
        env: { ...process.env, ...configToEnv(config) },
        stdio: 'ignore',
      },
    );
    const base = `http://127.0.0.1:${config.PORT}`;
    try {
      const healthy = () =>
        fetch(`${base}/healthz`).then(
          (r) => r.ok,
          () => false,
        );
      for (let i = 0; i < 100 && !(await healthy()); i++) await new Promise((r) => setTimeout(r, 100));
      assert.ok(await healthy(), 'the API process never answered /healthz');
      const submitted = await postJson(`${base}/v1/jobs`, smallMnistJob()); // no worker: stays queued
      let delivered!: () => void;
      const firstEvent = new Promise<void>((resolve) => (delivered = resolve));
      const stream = readEvents(`${base}/v1/jobs/${submitted.body.id}/events`, {
        timeoutMs: 20_000,
        onEvent: () => delivered(),
      });
      // The stream is open (it has sent the queued status) before the API is told to stop.
      await Promise.race([firstEvent, stream.then(() => assert.fail('the stream ended before its first event'))]);
      api.kill('SIGTERM');
      const { events } = await stream;
      assert.deepEqual(
        events.map((e) => e.data.status),
        ['queued'],
        'the stream ended after what it had',
      );
      const [code] = await once(api, 'exit');
      assert.equal(code, 0);
    } finally {
      api.kill('SIGKILL');
      await cleanup(config);
    }
  });
});
