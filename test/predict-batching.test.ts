import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { loadMnist } from '../src/data/mnist.ts';
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

/** Counts forward passes of every LayersModel in this process (the API's predictor lives here). */
function countForwardPasses() {
  const original = tf.LayersModel.prototype.predictOnBatch;
  let passes = 0;
  tf.LayersModel.prototype.predictOnBatch = function (this: tf.LayersModel, ...args: Parameters<typeof original>) {
    passes++;
    return original.apply(this, args);
  };
  return { passes: () => passes, restore: () => void (tf.LayersModel.prototype.predictOnBatch = original) };
}

test('predictions asked for in the same event-loop turn share one forward pass, each answered with its own', async () => {
  const { predictor } = service.app.services;
  const modelId = predictUrl.split('/').at(-2)!;
  const alone: Awaited<ReturnType<typeof predictor.predict>>[] = [];
  for (const d of digits.slice(0, 8)) alone.push(await predictor.predict(modelId, [d]));
  const counter = countForwardPasses();
  let together: Awaited<ReturnType<typeof predictor.predict>>[];
  try {
    // 8 single-digit requests and one of 32 digits, all at once.
    together = await Promise.all([...digits.slice(0, 8).map((d) => predictor.predict(modelId, [d])), predictor.predict(modelId, digits.slice(8, 40))]);
  } finally {
    counter.restore();
  }
  assert.equal(counter.passes(), 1, `9 concurrent requests took ${counter.passes()} forward passes`);
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
