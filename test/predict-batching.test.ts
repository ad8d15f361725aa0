import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { loadMnist } from '../src/data/mnist.ts';
import type { Prediction } from '../src/serving/prediction-output.ts';
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

/** Passes and instances the API's predictor ran while `work` did. */
async function passesDuring(work: () => Promise<unknown>) {
  const { predictor } = service.app.services;
  const before = predictor.stats();
  await work();
  const after = predictor.stats();
  return {
    passes: after.passes - before.passes,
    instances: after.instances - before.instances,
    carried: after.carried - before.carried,
  };
}

/** Same classes, and outputs equal up to float32 rounding (a matmul may sum in another order for another batch size). */
function assertSameAnswers(got: Prediction[], expected: Prediction[]) {
  assert.equal(got.length, expected.length);
  got.forEach((r, i) => {
    assert.deepEqual(r.classes, expected[i].classes, `request ${i}`);
    for (const [j, p] of (r.predictions[0] as number[]).entries()) {
      assert.ok(Math.abs(p - (expected[i].predictions[0] as number[])[j]) < 1e-5, `request ${i} output ${j}`);
    }
  });
}

const modelId = () => predictUrl.split('/').at(-2)!;

/** Each digit predicted on its own, one request at a time. */
async function alone(ds: number[][]) {
  const answers = [];
  for (const d of ds) answers.push(await service.app.services.predictor.predict(modelId(), [d]));
  return answers;
}

test('predictions asked for in the same event-loop turn share one forward pass, each answered with its own', async () => {
  const { predictor } = service.app.services;
  const single = await alone(digits.slice(0, 8));
  let together: Prediction[] = [];
  // 8 single-digit requests and one of 32 digits, all at once: 40 instances, whole 4-row blocks.
  const counted = await passesDuring(async () => {
    together = await Promise.all([
      ...digits.slice(0, 8).map((d) => predictor.predict(modelId(), [d])),
      predictor.predict(modelId(), digits.slice(8, 40)),
    ]);
  });
  assert.deepEqual(
    counted,
    { passes: 1, instances: 40, carried: 0 },
    `9 concurrent requests: ${JSON.stringify(counted)}`,
  );
  assertSameAnswers(together.slice(0, 8), single);
  assert.equal(together[8].predictions.length, 32);
  assert.equal(together[8].classes?.length, 32);
});

/** Every digit made non-zero: the dense GEMM runs (MNIST digits as they are take the sparse path). */
const denseDigits = () => digits.map((d) => d.map((v) => Math.min(255, v + 1)));

test('on wasm, a batch of dense inputs ending in a part 4-row block leaves its last single requests to the next pass, answered the same', async (t) => {
  if (tf.getBackend() !== 'wasm')
    return t.skip(`the 4-row matmul blocks are the wasm backend's; this runs on ${tf.getBackend()}`);
  if (service.config.TFJS_ACCELERATION === 'off')
    return t.skip(
      'TFJS_ACCELERATION=off: carrying requests to fill 4-row blocks is an acceleration (the next test checks none is carried)',
    );
  const { predictor } = service.app.services;
  const dense = denseDigits();
  const single = await alone(dense.slice(0, 11));
  let together: Prediction[] = [];
  // 9 instances: the first 8 run at once, the ninth in the next turn's pass.
  const nine = await passesDuring(async () => {
    together = await Promise.all(dense.slice(0, 9).map((d) => predictor.predict(modelId(), [d])));
  });
  assert.deepEqual(nine, { passes: 2, instances: 9, carried: 1 });
  assertSameAnswers(together, single.slice(0, 9));
  // Fewer than 4 instances never wait; a request of several instances is not split or moved.
  assert.deepEqual(
    await passesDuring(() => Promise.all(dense.slice(0, 3).map((d) => predictor.predict(modelId(), [d])))),
    { passes: 1, instances: 3, carried: 0 },
  );
  assert.deepEqual(
    await passesDuring(() =>
      Promise.all([predictor.predict(modelId(), dense.slice(0, 4)), predictor.predict(modelId(), dense.slice(4, 7))]),
    ),
    { passes: 1, instances: 7, carried: 0 },
  );
  // 11 singles: 3 move, and run together in the next pass.
  const eleven = await passesDuring(async () => {
    together = await Promise.all(dense.slice(0, 11).map((d) => predictor.predict(modelId(), [d])));
  });
  assert.deepEqual(eleven, { passes: 2, instances: 11, carried: 3 });
  assertSameAnswers(together, single);
  // Mostly-zero digits go through the sparse matmul row by row: nothing waits for them.
  await alone(digits.slice(0, 1));
  assert.deepEqual(
    await passesDuring(() => Promise.all(digits.slice(0, 9).map((d) => predictor.predict(modelId(), [d])))),
    { passes: 1, instances: 9, carried: 0 },
  );
});

test('with TFJS_ACCELERATION=off no request waits for a later pass, and answers are the same', async (t) => {
  if (service.config.TFJS_ACCELERATION !== 'off')
    return t.skip('accelerations are on (the test before checks the carry-over)');
  const { predictor } = service.app.services;
  const dense = denseDigits();
  const single = await alone(dense.slice(0, 11));
  for (const n of [5, 9, 11]) {
    let together: Prediction[] = [];
    const counted = await passesDuring(async () => {
      together = await Promise.all(dense.slice(0, n).map((d) => predictor.predict(modelId(), [d])));
    });
    assert.deepEqual(counted, { passes: 1, instances: n, carried: 0 }, `${n} single requests`);
    assertSameAnswers(together, single.slice(0, n));
  }
});

test('served predictions equal the stored model run by tf.predict on the same digits', async () => {
  const { models } = service.app.services;
  const model = await tf.loadLayersModel(models.reader(modelId()));
  try {
    const meta = (await models.get(modelId()))!;
    const x = tf.tensor(digits.slice(0, 12).flat(), [12, 784]).mul(meta.transforms.inputs.scale ?? 1);
    const expected = (model.predict(x) as tf.Tensor).arraySync() as number[][];
    const expectedClasses = expected.map((row) => row.indexOf(Math.max(...row)));
    const answers = await Promise.all(
      digits.slice(0, 12).map((d) => service.app.services.predictor.predict(modelId(), [d])),
    );
    answers.forEach((a, i) => {
      assert.deepEqual(a.classes, [expectedClasses[i]]);
      for (const [j, p] of (a.predictions[0] as number[]).entries()) {
        assert.ok(Math.abs(p - expected[i][j]) < 1e-6, `digit ${i} output ${j}: ${p} vs ${expected[i][j]}`);
      }
    });
    tf.dispose(x);
  } finally {
    model.dispose();
  }
});

test('concurrent HTTP predict requests each get their own answers', async () => {
  const alone = await Promise.all(
    digits.slice(0, 8).map(async (d) => (await postJson(predictUrl, { instances: [d] })).body),
  );
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
