import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { loadMnist } from '../src/data/mnist.ts';
import {
  getJson,
  postJson,
  readEvents,
  smallMnistJob,
  startService,
  testConfig,
  waitForJob,
  type TestService,
} from './helpers.ts';

/** Submit -> queue -> train (in a worker child process) -> stream -> store -> predict, on a few hundred digits. */
describe('training end to end', () => {
  let service: TestService;
  let job: any;
  let events: Awaited<ReturnType<typeof readEvents>>['events'];

  before(async () => {
    service = await startService({ config: await testConfig({ SSE_HEARTBEAT_MS: '200' }) });
    const submitted = await postJson(`${service.url}/v1/jobs`, {
      ...smallMnistJob(),
      fit: { epochs: 2, batchSize: 64, validationSplit: 0.25, shuffle: true, seed: 1 },
    });
    assert.equal(submitted.status, 202, JSON.stringify(submitted.body));
    ({ events } = await readEvents(`${service.url}/v1/jobs/${submitted.body.id}/events`));
    job = await waitForJob(service.url, submitted.body.id);
  });
  after(() => service.close());

  test('the job completes with Keras-shaped history, evaluation, backend and a model', () => {
    assert.equal(job.status, 'completed', JSON.stringify(job.error));
    assert.deepEqual(job.progress, { epoch: 2, epochs: 2 });
    for (const metric of ['loss', 'acc', 'val_loss', 'val_acc']) assert.equal(job.history[metric]?.length, 2, metric);
    assert.ok(job.history.loss[1] < job.history.loss[0], 'loss falls');
    assert.ok(job.evaluation.acc > 0.5, `test accuracy ${job.evaluation.acc}`);
    assert.ok(['tensorflow', 'wasm', 'cpu'].includes(job.backend));
    assert.ok(job.startedAt && job.finishedAt);
    assert.equal(job.attempts, 1);
    assert.ok(job.modelId);
  });

  test('the training process holds no tensors once a job is done', async () => {
    // The record turns `completed` a moment before BullMQ stores the processor's return value.
    let bull = await service.app.services.queue().getJob(job.id);
    for (let i = 0; i < 100 && !bull?.returnvalue; i++) {
      await new Promise((r) => setTimeout(r, 20));
      bull = await service.app.services.queue().getJob(job.id);
    }
    assert.ok(bull?.returnvalue, 'BullMQ stored the return value of the finished job');
    assert.equal(bull.returnvalue.memory.numTensors, 0);
  });

  test('the stream has every status change, each epoch once, the evaluation, then end', () => {
    const names = events.filter((e) => e.event !== 'batch').map((e) => e.event);
    assert.deepEqual(names, ['status', 'status', 'epoch', 'epoch', 'evaluation', 'status', 'end']);
    assert.deepEqual(
      events.filter((e) => e.event === 'status').map((e) => e.data.status),
      ['queued', 'running', 'completed'],
    );
    const epochs = events.filter((e) => e.event === 'epoch');
    assert.deepEqual(
      epochs.map((e) => e.data.epoch),
      [1, 2],
    );
    assert.equal(epochs[1].data.metrics.val_acc, job.history.val_acc[1]);
    assert.deepEqual(events.find((e) => e.event === 'evaluation')!.data.metrics, job.evaluation);
    assert.deepEqual(events.at(-1)!.data, { status: 'completed', modelId: job.modelId });
    assert.ok(
      events.every((e) => /^\d+-\d+$/.test(e.id!)),
      'every event carries its stream id',
    );
  });

  test('a client joining late gets the whole history; Last-Event-ID gets exactly the missing events', async () => {
    const late = await readEvents(`${service.url}/v1/jobs/${job.id}/events`);
    assert.deepEqual(late.events, events);
    assert.match(late.contentType ?? '', /^text\/event-stream/);
    const resumed = await readEvents(`${service.url}/v1/jobs/${job.id}/events`, { lastEventId: events[2].id });
    assert.deepEqual(resumed.events, events.slice(3));
    const viaQuery = await readEvents(`${service.url}/v1/jobs/${job.id}/events?lastEventId=${events[3].id}`);
    assert.deepEqual(viaQuery.events, events.slice(4));
  });

  test('the model is described, downloadable by tf.loadLayersModel, and predicts like its evaluation', async () => {
    const model = await getJson(`${service.url}/v1/models/${job.modelId}`);
    assert.equal(model.status, 200);
    assert.equal(model.body.jobId, job.id);
    assert.deepEqual(
      model.body.summary.layers.map((l: { params: number }) => l.params),
      [784 * 64 + 64, 64 * 10 + 10],
    );
    assert.deepEqual(model.body.evaluation, job.evaluation);
    assert.equal(model.body.compile.loss, 'categoricalCrossentropy');

    const listed = await getJson(`${service.url}/v1/models`);
    assert.deepEqual(
      listed.body.items.map((m: { id: string }) => m.id),
      [job.modelId],
    );

    const loaded = await tf.loadLayersModel(`${service.url}/v1/models/${job.modelId}/model.json`);
    assert.deepEqual(loaded.inputs[0].shape, [null, 784]);
    loaded.dispose();

    const mnist = await loadMnist({ train: 1, test: 128 });
    const test = mnist.test!;
    const instances = Array.from({ length: test.count }, (_, i) => Array.from(test.x.subarray(i * 784, (i + 1) * 784)));
    const predicted = await postJson(`${service.url}/v1/models/${job.modelId}/predict`, { instances });
    assert.equal(predicted.status, 200, JSON.stringify(predicted.body));
    assert.equal(predicted.body.predictions.length, 128);
    assert.equal(predicted.body.predictions[0].length, 10);
    const correct = predicted.body.classes.filter((c: number, i: number) => c === test.y[i]).length;
    assert.ok(
      Math.abs(correct / 128 - job.evaluation.acc) < 1e-6,
      `predict accuracy ${correct / 128} vs evaluation ${job.evaluation.acc}`,
    );

    const nested = await postJson(`${service.url}/v1/models/${job.modelId}/predict`, {
      instances: [Array.from({ length: 28 }, (_, r) => instances[0].slice(r * 28, r * 28 + 28))],
    });
    assert.equal(nested.body.classes[0], predicted.body.classes[0], 'a 28x28 instance is the same digit');

    const wrong = await postJson(`${service.url}/v1/models/${job.modelId}/predict`, { instances: [[1, 2, 3]] });
    assert.equal(wrong.status, 400);
    assert.match(wrong.body.detail, /expects 784 \(shape \[28,28\]\)/);
  });

  test('deleting a model removes it and its artifacts', async () => {
    const response = await fetch(`${service.url}/v1/models/${job.modelId}`, { method: 'DELETE' });
    assert.equal(response.status, 204);
    assert.equal((await getJson(`${service.url}/v1/models/${job.modelId}`)).status, 404);
    assert.equal((await fetch(`${service.url}/v1/models/${job.modelId}/weights.bin`)).status, 404);
    assert.equal((await postJson(`${service.url}/v1/models/${job.modelId}/predict`, { instances: [[1]] })).status, 404);
  });

  test('a live stream sends keep-alive comments and live epochs', async () => {
    // Long enough (768 small steps, ~1 s) to span several 200 ms heartbeats however fast the machine.
    const job = smallMnistJob();
    const submitted = await postJson(`${service.url}/v1/jobs`, {
      ...job,
      data: { ...job.data, limit: { train: 4096, test: 128 } },
      fit: { epochs: 3, batchSize: 16, validationSplit: 0, shuffle: true },
    });
    const live = await readEvents(`${service.url}/v1/jobs/${submitted.body.id}/events`);
    assert.deepEqual(
      live.events.filter((e) => e.event === 'epoch').map((e) => e.data.epoch),
      [1, 2, 3],
    );
    assert.equal(live.events.at(-1)!.event, 'end');
    assert.ok(live.comments.length > 0, 'heartbeat comments');
  });

  test('inline data trains, and a loss that explodes fails the job with a clear error', async () => {
    const x = Array.from({ length: 64 }, (_, i) => [i / 64, (i % 8) / 8]);
    const inline = {
      model: {
        layers: [
          { type: 'dense', units: 8, activation: 'tanh' },
          { type: 'dense', units: 1 },
        ],
      },
      compile: { optimizer: 'adam', loss: 'mse' },
      data: {
        x,
        y: x.map(([a, b]) => 2 * a - b),
        xTest: x.slice(0, 8),
        yTest: x.slice(0, 8).map(([a, b]) => 2 * a - b),
      },
      fit: { epochs: 3, batchSize: 16 },
      evaluate: true,
    };
    const ok = await postJson(`${service.url}/v1/jobs`, inline);
    assert.equal(ok.status, 202, JSON.stringify(ok.body));
    const done = await waitForJob(service.url, ok.body.id);
    assert.equal(done.status, 'completed');
    assert.equal(done.history.loss.length, 3);
    assert.deepEqual(Object.keys(done.evaluation).sort(), ['loss', 'mae', 'mse', 'r2']);

    const exploding = {
      ...inline,
      compile: { optimizer: { type: 'sgd', learningRate: 1e6 }, loss: 'mse' },
      data: { ...inline.data, y: x.map(() => 1e6) },
      evaluate: false,
    };
    const bad = await postJson(`${service.url}/v1/jobs`, exploding);
    const failed = await waitForJob(service.url, bad.body.id);
    assert.equal(failed.status, 'failed');
    assert.equal(failed.error.code, 'numerical_error');
    assert.match(failed.error.message, /loss became (NaN|Infinity) in epoch 1, batch \d+/);
    assert.equal(failed.attempts, 1, 'a deterministic failure is not retried');
  });
});
