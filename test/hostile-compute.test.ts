import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import type { JobRequest } from '../src/schemas/job-request.ts';
import { backendReplacements } from '../src/compute/backend-guard.ts';
import { planJob } from '../src/training/plan.ts';
import { buildApp } from '../src/app.ts';
import {
  getJson,
  postJson,
  smallMnistJob,
  startService,
  testConfig,
  waitForJob,
  type TestService,
  workerFinished,
} from './helpers.ts';

/**
 * Shared compute that one tenant's request could break or stall: the dry run (off the event
 * loop, weights as zeros, time-limited), the work of one training step (bounded at submit),
 * predict (sized before it runs, batched within one pass's memory) and the backend itself (a
 * fault replaces it, so no later request of anyone sees the damage).
 */

/** A tiny inline job whose model ends in `hidden` units then `outputs` (one-hot labels). */
function wideJob(hidden: number, outputs: number): JobRequest {
  return {
    name: `wide-${hidden}-${outputs}`,
    model: {
      layers: [
        { type: 'dense', units: hidden, activation: 'relu', inputShape: [2] },
        { type: 'dense', units: outputs, activation: 'softmax' },
      ],
    },
    compile: { optimizer: 'sgd', loss: 'categoricalCrossentropy' },
    data: {
      x: [
        [0, 1],
        [1, 0],
        [1, 1],
        [0, 0],
      ],
      y: [0, 1, 1, 0],
      labels: { oneHot: outputs },
    },
    fit: { epochs: 1, batchSize: 4, seed: 1 },
  } as unknown as JobRequest;
}

const instances = (n: number) => Array.from({ length: n }, (_, i) => [i % 3, (i * 7) % 5]);

describe('shared compute under hostile requests', () => {
  let service: TestService;
  let wideOut: string; // 5,000 outputs: big answers
  let wideHidden: string; // 5,000 hidden values, 2 outputs: big passes, small answers

  before(async () => {
    const config = await testConfig({
      // One instance of `wideHidden` holds 8 × (2 + 5,000 + 2) bytes in a pass: 26 fit in 1 MiB.
      PREDICT_MAX_PASS_BYTES: String(1024 ** 2),
      // One instance of `wideOut` answers 5,000 values of at most 24 bytes: 17 fit in 2 MiB.
      PREDICT_MAX_ANSWER_BYTES: String(2 * 1024 ** 2),
      MAX_SEQUENTIAL_STEPS: '1000',
      MAX_BATCH_FLOPS: String(1e9),
      RATE_LIMIT_PER_MINUTE: '0',
    });
    service = await startService({ config });
    const ids: string[] = [];
    for (const job of [wideJob(16, 5000), wideJob(5000, 2)]) {
      const submitted = await postJson(`${service.url}/v1/jobs`, job);
      assert.equal(submitted.status, 202, JSON.stringify(submitted.body));
      const done = await waitForJob(service.url, submitted.body.id);
      assert.equal(done.status, 'completed', JSON.stringify(done.error));
      ids.push(done.modelId);
    }
    [wideOut, wideHidden] = ids;
  });
  after(() => service?.close());

  const predict = (id: string, body: unknown) => postJson(`${service.url}/v1/models/${id}/predict`, body);

  test('predict is sized before it runs: answer bytes and pass memory over their caps are 413s naming the numbers', async () => {
    const fits = await predict(wideOut, { instances: instances(17) });
    assert.equal(fits.status, 200, JSON.stringify(fits.body).slice(0, 300));
    assert.equal(fits.body.predictions.length, 17);

    for (const n of [18, 1_100, 10_000]) {
      const big = await predict(wideOut, { instances: instances(n) });
      assert.equal(big.status, 413, `${n} instances`);
      assert.equal(big.body.code, 'answer_too_large');
      assert.equal(big.body.errors[0].path, '/instances');
      assert.match(
        big.body.detail,
        new RegExp(`${n.toLocaleString('en')} instances × 5,000 output values.*PREDICT_MAX_ANSWER_BYTES`),
      );
    }
  });

  test('a request bigger than one pass runs as several, a turn of the event loop apart; one instance over the pass budget is a 422', async () => {
    const { predictor } = service.app.services;
    const rows = instances(60);
    let before = predictor.stats();
    const whole = await predict(wideHidden, { instances: rows });
    assert.equal(whole.status, 200);
    // 26 instances of this model fit the 1 MiB pass budget: 60 take 3 passes.
    assert.equal(predictor.stats().passes - before.passes, 3);
    const alone = await Promise.all(rows.map((r) => predict(wideHidden, { instances: [r] })));
    assert.deepEqual(
      whole.body.predictions,
      alone.map((a) => a.body.predictions[0]),
    );
    assert.deepEqual(
      whole.body.classes,
      alone.map((a) => a.body.classes[0]),
    );

    // The same models under other budgets: apps of their own on the same Redis and store.
    for (const [setting, value, detail] of [
      [
        'PREDICT_MAX_PASS_BYTES',
        32_768,
        /one instance of this model takes 40,032 bytes .*the limit is 32,768 \(PREDICT_MAX_PASS_BYTES\)/,
      ],
      ['PREDICT_MAX_PASS_FLOPS', 1e6, null],
    ] as const) {
      const other = await buildApp({ ...service.config, [setting]: value }, { logger: false });
      try {
        before = other.services.predictor.stats();
        const res = await other.inject({
          method: 'POST',
          url: `/v1/models/${wideHidden}/predict`,
          payload: { instances: rows },
        });
        if (detail) {
          assert.equal(res.statusCode, 422, res.body);
          assert.equal(res.json().code, 'pass_too_large');
          assert.match(res.json().detail, detail);
        } else {
          // About 55,000 FLOPs an instance: 18 a pass, 4 passes for 60, the same answers.
          assert.equal(res.statusCode, 200, res.body);
          assert.equal(other.services.predictor.stats().passes - before.passes, 4);
          assert.deepEqual(res.json().predictions, whole.body.predictions);
        }
      } finally {
        await other.close();
      }
    }
  });

  test('concurrent requests are batched only as far as one pass may hold; each still gets its own answer', async () => {
    const { predictor } = service.app.services;
    const before = predictor.stats();
    const requests = [0, 1, 2, 3].map((k) => instances(10).map(([a, b]) => [a + k, b]));
    const answers = await Promise.all(requests.map((rows) => predict(wideHidden, { instances: rows })));
    const after = predictor.stats();
    for (const a of answers) assert.equal(a.status, 200);
    // 40 instances need at least two passes of at most 26 (1 MiB at 40,032 bytes an instance).
    assert.ok(after.passes - before.passes >= 2, `${after.passes - before.passes} passes`);
    for (const [k, rows] of requests.entries()) {
      const alone = await predict(wideHidden, { instances: rows });
      assert.deepEqual(answers[k].body.predictions, alone.body.predictions);
    }
  });

  test('the work of one training step is bounded at submit: recurrent steps and FLOPs, 422 naming the numbers', async () => {
    const base = smallMnistJob();
    const sequence = (n: number, wrap = false) => ({
      ...base,
      model: {
        layers: [
          { type: 'dense', units: 4, inputShape: [784] },
          { type: 'repeatVector', n },
          wrap ? { type: 'bidirectional', layer: { type: 'lstm', units: 8 } } : { type: 'lstm', units: 8 },
          { type: 'dense', units: 10, activation: 'softmax' },
        ],
      },
    });
    for (const [body, path, steps] of [
      [sequence(8000), '/model/layers/2', '8,000'],
      [sequence(20_000), '/model/layers/2', '20,000'],
      [sequence(600, true), '/model/layers/2', '1,200'],
    ] as const) {
      for (const route of ['/v1/jobs', '/v1/models/validate']) {
        const res = await postJson(`${service.url}${route}`, body);
        assert.equal(res.status, 422, `${route} ${JSON.stringify(res.body)}`);
        assert.equal(res.body.code, 'over_limit');
        assert.equal(res.body.errors[0].path, path);
        assert.match(res.body.detail, new RegExp(`${steps} recurrent time steps.*MAX_SEQUENTIAL_STEPS`));
      }
    }
    const short = await postJson(`${service.url}/v1/models/validate`, sequence(400));
    assert.equal(short.status, 200, JSON.stringify(short.body));
    assert.equal(short.body.estimates.sequentialStepsPerBatch, 400);

    const heavy = {
      ...base,
      fit: { ...base.fit, batchSize: 4096 },
      model: {
        layers: [
          { type: 'dense', units: 2048, activation: 'relu', inputShape: [784] },
          { type: 'dense', units: 10, activation: 'softmax' },
        ],
      },
    };
    const flops = await postJson(`${service.url}/v1/jobs`, heavy);
    assert.equal(flops.status, 422, JSON.stringify(flops.body));
    assert.equal(flops.body.errors[0].path, '/fit/batchSize');
    assert.match(
      flops.body.detail,
      /one training step would take about [\d,]+ FLOPs .*batch size 4,096.*MAX_BATCH_FLOPS/,
    );
    const jobs = await getJson(`${service.url}/v1/jobs?limit=100`);
    assert.equal(jobs.body.items.length, 2, 'no refused job was queued');
  });

  test("a dry run does not hold the event loop: expensive initialisers cost nothing, and its summary is the real build's", async () => {
    const body = {
      ...smallMnistJob(),
      model: {
        layers: [
          { type: 'dense', units: 784, activation: 'relu', inputShape: [784], kernelInitializer: 'orthogonal' },
          { type: 'reshape', targetShape: [28, 28] },
          { type: 'lstm', units: 16, recurrentInitializer: 'orthogonal', returnSequences: true },
          { type: 'conv1d', filters: 8, kernelSize: 3, kernelInitializer: { type: 'varianceScaling', scale: 2 } },
          { type: 'flatten' },
          { type: 'dense', units: 10, activation: 'softmax', kernelInitializer: 'heNormal' },
        ],
      },
    } as JobRequest;
    let validated = false;
    const validating = postJson(`${service.url}/v1/models/validate`, body).then((r) => {
      validated = true;
      return r;
    });
    const health = await getJson(`${service.url}/healthz`);
    assert.equal(health.status, 200);
    const report = await validating;
    assert.equal(report.status, 200, JSON.stringify(report.body));
    assert.ok(validated);
    // The same plan with real weights, built here: shapes, parameters, estimates and advice agree.
    const real = planJob(body);
    assert.deepEqual(report.body.summary, JSON.parse(JSON.stringify(real.summary)));
    assert.deepEqual(report.body.estimates, real.estimates);
    assert.deepEqual(report.body.warnings, real.warnings);
  });

  test('a dry run over its time limit is a 422 (validate and submit), nothing is queued, and an ended thread is replaced', async () => {
    // 5 ms: no 500-layer build fits in it, whatever the machine.
    const config = await testConfig({ DRY_RUN_TIMEOUT_MS: '5', RATE_LIMIT_PER_MINUTE: '0' });
    const slow = await startService({ config, worker: false });
    try {
      const deep = {
        ...smallMnistJob(),
        model: {
          layers: [
            { type: 'dense', units: 32, inputShape: [784] },
            ...Array.from({ length: 498 }, () => ({ type: 'dense', units: 32 })),
            { type: 'dense', units: 10, activation: 'softmax' },
          ],
        },
      };
      // The second dry run is answered by the thread that replaced the one ended for the first.
      for (const route of ['/v1/models/validate', '/v1/jobs']) {
        const res = await postJson(`${slow.url}${route}`, deep);
        assert.equal(res.status, 422, JSON.stringify(res.body));
        assert.equal(res.body.code, 'dry_run_timeout');
        assert.match(res.body.detail, /longer than 5 ms \(DRY_RUN_TIMEOUT_MS\)/);
      }
      assert.equal((await getJson(`${slow.url}/v1/jobs`)).body.items.length, 0, 'nothing was queued');
    } finally {
      await slow.close();
    }
  });

  test('inline training data never sits in Redis or in answers: it is kept beside the checkpoints until the job ends', async () => {
    const job = wideJob(4, 3);
    const submitted = await postJson(`${service.url}/v1/jobs`, job);
    assert.equal(submitted.status, 202);
    const { id } = submitted.body;
    assert.equal(submitted.body.request.data.x, undefined);
    assert.equal(submitted.body.request.data.y, undefined);
    assert.deepEqual(submitted.body.inlineData.samples, { x: 4, y: 4 });
    assert.equal(submitted.body.inlineData.bytes, JSON.stringify({ x: job.data.x, y: job.data.y }).length);
    const raw = await service.app.services.redis.hgetall(`${service.config.REDIS_PREFIX}:job:${id}`);
    assert.ok(Object.keys(raw).length > 0, 'the record is where the test looks for it');
    assert.doesNotMatch(JSON.stringify(raw), /\[\[0,1\],\[1,0\]/, 'the inline arrays are not in Redis');
    const done = await waitForJob(service.url, id);
    assert.equal(done.status, 'completed', JSON.stringify(done.error));
    assert.equal(done.request.data.x, undefined);
    await workerFinished(service, id);
    assert.deepEqual(
      await readdir(path.join(service.config.DATA_DIR, 'checkpoints')).then(
        (names) => names.filter((n) => n.startsWith(id)),
        () => [],
      ),
      [],
    );
  });

  test('a fault inside the backend replaces it: the request gets a 503, readiness says so, and later requests see a clean backend', async (t) => {
    if (tf.getBackend() !== 'wasm')
      return t.skip(`the fault is staged through the wasm backend's tensor registry; this run uses ${tf.getBackend()}`);
    const rows = instances(4).map(([a, b]) => [a + 0.5, b + 0.25]);
    const clean = await predict(wideHidden, { instances: rows });
    assert.equal(clean.status, 200);
    const loadsBefore = service.app.services.predictor.stats().loads;
    const replaced = backendReplacements();

    // Point every tensor the backend holds at an address outside its heap, as an
    // out-of-bounds write would have left it: the next kernel that reads one traps.
    const backend = tf.backend() as unknown as {
      dataIdNextNumber: number;
      wasm: { tfjs: { disposeData(id: number): void; registerTensor(id: number, size: number, offset: number): void } };
    };
    for (let id = 0; id < backend.dataIdNextNumber; id++) {
      backend.wasm.tfjs.disposeData(id);
      backend.wasm.tfjs.registerTensor(id, 1, 0x7ffffff0);
    }
    const faulted = await predict(wideHidden, { instances: rows });
    assert.equal(faulted.status, 503, JSON.stringify(faulted.body));
    assert.equal(faulted.body.code, 'backend_unavailable');

    let ready = await getJson(`${service.url}/readyz`);
    while (ready.status !== 200) {
      assert.equal(ready.body.backend, 'replacing');
      await new Promise((resolve) => setImmediate(resolve));
      ready = await getJson(`${service.url}/readyz`);
    }
    assert.equal(backendReplacements(), replaced + 1);
    assert.equal(ready.body.backend, 'wasm');
    assert.notEqual(tf.backend(), backend, 'a new backend instance');

    const again = await predict(wideHidden, { instances: rows });
    assert.equal(again.status, 200, JSON.stringify(again.body));
    assert.deepEqual(again.body.predictions, clean.body.predictions);
    assert.equal(
      service.app.services.predictor.stats().loads,
      loadsBefore + 1,
      'the model was loaded again on the new backend',
    );
    const other = await predict(wideOut, { instances: rows });
    assert.equal(other.status, 200);
    // Jobs are still accepted and trained (their dry runs never touched this backend).
    const job = await postJson(`${service.url}/v1/jobs`, wideJob(4, 3));
    assert.equal(job.status, 202, JSON.stringify(job.body));
    assert.equal((await waitForJob(service.url, job.body.id)).status, 'completed');
  });
});
