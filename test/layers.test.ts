import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import type { AppError } from '../src/errors.ts';
import { LAYER_TYPES } from '../src/schemas/layers.ts';
import type { ModelSpec } from '../src/schemas/job-request.ts';
import { initBackend } from '../src/compute/backend.ts';
import { buildModel, summarize } from '../src/model/build-model.ts';
import { compileModel, parseCompile } from '../src/model/compile.ts';
import { parseModel } from '../src/model/model-spec.ts';
import { testBackend } from './helpers.ts';

/** One small model per layer type: [input shape, layers, integer inputs?]. */
type Layer = { type: string; [option: string]: unknown };
const CASES: Record<string, [number[], Layer[], boolean?]> = {
  dense: [
    [4],
    [
      {
        type: 'dense',
        units: 3,
        activation: 'relu',
        kernelInitializer: 'he_normal',
        kernelRegularizer: 'l2',
        kernelConstraint: { type: 'maxNorm', maxValue: 2 },
      },
    ],
  ],
  dropout: [
    [4],
    [
      { type: 'dropout', rate: 0.5 },
      { type: 'dense', units: 2 },
    ],
  ],
  flatten: [
    [2, 3],
    [{ type: 'flatten' }, { type: 'dense', units: 2 }],
  ],
  reshape: [[6], [{ type: 'reshape', targetShape: [2, 3] }, { type: 'flatten' }, { type: 'dense', units: 2 }]],
  activation: [
    [4],
    [
      { type: 'dense', units: 2 },
      { type: 'activation', activation: 'tanh' },
    ],
  ],
  batchNormalization: [[4], [{ type: 'dense', units: 3 }, { type: 'batchNormalization' }, { type: 'dense', units: 2 }]],
  layerNormalization: [[4], [{ type: 'dense', units: 3 }, { type: 'layerNormalization' }, { type: 'dense', units: 2 }]],
  conv1d: [
    [8, 2],
    [
      { type: 'conv1d', filters: 3, kernelSize: 3, activation: 'relu' },
      { type: 'flatten' },
      { type: 'dense', units: 2 },
    ],
  ],
  conv2d: [
    [6, 6, 1],
    [
      { type: 'conv2d', filters: 3, kernelSize: [3, 3], padding: 'same', strides: 2 },
      { type: 'flatten' },
      { type: 'dense', units: 2 },
    ],
  ],
  separableConv2d: [
    [6, 6, 2],
    [{ type: 'separableConv2d', filters: 3, kernelSize: 3 }, { type: 'flatten' }, { type: 'dense', units: 2 }],
  ],
  conv2dTranspose: [
    [3, 3, 2],
    [
      { type: 'conv2dTranspose', filters: 2, kernelSize: 3, strides: 2 },
      { type: 'flatten' },
      { type: 'dense', units: 2 },
    ],
  ],
  maxPooling1d: [
    [8, 2],
    [{ type: 'maxPooling1d', poolSize: 2 }, { type: 'flatten' }, { type: 'dense', units: 2 }],
  ],
  maxPooling2d: [
    [6, 6, 1],
    [
      { type: 'conv2d', filters: 2, kernelSize: 3 },
      { type: 'maxPooling2d', poolSize: [2, 2] },
      { type: 'flatten' },
      { type: 'dense', units: 2 },
    ],
  ],
  averagePooling1d: [
    [8, 2],
    [{ type: 'averagePooling1d', poolSize: 2 }, { type: 'flatten' }, { type: 'dense', units: 2 }],
  ],
  averagePooling2d: [
    [6, 6, 1],
    [{ type: 'averagePooling2d', poolSize: 2 }, { type: 'flatten' }, { type: 'dense', units: 2 }],
  ],
  globalAveragePooling1d: [
    [8, 2],
    [{ type: 'conv1d', filters: 3, kernelSize: 2 }, { type: 'globalAveragePooling1d' }, { type: 'dense', units: 2 }],
  ],
  globalAveragePooling2d: [
    [6, 6, 1],
    [{ type: 'conv2d', filters: 3, kernelSize: 2 }, { type: 'globalAveragePooling2d' }, { type: 'dense', units: 2 }],
  ],
  globalMaxPooling1d: [
    [8, 2],
    [{ type: 'globalMaxPooling1d' }, { type: 'dense', units: 2 }],
  ],
  globalMaxPooling2d: [
    [6, 6, 1],
    [{ type: 'conv2d', filters: 3, kernelSize: 2 }, { type: 'globalMaxPooling2d' }, { type: 'dense', units: 2 }],
  ],
  zeroPadding2d: [
    [4, 4, 1],
    [
      { type: 'zeroPadding2d', padding: 1 },
      { type: 'conv2d', filters: 2, kernelSize: 3 },
      { type: 'flatten' },
      { type: 'dense', units: 2 },
    ],
  ],
  upSampling2d: [
    [3, 3, 1],
    [
      { type: 'upSampling2d', size: [2, 2] },
      { type: 'conv2d', filters: 2, kernelSize: 3 },
      { type: 'flatten' },
      { type: 'dense', units: 2 },
    ],
  ],
  embedding: [
    [5],
    [{ type: 'embedding', inputDim: 10, outputDim: 4 }, { type: 'flatten' }, { type: 'dense', units: 2 }],
    true,
  ],
  simpleRNN: [
    [5, 3],
    [
      { type: 'simpleRNN', units: 4 },
      { type: 'dense', units: 2 },
    ],
  ],
  lstm: [
    [5, 3],
    [
      { type: 'lstm', units: 4, returnSequences: true },
      { type: 'lstm', units: 3, recurrentDropout: 0 },
      { type: 'dense', units: 2 },
    ],
  ],
  gru: [
    [5, 3],
    [
      { type: 'gru', units: 4 },
      { type: 'dense', units: 2 },
    ],
  ],
  bidirectional: [
    [5, 3],
    [
      { type: 'bidirectional', layer: { type: 'lstm', units: 4 }, mergeMode: 'concat' },
      { type: 'dense', units: 2 },
    ],
  ],
  timeDistributed: [
    [5, 3],
    [{ type: 'timeDistributed', layer: { type: 'dense', units: 4 } }, { type: 'flatten' }, { type: 'dense', units: 2 }],
  ],
  repeatVector: [
    [3],
    [
      { type: 'repeatVector', n: 4 },
      { type: 'simpleRNN', units: 2 },
    ],
  ],
  gaussianNoise: [
    [4],
    [
      { type: 'gaussianNoise', stddev: 0.1 },
      { type: 'dense', units: 2 },
    ],
  ],
  gaussianDropout: [
    [4],
    [
      { type: 'gaussianDropout', rate: 0.2 },
      { type: 'dense', units: 2 },
    ],
  ],
};

/** Graph-only layers: two dense branches merged. */
const MERGES = ['add', 'multiply', 'average', 'concatenate'];

before(async () => {
  await initBackend(...testBackend());
});

async function trainOneStep(spec: ModelSpec, inputShape: number[], integers = false) {
  const def = parseModel(spec);
  const model = buildModel(def, inputShape);
  try {
    compileModel(model, parseCompile({ optimizer: 'adam', loss: 'meanSquaredError' }));
    const outputs = model.outputs[0].shape.slice(1) as number[];
    const x = integers
      ? tf.randomUniform([4, ...inputShape], 0, 9, 'int32').toFloat()
      : tf.randomNormal([4, ...inputShape]);
    const y = tf.randomNormal([4, ...outputs]);
    const before = model.getWeights().map((w) => w.dataSync().slice());
    const history = await model.fit(x, y, { epochs: 1, batchSize: 4, verbose: 0 });
    const after = model.getWeights().map((w) => w.dataSync());
    tf.dispose([x, y]);
    assert.ok(Number.isFinite(history.history.loss[0] as number), 'a finite loss');
    assert.ok(
      before.some((w, i) => w.some((v, j) => v !== after[i][j])),
      'the weights changed',
    );
    return summarize(model);
  } finally {
    model.dispose();
  }
}

test('every layer type trains one step on this backend', async () => {
  const covered = new Set([...Object.keys(CASES), ...MERGES]);
  assert.deepEqual(
    LAYER_TYPES.filter((t) => !covered.has(t)),
    [],
    'every layer type has a case',
  );
  for (const [type, [shape, layers, integers]] of Object.entries(CASES)) {
    await trainOneStep({ layers }, shape, integers).catch((err: Error) => {
      throw new Error(`${type}: ${err.message}`);
    });
  }
});

test('graph models: two branches merged by each merge layer train', async () => {
  for (const merge of MERGES) {
    const spec = {
      inputs: [{ name: 'x', shape: [4] }],
      layers: [
        { type: 'dense', name: 'left', units: 3, activation: 'relu', inputs: ['x'] },
        { type: 'dense', name: 'right', units: 3, activation: 'tanh', inputs: ['x'] },
        { type: merge, name: 'merged', inputs: ['left', 'right'] },
        { type: 'dense', name: 'out', units: 2 },
      ],
      outputs: ['out'],
    } as ModelSpec;
    const summary = await trainOneStep(spec, [4]);
    assert.deepEqual(summary.layers.find((l) => l.name === 'merged')?.inputs, ['left', 'right'], merge);
  }
});

test('Keras 3 layer names, initializers and regularizer objects are understood', async () => {
  const layers = [
    {
      type: 'Conv2D',
      filters: 2,
      kernelSize: [3, 3],
      kernelInitializer: {
        className: 'VarianceScaling',
        config: { scale: 2, mode: 'fan_in', distribution: 'truncated_normal' },
      },
      kernelRegularizer: { className: 'L2', config: { l2: 0.001 } },
    },
    { type: 'MaxPooling2D', poolSize: [2, 2] },
    { type: 'GlobalAveragePooling2D' },
    { type: 'Dense', units: 2, biasConstraint: { className: 'NonNeg', config: {} } },
  ];
  const summary = await trainOneStep({ layers }, [6, 6, 1]);
  assert.equal(summary.layers[0].type, 'Conv2D');
});

test('wrong options are refused with their path', () => {
  const bad = (layers: unknown[]) => {
    try {
      parseModel({ layers } as ModelSpec);
    } catch (err) {
      return (err as AppError).errors.map((e) => e.path);
    }
    return [];
  };
  assert.deepEqual(bad([{ type: 'conv2d', filters: 2 }]), ['/model/layers/0/kernelSize']);
  assert.deepEqual(bad([{ type: 'dense', units: 2, kernelInitializer: 'glorot_magic' }]), [
    '/model/layers/0/kernelInitializer',
  ]);
  assert.deepEqual(bad([{ type: 'dense', units: 2, kernelRegularizer: { l2: -1 } }]), [
    '/model/layers/0/kernelRegularizer/l2',
  ]);
  assert.deepEqual(bad([{ type: 'bidirectional', layer: { type: 'dense', units: 2 } }]), [
    '/model/layers/0/layer/type',
  ]);
  assert.deepEqual(bad([{ type: 'lstm', units: 2, returnState: true }]), ['/model/layers/0/returnState']);
  assert.deepEqual(bad([{ type: 'conv2d', filters: 2, kernelSize: 3, dilationRate: 2 }]), [
    '/model/layers/0/dilationRate',
  ]);
  assert.deepEqual(bad([{ type: 'dense', units: 2 }, { type: 'add' }]), ['/model/layers/1']);
  assert.deepEqual(
    bad([
      { type: 'dense', units: 2, inputs: ['nowhere'] },
      { type: 'dense', name: 'b', units: 1 },
    ]).length,
    0,
  );
  assert.deepEqual(
    bad([
      { type: 'dense', name: 'a', units: 2 },
      { type: 'dense', name: 'b', units: 1, inputs: ['c'] },
    ]),
    ['/model/layers/1/inputs/0'],
  );
});

test('conv2d gradients computed on wasm match the cpu backend', async (t) => {
  if (tf.getBackend() !== 'wasm') return t.skip('not on wasm');
  const cases: [number[], number[], number, 'valid' | 'same'][] = [
    [[2, 7, 7, 3], [3, 3, 3, 4], 1, 'valid'],
    [[2, 8, 9, 3], [3, 3, 3, 5], 1, 'same'],
    [[2, 8, 8, 3], [3, 3, 3, 5], 2, 'same'],
    [[3, 10, 10, 1], [5, 5, 1, 2], 2, 'valid'],
    [[1, 6, 6, 2], [2, 2, 2, 3], 1, 'same'],
    // patches over 64 values take the convolution path for the filter gradient
    [[2, 7, 7, 8], [3, 3, 8, 4], 1, 'valid'],
    [[2, 6, 7, 9], [3, 3, 9, 2], 1, 'same'],
  ];
  for (const [xShape, fShape, stride, pad] of cases) {
    const xs = Array.from({ length: xShape.reduce((a, b) => a * b) }, (_, i) => Math.sin(i));
    const fs = Array.from({ length: fShape.reduce((a, b) => a * b) }, (_, i) => Math.cos(i));
    const grads = () =>
      tf.tidy(() => {
        const g = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
          tf
            .conv2d(a as tf.Tensor4D, b as tf.Tensor4D, stride, pad)
            .square()
            .sum(),
        );
        return g([tf.tensor(xs, xShape), tf.tensor(fs, fShape)]).map((v) => Array.from(v.dataSync()));
      });
    const wasm = grads();
    await tf.setBackend('cpu');
    const cpu = grads();
    await tf.setBackend('wasm');
    wasm.forEach((values, i) => {
      const scale = Math.max(...cpu[i].map(Math.abs));
      const worst = Math.max(...values.map((v, j) => Math.abs(v - cpu[i][j])));
      assert.ok(
        worst <= 1e-5 * scale,
        `${JSON.stringify([xShape, fShape, stride, pad])} ${i === 0 ? 'dx' : 'dW'} differs by ${worst} (scale ${scale})`,
      );
    });
  }
});
