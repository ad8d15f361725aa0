import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Worker } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import { loadMnist } from '../src/data/mnist.ts';
import { featuresTensor } from '../src/data/transforms.ts';
import { modelDirReader } from '../src/storage/model-store.ts';
import type { BackendChoice } from '../src/training/backend.ts';
import { startInference } from '../src/training/inference.ts';
import { postJson, smallMnistJob, startService, waitForJob, type TestService } from './helpers.ts';

let service: TestService;
let predictUrl: string;
let digits: number[][];

before(async () => {
  service = await startService();
  const submitted = await postJson(`${service.url}/v1/jobs`, smallMnistJob());
  assert.equal(submitted.status, 202);
  const job = await waitForJob(service.url, submitted.body.id);
  assert.equal(job.status, 'completed', JSON.stringify(job.error));
  predictUrl = `${service.url}/v1/models/${job.modelId}/predict`;
  const test = (await loadMnist({ train: 1, test: 40 })).test!;
  digits = Array.from({ length: 40 }, (_, i) => Array.from(test.x.subarray(i * 784, (i + 1) * 784)));
});

after(async () => {
  await service?.close();
});

test('predictions asked for in the same event-loop turn share one forward pass, each answered with its own', async () => {
  const { predictor } = service.app.services;
  const modelId = predictUrl.split('/').at(-2)!;
  const alone: Awaited<ReturnType<typeof predictor.predict>>[] = [];
  for (const d of digits.slice(0, 8)) alone.push(await predictor.predict(modelId, [d]));
  const before = predictor.stats();
  assert.equal(before.where, 'thread', 'forward passes run in the inference thread');
  // 8 single-digit requests and one of 32 digits, all at once.
  const together = await Promise.all([...digits.slice(0, 8).map((d) => predictor.predict(modelId, [d])), predictor.predict(modelId, digits.slice(8, 40))]);
  const passes = predictor.stats().passes - before.passes;
  assert.equal(passes, 1, `9 concurrent requests took ${passes} forward passes`);
  assert.equal(predictor.stats().instances - before.instances, 40);
  together.slice(0, 8).forEach((r, i) => {
    assert.deepEqual(r.classes, alone[i].classes);
    (r.predictions[0] as number[]).forEach((p, j) => assert.ok(Math.abs(p - (alone[i].predictions[0] as number[])[j]) < 1e-5, `request ${i} output ${j}`));
  });
  assert.equal(together[8].predictions.length, 32);
  assert.equal(together[8].classes?.length, 32);
});

test('concurrent HTTP predict requests each get their own answers', async () => {
  const alone = await Promise.all(digits.slice(0, 8).map(async (d) => (await postJson(predictUrl, { instances: [d] })).body));
  const together = await Promise.all(digits.slice(0, 8).map((d) => postJson(predictUrl, { instances: [d] })));
  together.forEach((r, i) => {
    assert.equal(r.status, 200);
    assert.deepEqual(r.body.classes, alone[i].classes);
  });
});

test('a bad request fails alone; the requests batched beside it are answered', async () => {
  const [good, bad, alsoGood] = await Promise.all([
    postJson(predictUrl, { instances: [digits[0]] }),
    postJson(predictUrl, { instances: [[1, 2, 3]] }),
    postJson(predictUrl, { instances: [digits[1], digits[2]] }),
  ]);
  assert.equal(good.status, 200);
  assert.equal(bad.status, 400);
  assert.match(bad.body.detail, /784/);
  assert.equal(alsoGood.status, 200);
  assert.equal(alsoGood.body.predictions.length, 2);
});

test('the inference thread computes what the model computes in this process', async () => {
  const modelId = predictUrl.split('/').at(-2)!;
  const { models } = service.app.services;
  const model = await tf.loadLayersModel(modelDirReader(models.dir(modelId)));
  const meta = (await models.get(modelId))!;
  const mine = tf.tidy(() => (model.predict(featuresTensor(Float32Array.from(digits.slice(0, 16).flat()), 16, meta.transforms)) as tf.Tensor).arraySync() as number[][]);
  model.dispose();
  const answered = await service.app.services.predictor.predict(modelId, digits.slice(0, 16));
  answered.predictions.forEach((row, i) => (row as number[]).forEach((p, j) => assert.ok(Math.abs(p - mine[i][j]) < 1e-6, `instance ${i} output ${j}: ${p} vs ${mine[i][j]}`)));
  assert.deepEqual(answered.classes, mine.map((row) => row.indexOf(Math.max(...row))));
});

test('a dead inference thread fails its passes with 503, and the next request starts a new one', async () => {
  const { predictor } = service.app.services;
  const modelId = predictUrl.split('/').at(-2)!;
  const internals = predictor as unknown as { running: boolean; inference: { worker: Worker } };
  const worker = internals.inference.worker;
  // A pass of 1,000 digits takes tens of milliseconds: the thread dies in the middle of it.
  const pending = predictor.predict(modelId, Array.from({ length: 1_000 }, (_, i) => digits[i % digits.length]));
  while (!internals.running) await new Promise((resolve) => setImmediate(resolve));
  await worker.terminate();
  await assert.rejects(pending, (err: { status: number; code: string; headers: Record<string, string> }) => {
    assert.equal(err.status, 503);
    assert.equal(err.code, 'inference_unavailable');
    assert.equal(err.headers['Retry-After'], '1');
    return true;
  });
  const again = await postJson(predictUrl, { instances: [digits[0]] });
  assert.equal(again.status, 200, JSON.stringify(again.body));
  assert.notEqual(internals.inference.worker, worker, 'a new thread');
});

test('without a thread that can start a backend, predict runs on the event loop and says so', async () => {
  const warnings: string[] = [];
  const inference = await startInference({ thread: true, backend: 'no-such-backend' as BackendChoice, cacheSize: 1, warn: (m) => warnings.push(m) });
  try {
    assert.equal(inference.where, 'event loop');
    assert.match(warnings.join('\n'), /the inference thread could not start a backend: .*no-such-backend.*; predict runs on the API's event loop instead/);
  } finally {
    await inference.close();
  }
});
