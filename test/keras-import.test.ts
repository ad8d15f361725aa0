import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import type { ModelSpec } from '../src/schemas/job-request.ts';
import { initBackend } from '../src/compute/backend.ts';
import { buildWithEstimates, summarize } from '../src/model/build-model.ts';
import { camelizeKeys } from '../src/model/keras-names.ts';
import { parseModel } from '../src/model/model-spec.ts';
import { testBackend } from './helpers.ts';

/** Keras 3 serializes every layer with these. */
const DT = { module: 'keras', class_name: 'DTypePolicy', config: { name: 'float32' }, registered_name: null };
const init = (c: string) => ({
  module: 'keras.initializers',
  class_name: c,
  config: ['Zeros', 'Ones'].includes(c) ? {} : { seed: null },
  registered_name: null,
});
const layer = (cls: string, config: Record<string, unknown>) => ({
  module: 'keras.layers',
  class_name: cls,
  config: { name: cls.toLowerCase(), trainable: true, dtype: DT, ...config },
  registered_name: null,
});
const rnn = (cls: string, extra: Record<string, unknown> = {}) =>
  layer(cls, {
    return_sequences: false,
    return_state: false,
    go_backwards: false,
    stateful: false,
    unroll: false,
    zero_output_for_mask: false,
    units: 8,
    activation: 'tanh',
    recurrent_activation: 'sigmoid',
    use_bias: true,
    kernel_initializer: init('GlorotUniform'),
    recurrent_initializer: init('Orthogonal'),
    bias_initializer: init('Zeros'),
    kernel_regularizer: null,
    recurrent_regularizer: null,
    bias_regularizer: null,
    activity_regularizer: null,
    kernel_constraint: null,
    recurrent_constraint: null,
    bias_constraint: null,
    dropout: 0.0,
    recurrent_dropout: 0.0,
    seed: null,
    ...extra,
  });
const norm = {
  epsilon: 0.001,
  center: true,
  scale: true,
  beta_initializer: init('Zeros'),
  gamma_initializer: init('Ones'),
  beta_regularizer: null,
  gamma_regularizer: null,
  beta_constraint: null,
  gamma_constraint: null,
};

/** A Keras 3 Sequential export exercising wrappers, RNNs and normalization with every key Keras 3 writes. */
const keras3Sequence = {
  module: 'keras',
  class_name: 'Sequential',
  config: {
    name: 'sequential',
    trainable: true,
    dtype: DT,
    layers: [
      {
        module: 'keras.layers',
        class_name: 'InputLayer',
        config: { batch_shape: [null, 10, 3], dtype: 'float32', sparse: false, name: 'input_layer' },
        registered_name: null,
      },
      layer('Bidirectional', {
        merge_mode: 'concat',
        layer: rnn('LSTM', { unit_forget_bias: true, use_cudnn: 'auto' }),
        backward_layer: rnn('LSTM', { unit_forget_bias: true, use_cudnn: 'auto', go_backwards: true }),
      }),
      layer('RepeatVector', { n: 4 }),
      rnn('GRU', { reset_after: true, use_cudnn: 'auto', return_sequences: true }),
      layer('TimeDistributed', {
        layer: layer('Dense', {
          units: 2,
          activation: 'linear',
          use_bias: true,
          kernel_initializer: init('GlorotUniform'),
          bias_initializer: init('Zeros'),
          kernel_regularizer: null,
          bias_regularizer: null,
          kernel_constraint: null,
          bias_constraint: null,
        }),
      }),
      layer('LayerNormalization', { axis: [-1], rms_scaling: false, ...norm }),
      layer('BatchNormalization', {
        axis: -1,
        momentum: 0.99,
        moving_mean_initializer: init('Zeros'),
        moving_variance_initializer: init('Ones'),
        synchronized: false,
        ...norm,
      }),
    ],
  },
  registered_name: null,
  build_config: { input_shape: [null, 10, 3] },
};

before(async () => {
  await initBackend(...testBackend());
});

test('a Keras 3 export with RNNs, wrappers and normalization builds with the estimated parameter counts', () => {
  const def = parseModel(camelizeKeys(keras3Sequence) as ModelSpec);
  assert.deepEqual(
    def.layers.map((l) => l.type),
    ['bidirectional', 'repeatVector', 'gru', 'timeDistributed', 'layerNormalization', 'batchNormalization'],
  );
  assert.match(def.warnings.join('\n'), /reset_after=True is not available/);
  const { model, plan } = buildWithEstimates(def, [10, 3]);
  try {
    const summary = summarize(model);
    assert.deepEqual(summary.outputShape, [null, 4, 2]);
    // Keras: Bidirectional(LSTM(8)) on 3 features = 2 x 4 x (3 + 8 + 1) x 8 = 768
    assert.equal(summary.layers[0].params, 768);
    assert.deepEqual(
      plan.estimates.map((e) => e.params),
      summary.layers.map((l) => l.params),
    );
    assert.equal(summary.nonTrainableParams, 4, 'the batch normalization moving mean and variance');
  } finally {
    model.dispose();
  }
});

test('what a Keras 2 / tfjs document writes is understood too', () => {
  const doc = {
    class_name: 'Functional',
    config: {
      name: 'model',
      layers: [
        {
          class_name: 'InputLayer',
          name: 'input_1',
          config: { batch_input_shape: [null, 12], dtype: 'float32', sparse: false, ragged: false, name: 'input_1' },
          inbound_nodes: [],
        },
        {
          class_name: 'Embedding',
          name: 'embedding',
          config: {
            name: 'embedding',
            trainable: true,
            dtype: 'float32',
            input_dim: 50,
            output_dim: 4,
            embeddings_initializer: {
              class_name: 'RandomUniform',
              config: { minval: -0.05, maxval: 0.05, seed: null },
            },
            embeddings_regularizer: null,
            activity_regularizer: null,
            embeddings_constraint: null,
            mask_zero: false,
            input_length: null,
          },
          inbound_nodes: [[['input_1', 0, 0, {}]]],
        },
        {
          class_name: 'Conv1D',
          name: 'conv1d',
          config: {
            name: 'conv1d',
            trainable: true,
            dtype: 'float32',
            filters: 6,
            kernel_size: [3],
            strides: [1],
            padding: 'causal',
            data_format: 'channels_last',
            dilation_rate: [1],
            groups: 1,
            activation: 'relu',
            use_bias: true,
            kernel_initializer: { class_name: 'HeNormal', config: { seed: null } },
            bias_initializer: { class_name: 'Zeros', config: {} },
            kernel_regularizer: { class_name: 'L1L2', config: { l1: 0.0, l2: 0.01 } },
            bias_regularizer: null,
            activity_regularizer: null,
            kernel_constraint: { class_name: 'MaxNorm', config: { max_value: 2, axis: 0 } },
            bias_constraint: null,
          },
          inbound_nodes: [[['embedding', 0, 0, {}]]],
        },
        {
          class_name: 'GlobalMaxPooling1D',
          name: 'pool',
          config: { name: 'pool', trainable: true, dtype: 'float32', data_format: 'channels_last', keepdims: false },
          inbound_nodes: [[['conv1d', 0, 0, {}]]],
        },
        {
          class_name: 'GlobalAveragePooling1D',
          name: 'avg',
          config: { name: 'avg', trainable: true, dtype: 'float32', data_format: 'channels_last', keepdims: false },
          inbound_nodes: [[['conv1d', 0, 0, {}]]],
        },
        {
          class_name: 'Average',
          name: 'average',
          config: { name: 'average', trainable: true, dtype: 'float32' },
          inbound_nodes: [
            [
              ['pool', 0, 0, {}],
              ['avg', 0, 0, {}],
            ],
          ],
        },
        {
          class_name: 'Dense',
          name: 'out',
          config: { name: 'out', units: 1, activation: 'sigmoid' },
          inbound_nodes: [[['average', 0, 0, {}]]],
        },
      ],
      input_layers: [['input_1', 0, 0]],
      output_layers: [['out', 0, 0]],
    },
    keras_version: '2.15.0',
    backend: 'tensorflow',
  };
  const def = parseModel(camelizeKeys(doc) as ModelSpec);
  const { model } = buildWithEstimates(def, [12]);
  try {
    assert.deepEqual(model.outputs[0].shape, [null, 1]);
    assert.deepEqual(summarize(model).layers.find((l) => l.name === 'average')?.inputs, ['pool', 'avg']);
  } finally {
    model.dispose();
  }
});
