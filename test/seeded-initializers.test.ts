import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import type { ModelSpec } from '../src/schemas/job-request.ts';
import { initBackend } from '../src/compute/backend.ts';
import { buildModel } from '../src/model/build-model.ts';
import { parseModel } from '../src/model/model-spec.ts';
import { testBackend } from './helpers.ts';

before(() => initBackend(...testBackend()));

/** The initial weights of `spec` built with `seed`, as plain numbers. */
function initialWeights(spec: ModelSpec, inputShape: number[], seed?: number): number[][] {
  const model = buildModel(parseModel(spec), inputShape, { seed });
  try {
    return model.getWeights().map((w) => Array.from(w.dataSync()));
  } finally {
    model.dispose();
  }
}

// Every kind of random initializer tfjs gives a layer by default: glorot (dense, conv), orthogonal
// (recurrent kernels), uniform (embeddings), inside a cell and inside a wrapper.
const MODELS: [string, ModelSpec, number[]][] = [
  [
    'a dense stack',
    {
      layers: [
        { type: 'dense', units: 8, activation: 'relu' },
        { type: 'dense', units: 8 },
        { type: 'dense', units: 3 },
      ],
    } as ModelSpec,
    [4],
  ],
  [
    'a conv net',
    {
      layers: [{ type: 'conv2d', filters: 2, kernelSize: 3 }, { type: 'flatten' }, { type: 'dense', units: 2 }],
    } as ModelSpec,
    [6, 6, 1],
  ],
  [
    'an embedding and an LSTM',
    {
      layers: [
        { type: 'embedding', inputDim: 10, outputDim: 4 },
        { type: 'lstm', units: 3 },
        { type: 'dense', units: 2 },
      ],
    } as ModelSpec,
    [5],
  ],
  [
    'a bidirectional GRU',
    {
      layers: [
        { type: 'bidirectional', layer: { type: 'gru', units: 2 } },
        { type: 'dense', units: 1 },
      ],
    } as ModelSpec,
    [4, 3],
  ],
];

for (const [what, spec, shape] of MODELS) {
  test(`fit.seed gives ${what} the same initial weights on every build, and another seed other ones`, () => {
    const first = initialWeights(spec, shape, 7);
    assert.deepEqual(initialWeights(spec, shape, 7), first);
    assert.notDeepEqual(initialWeights(spec, shape, 8), first);
    assert.notDeepEqual(
      initialWeights(spec, shape),
      initialWeights(spec, shape),
      'without a seed, each build draws its own',
    );
  });
}

test('each initializer gets a seed of its own: same-shaped kernels do not start out equal', () => {
  const [kernel1, , kernel2] = initialWeights(
    {
      layers: [
        { type: 'dense', units: 4 },
        { type: 'dense', units: 4 },
      ],
    } as ModelSpec,
    [4],
    1,
  );
  assert.notDeepEqual(kernel1, kernel2);
  // kernel, recurrent kernel and bias of the forward layer, then the backward layer's
  const rnn = initialWeights(
    { layers: [{ type: 'bidirectional', layer: { type: 'simpleRNN', units: 2 } }] } as ModelSpec,
    [2, 2],
    1,
  );
  assert.equal(rnn.length, 6);
  assert.notDeepEqual(rnn[0], rnn[3], 'the backward layer starts from weights of its own');
  assert.notDeepEqual(rnn[1], rnn[4]);
});

test('a seed the request gives an initializer is kept', () => {
  const spec = (seed: number) =>
    ({
      layers: [{ type: 'dense', units: 3, kernelInitializer: { className: 'RandomNormal', config: { seed } } }],
    }) as unknown as ModelSpec;
  assert.deepEqual(
    initialWeights(spec(3), [2], 1)[0],
    initialWeights(spec(3), [2], 2)[0],
    'fit.seed does not override it',
  );
  assert.deepEqual(initialWeights(spec(3), [2])[0], initialWeights(spec(3), [2], 9)[0]);
  tf.disposeVariables();
});
