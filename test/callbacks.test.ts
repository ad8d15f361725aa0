import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import type { AppError } from '../src/errors.ts';
import { parseCallbacks, TrainingControl } from '../src/training/callbacks.ts';

const tiny = () => {
  const model = tf.sequential({ layers: [tf.layers.dense({ units: 1, inputShape: [2] })] });
  model.compile({ optimizer: tf.train.sgd(0.1), loss: 'meanSquaredError' });
  return model;
};
const weights = (m: tf.LayersModel) => m.getWeights().map((w) => Array.from(w.dataSync()));

test('modelCheckpoint keeps the best epoch by the monitored metric and restores it at the end', () => {
  const model = tiny();
  const control = new TrainingControl(
    model,
    parseCallbacks([{ type: 'ModelCheckpoint', monitor: 'loss', saveBestOnly: true }], ['loss'], false),
  );
  control.epochEnd(0, { loss: 0.9 });
  control.epochEnd(1, { loss: 0.5 });
  const best = weights(model);
  model.setWeights(model.getWeights().map((w) => tf.onesLike(w)));
  control.epochEnd(2, { loss: 0.7 });
  assert.deepEqual(control.finish(), { stoppedEpoch: undefined, bestEpoch: 2 });
  assert.deepEqual(weights(model), best);
  model.dispose();
});

test('earlyStopping: patience, minDelta, mode and baseline as in Keras', () => {
  const model = tiny();
  const control = new TrainingControl(
    model,
    parseCallbacks(
      [{ type: 'earlyStopping', monitor: 'val_accuracy', patience: 1, minDelta: 0.01 }],
      ['loss', 'acc', 'val_loss', 'val_acc'],
      true,
    ),
  );
  control.epochEnd(0, { val_acc: 0.8 });
  control.epochEnd(1, { val_acc: 0.805 }); // not better by minDelta: wait 1
  assert.notEqual(model.stopTraining, true);
  control.epochEnd(2, { val_acc: 0.809 }); // wait 2 > patience 1
  assert.equal(model.stopTraining, true);
  assert.equal(control.finish().stoppedEpoch, 3);
  model.dispose();
});

test('reduceLROnPlateau lowers the learning rate after patience epochs, down to minLr', () => {
  const model = tiny();
  const control = new TrainingControl(
    model,
    parseCallbacks(
      [{ type: 'reduceLROnPlateau', monitor: 'loss', patience: 1, factor: 0.5, minLr: 0.03 }],
      ['loss'],
      false,
    ),
  );
  const lrs: number[] = [];
  for (const [epoch, loss] of [1, 1, 1, 1, 1, 1].entries()) {
    const logs: Record<string, number> = { loss };
    control.epochEnd(epoch, logs);
    lrs.push(logs.lr);
  }
  // epoch 1: first plateau epoch (wait 1 = patience): halve; epoch 2: halve again, floored at minLr
  assert.deepEqual(lrs, [0.1, 0.05, 0.03, 0.03, 0.03, 0.03]);
  control.finish();
  model.dispose();
});

test('a callback monitoring a metric that is not logged is refused with what is available', () => {
  assert.throws(
    () => parseCallbacks([{ type: 'earlyStopping' }], ['loss', 'acc'], false),
    (e: AppError) =>
      e.status === 422 &&
      e.errors[0].path === '/fit/callbacks/0/monitor' &&
      /val_\* metrics need fit.validationSplit/.test(e.errors[0].message),
  );
  assert.throws(
    () => parseCallbacks([{ type: 'tensorBoard' }], ['loss'], false),
    (e: AppError) => e.errors[0].path === '/fit/callbacks/0/type',
  );
});

test('clipvalue and clipnorm bound every step, as Keras does', async () => {
  const { compileModel, parseCompile } = await import('../src/model/compile.ts');
  for (const [option, bound] of [
    ['clipvalue', 0.001],
    ['clipnorm', 0.002],
  ] as const) {
    const model = tf.sequential({ layers: [tf.layers.dense({ units: 3, inputShape: [4] })] });
    compileModel(model, parseCompile({ optimizer: { type: 'sgd', learningRate: 1, [option]: bound }, loss: 'mse' }));
    const before = model.getWeights().map((w) => w.clone());
    const x = tf.fill([8, 4], 100);
    const y = tf.fill([8, 3], -100);
    await model.fit(x, y, { epochs: 1, batchSize: 8, verbose: 0 });
    const steps = model.getWeights().map((w, i) => tf.sub(w, before[i]));
    if (option === 'clipvalue') assert.ok(steps.every((s) => tf.max(tf.abs(s)).dataSync()[0] <= bound + 1e-7));
    else
      assert.ok(
        steps.every((s) => tf.norm(s).dataSync()[0] <= bound + 1e-6),
        'each gradient clipped to the norm',
      );
    assert.ok(
      steps.some((s) => tf.max(tf.abs(s)).dataSync()[0] > 0),
      'it still trains',
    );
    tf.dispose([x, y, ...before, ...steps]);
    model.dispose();
  }
});
