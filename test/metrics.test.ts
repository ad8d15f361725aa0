import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { OTHER_TENANTS } from '../src/jobs/job-counts.ts';
import { JobStore } from '../src/jobs/job-store.ts';
import { apiAs, cleanup, smallMnistJob, startService, testConfig, type TestService } from './helpers.ts';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/**
 * Parses the Prometheus text format strictly enough to fail on anything malformed: every line
 * is a comment or a sample `name{labels} value`, and every sample belongs to a family that
 * has a `# TYPE` line before it (histogram samples by their _bucket/_sum/_count names).
 */
function parseExposition(text: string): Sample[] {
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('# HELP ')) continue;
    const type = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/.exec(line);
    if (type) {
      types.set(type[1], type[2]);
      continue;
    }
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(sample, `not a sample line: ${line}`);
    const [, name, labelText, value] = sample;
    const labels: Record<string, string> = {};
    for (const pair of labelText ? labelText.match(/[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*"/g)! : []) {
      const eq = pair.indexOf('=');
      labels[pair.slice(0, eq)] = pair.slice(eq + 2, -1);
    }
    const family = types.has(name) ? name : name.replace(/_(bucket|sum|count)$/, '');
    assert.ok(types.has(family), `${name} has no # TYPE line`);
    // The exposition format's floats: Go's ParseFloat, so NaN and ±Inf in any case (prom-client
    // writes `Nan` for a default metric with no samples yet, e.g. the event-loop lag just after start).
    const special: Record<string, number> = {
      nan: Number.NaN,
      '+inf': Number.POSITIVE_INFINITY,
      '-inf': Number.NEGATIVE_INFINITY,
    };
    const number = special[value.toLowerCase()] ?? Number(value);
    assert.ok(value.toLowerCase() === 'nan' || !Number.isNaN(number), `not a number: ${line}`);
    samples.push({ name, labels, value: number });
  }
  return samples;
}

const matches = (s: Sample, name: string, labels: Record<string, string>) =>
  s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v);

/** The one sample of `name` with these labels (among others); fails when there is none. */
function value(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  const found = samples.filter((s) => matches(s, name, labels));
  assert.equal(found.length, 1, `${name} ${JSON.stringify(labels)}: ${found.length} samples`);
  return found[0].value;
}

/** A histogram's series: buckets ascending and cumulative, +Inf equal to the count; answers count and sum. */
function histogram(samples: Sample[], name: string, labels: Record<string, string> = {}) {
  const buckets = samples.filter((s) => matches(s, `${name}_bucket`, labels));
  assert.ok(buckets.length > 1, `${name} ${JSON.stringify(labels)} has no buckets`);
  const bounds = buckets.map((b) => (b.labels.le === '+Inf' ? Number.POSITIVE_INFINITY : Number(b.labels.le)));
  for (let i = 1; i < buckets.length; i++) {
    assert.ok(bounds[i] > bounds[i - 1], `${name}: bucket bounds out of order`);
    assert.ok(buckets[i].value >= buckets[i - 1].value, `${name}: buckets not cumulative`);
  }
  assert.equal(buckets.at(-1)!.labels.le, '+Inf');
  const count = value(samples, `${name}_count`, labels);
  assert.equal(buckets.at(-1)!.value, count, `${name}: +Inf bucket != count`);
  return { count, sum: value(samples, `${name}_sum`, labels), buckets };
}

const digit = () => Array.from({ length: 784 }, (_, i) => (i * 7) % 256);

describe('GET /metrics without keys', () => {
  let service: TestService;
  let jobId: string;
  let modelId: string;

  before(async () => {
    service = await startService();
    // The processor returns only after runJob recorded the run's timings: this event follows them.
    const processed = once(service.worker!.worker, 'completed');
    const submitted = await apiAs(service.url).post('/v1/jobs', smallMnistJob());
    assert.equal(submitted.status, 202, JSON.stringify(submitted.body));
    jobId = submitted.body.id;
    await processed;
    const done = await apiAs(service.url).waitFor(jobId);
    assert.equal(done.status, 'completed');
    modelId = done.modelId;
  });
  after(() => service.close());

  const scrape = async () => {
    const response = await fetch(`${service.url}/metrics`);
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    const text = await response.text();
    return { text, samples: parseExposition(text) };
  };

  test('jobs by status and tenant, queue states, and the workers histograms recorded in Redis', async () => {
    const { samples } = await scrape();
    assert.equal(value(samples, 'tts_jobs', { status: 'completed', tenant: 'local' }), 1);
    assert.equal(value(samples, 'tts_jobs', { status: 'queued', tenant: 'local' }), 0);
    for (const state of ['waiting', 'active', 'delayed', 'failed'])
      assert.equal(value(samples, 'tts_queue_jobs', { state }), 0, state);

    const run = histogram(samples, 'tts_job_duration_seconds', { outcome: 'completed' });
    assert.equal(run.count, 1);
    assert.ok(run.sum > 0);
    const wait = histogram(samples, 'tts_job_queue_wait_seconds');
    assert.equal(wait.count, 1);
    assert.ok(wait.sum >= 0);
    const epochs = histogram(samples, 'tts_training_epoch_duration_seconds');
    assert.equal(epochs.count, smallMnistJob().fit!.epochs);
    // The observation sits in the first bucket whose bound is at least its value.
    const first = epochs.buckets.find((b) => b.value > 0)!;
    assert.ok(epochs.sum <= Number(first.labels.le), `${epochs.sum} s counted in le=${first.labels.le}`);
    const rate = histogram(samples, 'tts_training_samples_per_second');
    assert.equal(rate.count, 1);
    assert.ok(rate.sum > 0);
    // Process metrics, from prom-client's defaults.
    assert.ok(samples.some((s) => s.name === 'process_cpu_user_seconds_total'));
  });

  test('predict: route template as label, latency, batch size, cache misses then hits; no ids anywhere', async () => {
    const api = apiAs(service.url);
    const before = (await scrape()).samples;
    assert.equal(value(before, 'tts_model_cache_misses_total'), 0);
    assert.equal(value(before, 'tts_model_cache_bytes'), 0);

    const first = await api.post(`/v1/models/${modelId}/predict`, { instances: [digit(), digit()] });
    assert.equal(first.status, 200);
    let { samples } = await scrape();
    assert.equal(value(samples, 'tts_model_cache_misses_total'), 1);
    assert.equal(value(samples, 'tts_model_cache_hits_total'), 0);
    // 784×64 + 64 + 64×10 + 10 weights, 4 bytes each.
    assert.equal(value(samples, 'tts_model_cache_bytes'), (784 * 64 + 64 + 64 * 10 + 10) * 4);
    assert.equal(histogram(samples, 'tts_predict_duration_seconds', { outcome: 'ok' }).count, 1);
    const batch = histogram(samples, 'tts_predict_batch_instances');
    assert.deepEqual([batch.count, batch.sum], [1, 2]);

    assert.equal((await api.post(`/v1/models/${modelId}/predict`, { instances: [digit()] })).status, 200);
    assert.equal((await api.get('/no/such/route/here')).status, 404);
    const scraped = await scrape();
    samples = scraped.samples;
    assert.equal(value(samples, 'tts_model_cache_misses_total'), 1);
    assert.equal(value(samples, 'tts_model_cache_hits_total'), 1);
    assert.equal(histogram(samples, 'tts_predict_duration_seconds', { outcome: 'ok' }).count, 2);
    const predictRoute = { method: 'POST', route: '/v1/models/:id/predict', status_code: '200' };
    assert.equal(histogram(samples, 'http_request_duration_seconds', predictRoute).count, 2);
    assert.equal(
      histogram(samples, 'http_request_duration_seconds', { method: 'GET', route: 'unmatched', status_code: '404' })
        .count,
      1,
    );
    for (const id of [modelId, jobId]) assert.ok(!scraped.text.includes(id), `${id} appears in the metrics`);
    assert.ok(!scraped.text.includes('/no/such/route'));
  });
});

describe('GET /metrics and /admin/queues with keys', () => {
  const ADMIN = 'admin-key-0123456789abcdef';
  const USER = 'tenant-a-key-0123456789abcdef';
  const TOKEN = 'metrics-token-0123456789abcdef';
  let service: TestService;

  before(async () => {
    const config = await testConfig({ API_KEYS: `${ADMIN}:ops:admin,${USER}:tenant-a`, METRICS_TOKEN: TOKEN });
    service = await startService({ worker: false, config });
  });
  after(() => service.close());

  const get = (path: string, authorization?: string) =>
    fetch(`${service.url}${path}`, { headers: authorization ? { authorization } : {} });
  const basic = (password: string) => `Basic ${Buffer.from(`anyone:${password}`).toString('base64')}`;

  test('/metrics: an admin key or METRICS_TOKEN; 401 without, 403 for a tenant key', async () => {
    const none = await get('/metrics');
    assert.equal(none.status, 401);
    assert.equal(none.headers.get('www-authenticate'), 'Bearer realm="tts"');
    assert.equal((await get('/metrics', `Bearer ${USER}`)).status, 403);
    assert.equal((await get('/metrics', `Bearer ${TOKEN}x`)).status, 401);
    // Basic is for the board's page only.
    assert.equal((await get('/metrics', basic(ADMIN))).status, 401);
    const admin = await get('/metrics', `Bearer ${ADMIN}`);
    assert.equal(admin.status, 200);
    const samples = parseExposition(await admin.text());
    // Tenants with keys are named even before they have jobs, beside `local`.
    for (const tenant of ['ops', 'tenant-a', 'local'])
      assert.equal(value(samples, 'tts_jobs', { status: 'queued', tenant }), 0, tenant);
    assert.equal((await get('/metrics', `Bearer ${TOKEN}`)).status, 200);
  });

  test('/admin/queues: Basic or Bearer with an admin key; read-only', async () => {
    const none = await get('/admin/queues');
    assert.equal(none.status, 401);
    assert.equal(none.headers.get('www-authenticate'), 'Basic realm="tts admin"');
    assert.equal((await get('/admin/queues', basic(USER))).status, 403);
    assert.equal((await get('/admin/queues', basic(`${ADMIN}x`))).status, 401);
    // The metrics token is not an admin key.
    assert.equal((await get('/admin/queues', basic(TOKEN))).status, 401);
    const page = await get('/admin/queues', basic(ADMIN));
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type') ?? '', /text\/html/);
    assert.match(await page.text(), /<!DOCTYPE html>/i);

    const list = await get('/admin/queues/api/queues?activeQueue=training&page=1&jobsPerPage=10', `Bearer ${ADMIN}`);
    assert.equal(list.status, 200);
    const body = (await list.json()) as { queues: { name: string; readOnlyMode: boolean }[] };
    assert.deepEqual(
      body.queues.map((q) => [q.name, q.readOnlyMode]),
      [['training', true]],
    );
    const pause = await fetch(`${service.url}/admin/queues/api/queues/training/pause`, {
      method: 'PUT',
      headers: { authorization: basic(ADMIN) },
    });
    assert.equal(pause.status, 403);
    assert.equal(((await pause.json()) as { code: string }).code, 'read_only');
  });
});

test('job counts name at most maxTenants tenants, preferred first; the rest are summed under ~other', async () => {
  const config = await testConfig();
  const redis = new Redis(config.REDIS_URL);
  try {
    const jobs = new JobStore(redis, config.REDIS_PREFIX);
    for (const tenant of ['a', 'b', 'c', 'c', 'd'])
      await jobs.create({ tenant, request: {}, epochs: 1, summary: undefined as never });
    const rows = await jobs.countsByTenant(2, ['d']);
    const queued = Object.fromEntries(rows.filter((r) => r.status === 'queued').map((r) => [r.tenant, r.count]));
    assert.deepEqual(queued, { d: 1, a: 1, [OTHER_TENANTS]: 3 });
    assert.ok(rows.every((r) => r.status === 'queued' || r.count === 0));
  } finally {
    await redis.quit();
    await cleanup(config);
  }
});
