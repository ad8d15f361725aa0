import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { startWorker, type TrainingWorker } from '../workers/worker.ts';
import { binaryRows, csv } from './dataset-fixtures.ts';
import { apiAs, smallMnistJob, startService, testConfig, type TestService } from './helpers.ts';

const KEYS = {
  alice: 'alice-key-0123456789abcdef',
  bob: 'bob-key-0123456789abcdef00',
  carol: 'carol-key-0123456789abcdef',
};
const API_KEYS = Object.entries(KEYS)
  .map(([tenant, key]) => `${key}:${tenant}`)
  .join(',');
const quiet = { info() {}, warn() {}, error() {}, debug() {} } as unknown as Parameters<typeof startWorker>[1];

type Job = { id: string; status: string; startedAt: string; finishedAt: string; queuePosition: number | null };
const overlaps = (a: Job, b: Job) =>
  Date.parse(a.startedAt) < Date.parse(b.finishedAt) && Date.parse(b.startedAt) < Date.parse(a.finishedAt);

describe('queue quotas, fair share and running limits', () => {
  let service: TestService;
  let worker: TrainingWorker | undefined;
  after(async () => {
    await worker?.close();
    await service?.close();
  });

  test('a tenant over TENANT_MAX_QUEUED_JOBS gets a 429 with Retry-After and no job; other tenants still submit', async () => {
    const config = await testConfig({
      API_KEYS,
      TENANT_MAX_QUEUED_JOBS: '3',
      TENANT_MAX_RUNNING_JOBS: '1',
      WORKER_CONCURRENCY: '2',
    });
    service = await startService({ worker: false, config });
    const alice = apiAs(service.url, KEYS.alice);
    for (let i = 0; i < 3; i++)
      assert.equal((await alice.post('/v1/jobs', smallMnistJob({ name: `alice-${i + 1}` }))).status, 202);
    const refused = await alice.post('/v1/jobs', smallMnistJob({ name: 'alice-4' }));
    assert.equal(refused.status, 429, JSON.stringify(refused.body));
    assert.equal(refused.body.code, 'queue_quota');
    assert.match(refused.body.detail, /3 jobs queued \(TENANT_MAX_QUEUED_JOBS\)/);
    assert.ok(Number(refused.headers.get('retry-after')) > 0);
    assert.equal((await alice.get('/v1/jobs')).body.items.length, 3);
    const counts = await service.app.services.queue().getJobCounts();
    assert.equal(
      Object.values(counts).reduce((a, b) => a + b, 0),
      3,
      'BullMQ holds only the three accepted jobs',
    );
    assert.equal((await apiAs(service.url, KEYS.bob).post('/v1/jobs', smallMnistJob({ name: 'bob-1' }))).status, 202);
  });

  test("fair share: another tenant's first job waits behind one job of the busy tenant, not all of them", async () => {
    const positions: Record<string, number> = {};
    for (const key of [KEYS.alice, KEYS.bob]) {
      for (const job of (await apiAs(service.url, key).get('/v1/jobs')).body.items)
        positions[job.name] = job.queuePosition;
    }
    assert.deepEqual(positions, { 'alice-1': 1, 'bob-1': 2, 'alice-2': 3, 'alice-3': 4 });
  });

  test('workers start jobs in that order and never run more than TENANT_MAX_RUNNING_JOBS of one tenant at once', async () => {
    worker = await startWorker(service.config, quiet);
    const alice = apiAs(service.url, KEYS.alice);
    const bob = apiAs(service.url, KEYS.bob);
    const jobs: Record<string, Job> = {};
    for (const client of [alice, bob]) {
      for (const job of (await client.get('/v1/jobs')).body.items) jobs[job.name] = await client.waitFor(job.id);
    }
    for (const [name, job] of Object.entries(jobs)) assert.equal(job.status, 'completed', name);
    const start = (name: string) => Date.parse(jobs[name].startedAt);
    assert.ok(start('bob-1') < start('alice-2'), 'bob-1 started before alice-2');
    const aliceJobs = ['alice-1', 'alice-2', 'alice-3'].map((n) => jobs[n]);
    for (let i = 0; i < aliceJobs.length; i++) {
      for (let j = i + 1; j < aliceJobs.length; j++)
        assert.ok(!overlaps(aliceJobs[i], aliceJobs[j]), `alice's jobs ${i + 1} and ${j + 1} ran at the same time`);
    }
    assert.ok(
      overlaps(jobs['alice-1'], jobs['bob-1']) || overlaps(jobs['alice-2'], jobs['bob-1']),
      "bob's job ran beside one of alice's: the other slot was used",
    );
  });

  test('a job held back by the running limit stays queued, then runs when the tenant has room', async () => {
    const carol = apiAs(service.url, KEYS.carol);
    const first = (
      await carol.post(
        '/v1/jobs',
        smallMnistJob({ name: 'carol-1', fit: { epochs: 3, batchSize: 16, validationSplit: 0, shuffle: true } }),
      )
    ).body;
    const second = (await carol.post('/v1/jobs', smallMnistJob({ name: 'carol-2' }))).body;
    await carol.waitFor(first.id, ['running']);
    // Both worker slots are free for carol, but her second job must wait for the first.
    const whileFirstRuns = await carol.get(`/v1/jobs/${second.id}`);
    const firstNow = await carol.get(`/v1/jobs/${first.id}`);
    if (firstNow.body.status === 'running') assert.equal(whileFirstRuns.body.status, 'queued');
    const [a, b] = [await carol.waitFor(first.id), await carol.waitFor(second.id)];
    assert.equal(a.status, 'completed');
    assert.equal(b.status, 'completed');
    assert.ok(!overlaps(a, b), 'carol ran two jobs at once');
    assert.equal(b.attempts, 1, 'being held back spends no attempt');
  });
});

describe('storage quota', () => {
  let service: TestService;
  after(() => service?.close());

  test('uploads over TENANT_MAX_STORED_BYTES are a 403 naming the quota, and nothing is stored', async () => {
    service = await startService({ config: await testConfig({ API_KEYS, TENANT_MAX_STORED_BYTES: '1' }) });
    const alice = apiAs(service.url, KEYS.alice);
    const refused = await alice.post('/v1/datasets?label=label', csv(['a', 'b', 'label'], binaryRows(40)), {
      'content-type': 'text/csv',
    });
    assert.equal(refused.status, 403, JSON.stringify(refused.body));
    assert.equal(refused.body.code, 'storage_quota');
    assert.match(refused.body.detail, /TENANT_MAX_STORED_BYTES/);
    assert.deepEqual(
      (await alice.get('/v1/datasets')).body.items.map((d: { id: string }) => d.id),
      ['mnist'],
    );
    const onDisk = await readdir(path.join(service.config.DATA_DIR, 'datasets')).catch(() => []);
    assert.deepEqual(onDisk, [], 'no dataset files left behind');
  });

  test("a trained model is kept even over the quota; then the tenant's submissions and uploads are 403 until it deletes", async () => {
    const alice = apiAs(service.url, KEYS.alice);
    const submitted = await alice.post('/v1/jobs', smallMnistJob());
    assert.equal(submitted.status, 202);
    const done = await alice.waitFor(submitted.body.id);
    assert.equal(done.status, 'completed');
    const usage = await service.app.services.datasets.index.usage('alice');
    assert.equal(usage, (await alice.get(`/v1/models/${done.modelId}`)).body.bytes);

    const job = await alice.post('/v1/jobs', smallMnistJob());
    assert.equal(job.status, 403, JSON.stringify(job.body));
    assert.equal(job.body.code, 'storage_quota');
    assert.match(job.body.detail, new RegExp(`stores ${usage} bytes`));
    const upload = await alice.post('/v1/datasets?label=label', csv(['a', 'b', 'label'], binaryRows(10)), {
      'content-type': 'text/csv',
    });
    assert.equal(upload.status, 403);
    assert.equal((await alice.get('/v1/jobs')).body.items.length, 1, 'the refused job was not created');

    // Another tenant is not affected by alice's usage.
    assert.equal((await apiAs(service.url, KEYS.bob).post('/v1/models/validate', smallMnistJob())).status, 200);
    assert.equal((await alice.delete(`/v1/models/${done.modelId}`)).status, 204);
    assert.equal(await service.app.services.datasets.index.usage('alice'), 0);
    assert.equal((await alice.post('/v1/jobs', smallMnistJob())).status, 202);
  });
});

describe('rate limit', () => {
  let service: TestService;
  after(() => service?.close());

  test('over RATE_LIMIT_PER_MINUTE a tenant gets 429 with Retry-After; another tenant is not slowed', async () => {
    service = await startService({ worker: false, config: await testConfig({ API_KEYS, RATE_LIMIT_PER_MINUTE: '5' }) });
    const alice = apiAs(service.url, KEYS.alice);
    for (let i = 0; i < 5; i++) assert.equal((await alice.get('/v1/jobs')).status, 200, `request ${i + 1}`);
    const limited = await alice.get('/v1/jobs');
    assert.equal(limited.status, 429);
    assert.equal(limited.body.code, 'rate_limited');
    assert.match(limited.headers.get('content-type') ?? '', /application\/problem\+json/);
    assert.match(limited.body.detail, /tenant alice sent more than 5 requests in a minute/);
    const retryAfter = Number(limited.headers.get('retry-after'));
    assert.ok(retryAfter >= 1 && retryAfter <= 60, `Retry-After ${retryAfter}`);
    assert.equal((await apiAs(service.url, KEYS.bob).get('/v1/jobs')).status, 200);
    assert.equal((await fetch(`${service.url}/healthz`)).status, 200, 'health is not rate limited');
    // The budget is in Redis: a second API process on the same Redis sees it spent.
    const { buildApp } = await import('../src/app.ts');
    const second = await buildApp(service.config, { logger: false });
    try {
      const response = await second.inject({
        method: 'GET',
        url: '/v1/jobs',
        headers: { authorization: `Bearer ${KEYS.alice}` },
      });
      assert.equal(response.statusCode, 429);
    } finally {
      await second.close();
    }
  });
});

describe('open event streams', () => {
  let service: TestService;
  after(() => service?.close());

  test('a tenant may hold TENANT_MAX_STREAMS streams open; one more is a 429 until one closes', async () => {
    service = await startService({ worker: false, config: await testConfig({ API_KEYS, TENANT_MAX_STREAMS: '2' }) });
    const alice = apiAs(service.url, KEYS.alice);
    const job = (await alice.post('/v1/jobs', smallMnistJob())).body;
    const open = async (key: string) => {
      const controller = new AbortController();
      const response = await fetch(`${service.url}/v1/jobs/${job.id}/events`, {
        headers: { authorization: `Bearer ${key}`, accept: 'text/event-stream' },
        signal: controller.signal,
      });
      if (response.status === 200) await response.body!.getReader().read(); // the stream is really open
      const body: any = response.status === 200 ? null : await response.json();
      return { status: response.status, body, close: () => controller.abort() };
    };
    const first = await open(KEYS.alice);
    const second = await open(KEYS.alice);
    assert.deepEqual([first.status, second.status], [200, 200]);
    const third = await open(KEYS.alice);
    assert.equal(third.status, 429);
    assert.equal(third.body.code, 'too_many_streams');
    first.close();
    let again = await open(KEYS.alice);
    for (let i = 0; i < 50 && again.status === 429; i++) {
      await new Promise((r) => setTimeout(r, 100));
      again = await open(KEYS.alice);
    }
    assert.equal(again.status, 200, 'a closed stream gives its place back');
    second.close();
    again.close();
  });
});
