import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { AppError } from '../src/errors.ts';
import { camelizeKeys } from '../src/model/keras-names.ts';
import { parseModel } from '../src/model/model-spec.ts';
import { parseCompile } from '../src/model/compile.ts';
import type { ModelSpec } from '../src/schemas/job-request.ts';

const keras2Mlp = {
  class_name: 'Sequential',
  config: {
    name: 'sequential',
    layers: [
      {
        class_name: 'Dense',
        config: {
          name: 'dense',
          trainable: true,
          batch_input_shape: [null, 784],
          dtype: 'float32',
          units: 512,
          activation: 'relu',
          use_bias: true,
          kernel_initializer: { class_name: 'GlorotUniform', config: { seed: null } },
          bias_initializer: { class_name: 'Zeros', config: {} },
          kernel_regularizer: null,
          bias_regularizer: null,
          activity_regularizer: null,
          kernel_constraint: null,
          bias_constraint: null,
        },
      },
      { class_name: 'Dropout', config: { name: 'dropout', trainable: true, rate: 0.2, noise_shape: null, seed: null } },
      { class_name: 'Dense', config: { name: 'dense_1', units: 10, activation: 'softmax' } },
    ],
  },
  keras_version: '2.15.0',
  backend: 'tensorflow',
};

test('a Keras to_json() Sequential document becomes layer definitions', () => {
  const { layers } = parseModel(camelizeKeys(keras2Mlp) as ModelSpec);
  assert.deepEqual(
    layers.map((l) => l.type),
    ['dense', 'dropout', 'dense'],
  );
  assert.deepEqual(layers[0].args.inputShape, [784]);
  assert.deepEqual(layers[0].args.kernelInitializer, { name: 'glorotUniform', config: {} });
  assert.equal(layers[0].path, '/model/config/layers/0/config');
});

test('every problem in a model is reported with its path', () => {
  const model = {
    layers: [
      { type: 'dense', units: 0 },
      { type: 'conv9d' },
      { type: 'dense', units: 3, activation: 'relux' },
      { type: 'dropout', rate: 0.5, extra: 1 },
    ],
  };
  assert.throws(
    () => parseModel(model),
    (e: AppError) => {
      const paths = e.errors.map((x) => x.path);
      assert.equal(e.status, 400);
      assert.ok(paths.includes('/model/layers/0/units'));
      assert.ok(paths.includes('/model/layers/1/type'));
      assert.ok(paths.includes('/model/layers/2/activation'));
      assert.ok(paths.includes('/model/layers/3/extra'));
      return true;
    },
  );
});

test('Keras spellings of losses, optimizers and activations are accepted', () => {
  const compile = parseCompile({
    optimizer: { type: 'RMSprop', learningRate: 0.01 },
    loss: 'categorical_crossentropy',
    metrics: ['acc'],
  });
  assert.equal(compile.optimizer.type, 'rmsprop');
  assert.equal(compile.loss, 'categoricalCrossentropy');
  assert.deepEqual(compile.metrics, ['accuracy']);
  assert.equal(
    parseModel({ layers: [{ type: 'dense', units: 1, activation: 'hard_sigmoid' }] }).layers[0].args.activation,
    'hardSigmoid',
  );
  assert.throws(
    () => parseCompile({ optimizer: 'adamw2', loss: 'mse' }),
    (e: AppError) => e.errors[0].path === '/compile/optimizer',
  );
});
