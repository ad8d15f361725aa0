import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { getJson, postJson, startService, testConfig, waitForJob, type TestService } from './helpers.ts';

const fixture = (name: string) =>
  JSON.parse(readFileSync(new URL(`./fixtures/keras/${name}`, import.meta.url), 'utf8'));

const mnist = (shape: number[]) => ({
  dataset: 'mnist',
  limit: { train: 512, test: 128 },
  inputs: { reshape: shape, scale: 1 / 255 },
  labels: { oneHot: 10 },
});

/** A toy sequence task: is the sum of the sequence positive? An RNN has to integrate over time. */
function sequences(count: number, seed: number) {
  let s = seed;
  const random = () => {
    s = (s * 16807) % 2147483647;
    return (s / 2147483647) * 2 - 1;
  };
  const x: number[][][] = [];
  const y: number[] = [];
  for (let i = 0; i < count; i++) {
    const seq = Array.from({ length: 8 }, () => [Math.round(random() * 100) / 100]);
    x.push(seq);
    y.push(seq.reduce((a, [v]) => a + v, 0) > 0 ? 1 : 0);
  }
  return { x, y };
}

describe('models a Keras user can paste', () => {
  let service: TestService;

  before(async () => {
    service = await startService({ config: await testConfig({ MAX_MODEL_PARAMS: '4000000', MAX_EPOCHS: '50' }) });
  });
  after(async () => {
    await service?.close();
  });

  const submit = async (body: unknown) => {
    const res = await postJson(`${service.url}/v1/jobs`, body);
    assert.equal(res.status, 202, JSON.stringify(res.body));
    return waitForJob(service.url, res.body.id, undefined, 900_000); // the machine may be busy: correctness, not speed
  };

  test('a Keras 3 export with a compile_config trains as-is, with its optimizer, loss and metrics', async () => {
    // 2,048 digits (32 steps): with 512 (8 steps) test accuracy ranged down to 0.48 against the 0.5 bar.
    const job = await submit({
      model: fixture('keras3-mlp.json'),
      data: { ...mnist([784]), limit: { train: 2048, test: 128 } },
      fit: { epochs: 1, batch_size: 64, seed: 1 },
      evaluate: true,
    });
    assert.equal(job.status, 'completed', JSON.stringify(job.error));
    const model = (await getJson(`${service.url}/v1/models/${job.modelId}`)).body;
    assert.equal(model.compile.optimizer.type, 'adam');
    assert.equal(model.compile.optimizer.learningRate, 0.002);
    assert.equal(model.compile.loss, 'categoricalCrossentropy');
    assert.deepEqual(model.compile.metrics, ['accuracy']);
    assert.ok(job.evaluation.acc > 0.5, `accuracy ${job.evaluation.acc}`);
  });

  test('the request compile overrides the document compile_config field by field', async () => {
    const res = await postJson(`${service.url}/v1/models/validate`, {
      model: fixture('keras3-mlp.json'),
      compile: { optimizer: 'sgd' },
      data: mnist([784]),
    });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.compile.optimizer.type, 'sgd');
    assert.equal(res.body.compile.loss, 'categoricalCrossentropy');
  });

  test('a Keras 2 CNN export trains, and a Keras 2.1 one has the parameter count Keras reports', async () => {
    const compile = { optimizer: 'adam', loss: 'categorical_crossentropy', metrics: ['accuracy'] };
    const data = { ...mnist([28, 28, 1]), limit: { train: 1024, test: 256 } };
    const job = await submit({
      model: fixture('keras2-cnn.json'),
      compile,
      data,
      fit: { epochs: 4, batchSize: 32, seed: 2 },
      evaluate: true,
    });
    assert.equal(job.status, 'completed', JSON.stringify(job.error));
    // 128 steps from a random start: well above chance (0.1), which is all this test claims
    assert.ok(job.evaluation.acc > 0.5, `accuracy ${job.evaluation.acc}`);
    const res = await postJson(`${service.url}/v1/models/validate`, {
      model: fixture('keras21-cnn.json'),
      compile,
      data: mnist([28, 28, 1]),
    });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    // conv 80 + conv 1,168 + dense 12,832 + dense 330, as Keras's model.summary() counts them
    assert.equal(res.body.summary.totalParams, 14_410);
    assert.deepEqual(
      res.body.summary.layers.map((l: { params: number }) => l.params),
      [80, 0, 1168, 0, 0, 12832, 0, 330],
    );
    assert.ok(res.body.estimates.flopsPerSample > 0 && res.body.estimates.memoryPerBatchBytes > 0);
  });

  test('a Keras 3 functional model with two branches merged by concatenate trains', async () => {
    const job = await submit({
      model: fixture('keras3-functional.json'),
      data: mnist([784]),
      fit: { epochs: 1, batchSize: 64 },
    });
    assert.equal(job.status, 'completed', JSON.stringify(job.error));
    const model = (await getJson(`${service.url}/v1/models/${job.modelId}`)).body;
    const merged = model.summary.layers.find((l: { type: string }) => l.type === 'Concatenate');
    assert.deepEqual(merged.inputs, ['wide', 'deep_2']);
    assert.deepEqual(model.summary.outputShape, [null, 10]);
  });

  test('our own graph form and tfjs model.toJSON() are accepted', async () => {
    const graph = {
      inputs: [{ name: 'x', shape: [784] }],
      layers: [
        { name: 'a', type: 'dense', units: 16, activation: 'relu', inputs: ['x'] },
        { name: 'b', type: 'dense', units: 16, activation: 'tanh', inputs: ['x'] },
        { name: 'ab', type: 'concatenate', inputs: ['a', 'b'] },
        { name: 'out', type: 'dense', units: 10, activation: 'softmax' },
      ],
      outputs: ['out'],
    };
    const compile = { optimizer: 'adam', loss: 'categoricalCrossentropy' };
    const job = await submit({ model: graph, compile, data: mnist([784]), fit: { epochs: 1, batchSize: 64 } });
    assert.equal(job.status, 'completed', JSON.stringify(job.error));

    const built = tf.sequential({
      layers: [
        tf.layers.dense({ units: 8, inputShape: [784], activation: 'relu' }),
        tf.layers.dense({ units: 10, activation: 'softmax' }),
      ],
    });
    const doc = built.toJSON(undefined, false);
    built.dispose();
    const res = await postJson(`${service.url}/v1/models/validate`, { model: doc, compile, data: mnist([784]) });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.summary.totalParams, 784 * 8 + 8 + 8 * 10 + 10);
  });

  test('an LSTM and a GRU learn a small sequence task', async () => {
    const train = sequences(256, 7);
    const test = sequences(128, 99);
    for (const type of ['lstm', 'gru']) {
      const job = await submit({
        model: {
          layers: [
            { type, units: 8, inputShape: [8, 1] },
            { type: 'dense', units: 1, activation: 'sigmoid' },
          ],
        },
        compile: {
          optimizer: { type: 'adam', learning_rate: 0.02 },
          loss: 'binary_crossentropy',
          metrics: ['accuracy'],
        },
        data: { x: train.x, y: train.y, xTest: test.x, yTest: test.y },
        fit: { epochs: 30, batchSize: 32, seed: 3 },
        evaluate: true,
      });
      assert.equal(job.status, 'completed', JSON.stringify(job.error));
      assert.ok(job.evaluation.acc >= 0.85, `${type} test accuracy ${job.evaluation.acc}`);
    }
  });

  test('callbacks: early stopping ends the fit, reduceLROnPlateau lowers the learning rate', async () => {
    const base = {
      model: { layers: [{ type: 'dense', units: 10, activation: 'softmax', inputShape: [784] }] },
      compile: { optimizer: 'sgd', loss: 'categoricalCrossentropy' },
      data: mnist([784]),
    };
    const stopped = await submit({
      ...base,
      fit: {
        epochs: 5,
        batchSize: 128,
        callbacks: [{ type: 'EarlyStopping', monitor: 'loss', patience: 0, baseline: 0 }],
      },
    });
    assert.equal(stopped.status, 'completed', JSON.stringify(stopped.error));
    assert.equal(stopped.history.loss.length, 1, 'a baseline of 0 loss is never beaten: stop after the first epoch');

    const reduced = await submit({
      ...base,
      fit: {
        epochs: 3,
        batchSize: 128,
        callbacks: [{ type: 'reduce_lr_on_plateau', monitor: 'loss', patience: 0, min_delta: 1e9, factor: 0.5 }],
      },
    });
    assert.equal(reduced.status, 'completed', JSON.stringify(reduced.error));
    assert.deepEqual(
      reduced.history.lr.map((v: number) => Number(v.toPrecision(3))),
      [0.01, 0.005, 0.0025],
    );
  });

  test('what cannot be honoured is refused before a worker sees it', async () => {
    const compile = { optimizer: 'adam', loss: 'categoricalCrossentropy' };
    const refusal = async (body: unknown, status: number) => {
      const res = await postJson(`${service.url}/v1/jobs`, body);
      assert.equal(res.status, status, JSON.stringify(res.body));
      return res.body;
    };
    const withLayer = (layer: unknown) => {
      const doc = fixture('keras3-mlp.json');
      doc.config.layers.splice(2, 0, layer);
      return { model: doc, data: mnist([784]) };
    };
    let body = await refusal(
      withLayer({
        module: 'keras.layers',
        class_name: 'Lambda',
        config: { name: 'scale_it', function: { class_name: '__lambda__', config: { code: '4wEAAAAA' } } },
      }),
      422,
    );
    assert.match(body.detail, /"scale_it" \(Lambda\).*never runs code/);
    body = await refusal(
      withLayer({
        module: 'my_project.layers',
        class_name: 'Attention2',
        config: { name: 'attn' },
        registered_name: 'Attention2',
      }),
      422,
    );
    assert.match(body.detail, /"attn" \(Attention2\) comes from module "my_project.layers"/);
    body = await refusal(
      withLayer({
        module: 'keras.layers',
        class_name: 'MyBlock',
        config: { name: 'blk' },
        registered_name: 'Custom>MyBlock',
      }),
      422,
    );
    assert.match(body.detail, /custom registered class/);
    body = await refusal(withLayer({ module: 'keras.layers', class_name: 'ConvLSTM3D', config: { name: 'c3' } }), 422);
    assert.match(body.detail, /"c3" \(ConvLSTM3D\) is not a supported layer/);

    body = await refusal(
      {
        model: {
          layers: [
            { type: 'dense', units: 8192, inputShape: [784] },
            { type: 'dense', units: 10 },
          ],
        },
        compile,
        data: mnist([784]),
      },
      422,
    );
    assert.equal(body.code, 'model_too_large');
    assert.match(body.detail, /6,512,650 parameters; the limit is 4,000,000/);
    body = await refusal(
      {
        model: { layers: [{ type: 'dense', units: 10, inputShape: [784] }] },
        compile,
        data: mnist([784]),
        fit: { epochs: 51 },
      },
      422,
    );
    assert.match(body.detail, /epochs is 51; the limit is 50/);
    body = await refusal(
      { model: { layers: [{ type: 'dense', units: 10, inputShape: [784] }] }, data: mnist([784]) },
      400,
    );
    assert.equal(body.errors[0].path, '/compile/loss');
  });

  test('the dry run gives the summary, estimates and the warnings a practitioner would give', async () => {
    const validate = async (layers: unknown[], loss: string, shape = [784]) => {
      const res = await postJson(`${service.url}/v1/models/validate`, {
        model: { layers },
        compile: { loss },
        data: mnist(shape),
      });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      return res.body;
    };
    let report = await validate(
      [{ type: 'dense', units: 10, activation: 'sigmoid', inputShape: [784] }],
      'categorical_crossentropy',
    );
    assert.match(report.warnings.join('\n'), /sigmoid with categoricalCrossentropy/);
    report = await validate([{ type: 'dense', units: 10, inputShape: [784] }], 'categorical_crossentropy');
    assert.match(report.warnings.join('\n'), /has no activation/);
    report = await validate(
      [
        { type: 'conv2d', filters: 64, kernelSize: 3, padding: 'same', inputShape: [28, 28, 1] },
        { type: 'flatten' },
        { type: 'dense', units: 64, activation: 'relu' },
        { type: 'dense', units: 10, activation: 'softmax' },
      ],
      'categorical_crossentropy',
      [28, 28, 1],
    );
    assert.match(report.warnings.join('\n'), /after flatten takes 50176 features and holds 3,211,328 parameters/);
    assert.equal(report.summary.totalParams, 640 + 3_211_328 + 650);
    assert.equal(report.estimates.batchSize, 32);
    // conv: 2 x 576 weights x 784 positions; dense: 2 x weights
    assert.ok(report.estimates.flopsPerSample >= 2 * 576 * 784 + 2 * 3_211_264 + 2 * 640);
  });
});
