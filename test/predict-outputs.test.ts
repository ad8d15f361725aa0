import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { postJson, startService, waitForJob, type TestService } from './helpers.ts';

let service: TestService | undefined;
after(() => service?.close());

test('a sequence classifier answers a class per step for each instance', async () => {
  service = await startService();
  // Class 1 at odd (i + t), class 0 at even: a per-step softmax over 2 classes.
  const x = Array.from({ length: 8 }, (_, i) => Array.from({ length: 5 }, (_, t) => [i, t, 1]));
  const y = Array.from({ length: 8 }, (_, i) => Array.from({ length: 5 }, (_, t) => ((i + t) % 2 ? [0, 1] : [1, 0])));
  const submitted = await postJson(`${service.url}/v1/jobs`, {
    model: {
      layers: [
        { type: 'timeDistributed', layer: { type: 'dense', units: 2, activation: 'softmax' }, inputShape: [5, 3] },
      ],
    },
    compile: { optimizer: 'adam', loss: 'categoricalCrossentropy' },
    data: { x, y },
    fit: { epochs: 1, batchSize: 4 },
  });
  assert.equal(submitted.status, 202, JSON.stringify(submitted.body));
  const job = await waitForJob(service.url, submitted.body.id);
  assert.equal(job.status, 'completed', JSON.stringify(job.error));
  const url = `${service.url}/v1/models/${job.modelId}/predict`;
  // Two requests in one batch: each gets its own instances' classes.
  const [one, two] = await Promise.all([
    postJson(url, { instances: [x[0]] }),
    postJson(url, { instances: [x[1], x[2]] }),
  ]);
  for (const [answer, count] of [
    [one, 1],
    [two, 2],
  ] as const) {
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.equal(answer.body.classes.length, count);
    answer.body.classes.forEach((steps: number[], i: number) => {
      const outputs = answer.body.predictions[i] as number[][];
      assert.equal(outputs.length, 5);
      assert.deepEqual(
        steps,
        outputs.map((p) => (p[1] > p[0] ? 1 : 0)),
        'the class of each step is its highest output',
      );
    });
  }
});
