import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startS3, type S3Server } from '../bench/s3-server.ts';
import { startWorker } from '../workers/worker.ts';
import { binaryRows, csv, upload } from './dataset-fixtures.ts';
import {
  getJson,
  postJson,
  readEvents,
  slowJob,
  smallMnistJob,
  startService,
  testConfig,
  waitForJob,
  type TestService,
} from './helpers.ts';

/**
 * The object store going away is an outage, not a crash: the API says so fast and stores
 * nothing, predict on a model it holds keeps answering, and workers wait for the store
 * without spending the job's attempts (JOB_ATTEMPTS=1: one spent attempt would fail it).
 */
const noop = () => undefined;
const silent = { info: noop, warn: noop, error: noop, debug: noop } as unknown as Parameters<typeof startWorker>[1];

let s3: S3Server;
let service: TestService;
let worker: Awaited<ReturnType<typeof startWorker>> | undefined;
before(async () => {
  s3 = await startS3();
  const env = s3.env('outage');
  Object.assign(process.env, env); // credentials for the SDK, here and in the training children
  service = await startService({ worker: false, config: await testConfig({ ...env, JOB_ATTEMPTS: '1' }) });
  worker = await startWorker(service.config, silent);
});
after(async () => {
  try {
    await worker?.close();
    await service.close();
  } finally {
    await s3.remove();
  }
});

const queueState = async (id: string) => (await service.app.services.queue().getJob(id))?.getState();

test('with the store away: /readyz and submissions say so (503, Retry-After), nothing is stored, cached predict answers, queued work waits', async () => {
  const { url } = service;
  const trained = await waitForJob(url, (await postJson(`${url}/v1/jobs`, smallMnistJob())).body.id);
  assert.equal(trained.status, 'completed', JSON.stringify(trained.error));
  const instances = [Array.from({ length: 784 }, (_, i) => (i % 7) * 30)];
  assert.equal((await postJson(`${url}/v1/models/${trained.modelId}/predict`, { instances })).status, 200);
  // A job queued while the store is up, for a worker that starts while it is away.
  await worker!.close();
  worker = undefined;
  const waiting = await postJson(`${url}/v1/jobs`, smallMnistJob({ name: 'waits-for-the-store' }));
  assert.equal(waiting.status, 202);

  await s3.stop();
  const ready = await getJson(`${url}/readyz`);
  assert.equal(ready.status, 503);
  assert.deepEqual([ready.body.storage, ready.body.redis], ['unreachable', 'up']);
  assert.equal(ready.body.storageUrl, `s3://${s3.bucket}/outage/`);
  assert.ok(ready.headers.get('retry-after'));
  // The inference protocol's readiness is the same check.
  const v2 = await getJson(`${url}/v2/health/ready`);
  assert.deepEqual([v2.status, v2.body], [503, { ready: false }]);

  // No client timeout is needed to get the answer: the request ends on its own, with 503.
  const refused = await fetch(`${url}/v1/jobs`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(smallMnistJob()),
    signal: AbortSignal.timeout(20_000),
  });
  const problem = (await refused.json()) as { code: string; detail: string };
  assert.equal(refused.status, 503);
  assert.equal(problem.code, 'storage_unavailable');
  assert.match(problem.detail, /s3:\/\/tts-test\//);
  assert.ok(Number(refused.headers.get('retry-after')) > 0);
  const uploaded = await upload(url, csv(['a', 'b', 'answer'], binaryRows(50)), 'text/csv');
  assert.equal(uploaded.status, 503, JSON.stringify(uploaded.body));
  const jobs = (await getJson(`${url}/v1/jobs`)).body.items.map((j: { id: string }) => j.id);
  assert.deepEqual(jobs.sort(), [trained.id, waiting.body.id].sort(), 'the refused submission left no job');
  const datasets = (await getJson(`${url}/v1/datasets`)).body.items.filter((d: { builtIn?: boolean }) => !d.builtIn);
  assert.deepEqual(datasets, [], 'the refused upload left no dataset');

  const predicted = await postJson(`${url}/v1/models/${trained.modelId}/predict`, { instances });
  assert.equal(predicted.status, 200, 'a model this API holds keeps answering');

  // A worker starts: the job it takes cannot read the store, so it goes back to wait.
  worker = await startWorker(service.config, silent);
  for (let i = 0; i < 600 && (await queueState(waiting.body.id)) !== 'delayed'; i++)
    await new Promise((r) => setTimeout(r, 50));
  assert.equal(await queueState(waiting.body.id), 'delayed');
  assert.equal((await getJson(`${url}/v1/jobs/${waiting.body.id}`)).body.status, 'queued');

  await s3.start();
  const done = await waitForJob(url, waiting.body.id, ['completed', 'failed'], 60_000);
  assert.equal(done.status, 'completed', JSON.stringify(done.error));
  assert.equal((await getJson(`${url}/readyz`)).status, 200);
});

test('the store going away mid-training: the job goes back to the queue and resumes from its checkpoint, every epoch once', async () => {
  const { url } = service;
  const EPOCHS = 6;
  const submitted = await postJson(`${url}/v1/jobs`, slowJob(EPOCHS));
  const id = submitted.body.id;
  await readEvents(`${url}/v1/jobs/${id}/events`, { stopAfter: (e) => e.event === 'epoch' && e.data.epoch === 2 });
  await s3.stop();
  // Its next checkpoint cannot be written: back to queued, waiting for the store.
  for (let i = 0; i < 600 && (await queueState(id)) !== 'delayed'; i++) await new Promise((r) => setTimeout(r, 50));
  assert.equal(await queueState(id), 'delayed');
  assert.equal((await getJson(`${url}/v1/jobs/${id}`)).body.status, 'queued');
  await s3.start();
  const done = await waitForJob(url, id, ['completed', 'failed'], 120_000);
  assert.equal(done.status, 'completed', JSON.stringify(done.error));
  const { events } = await readEvents(`${url}/v1/jobs/${id}/events`);
  assert.deepEqual(
    events.filter((e) => e.event === 'epoch').map((e) => e.data.epoch),
    Array.from({ length: EPOCHS }, (_, i) => i + 1),
  );
});
