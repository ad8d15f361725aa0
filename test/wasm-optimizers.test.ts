import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/compute/backend.ts';
import { fuseOptimizerUpdates, setFusedOptimizerUpdates } from '../src/compute/accelerations/fused-optimizers.ts';

type NamedTensor = { name: string; tensor: tf.Tensor };

/** Largest difference relative to the largest magnitude. */
function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string, tolerance = 1e-6) {
  assert.equal(actual.length, expected.length, `${what}: length`);
  let scale = 1e-12;
  let worst = 0;
  for (let i = 0; i < expected.length; i++) {
    if (Number.isNaN(expected[i]) && Number.isNaN(actual[i])) continue;
    scale = Math.max(scale, Math.abs(expected[i]));
    worst = Math.max(worst, Math.abs(actual[i] - expected[i]));
  }
  assert.ok(worst / scale <= tolerance, `${what}: differs by ${worst} (scale ${scale})`);
}

const OPTIMIZERS: Record<string, () => tf.Optimizer> = {
  rmsprop: () => tf.train.rmsprop(0.001),
  'rmsprop momentum': () => tf.train.rmsprop(0.01, 0.8, 0.9, 1e-6),
  'rmsprop centered (stock path)': () => tf.train.rmsprop(0.001, 0.9, 0.5, undefined, true),
  adam: () => tf.train.adam(0.01),
  'adam, custom betas': () => tf.train.adam(0.002, 0.8, 0.95, 1e-5),
};

interface Trained {
  weights: number[][];
  slots: { name: string; values: number[] }[];
  kernels: string[];
}

/** Trains the MNIST-shaped network a few steps from fixed weights; `after` lets a test change the optimizer mid-way. */
async function trainSteps(
  makeOptimizer: () => tf.Optimizer,
  fused: boolean,
  resumeFrom?: NamedTensor[],
  simd = true,
): Promise<Trained> {
  setFusedOptimizerUpdates(fused, { simd });
  try {
    const model = tf.sequential({
      layers: [
        tf.layers.dense({
          name: 'hidden',
          units: 32,
          activation: 'relu',
          inputShape: [50],
          kernelInitializer: tf.initializers.glorotUniform({ seed: 21 }),
        }),
        tf.layers.dense({
          name: 'out',
          units: 10,
          activation: 'softmax',
          kernelInitializer: tf.initializers.glorotUniform({ seed: 22 }),
          biasInitializer: tf.initializers.randomNormal({ seed: 23 }),
        }),
      ],
    });
    const optimizer = fuseOptimizerUpdates(makeOptimizer());
    model.compile({ optimizer, loss: 'categoricalCrossentropy' });
    if (resumeFrom)
      await optimizer.setWeights(resumeFrom.map(({ name, tensor }) => ({ name, tensor: tensor.clone() })));
    const x = tf.randomUniform([96, 50], 0, 1, 'float32', 24);
    const y = tf.oneHot(tf.randomUniform([96], 0, 10, 'int32', 25), 10).toFloat();
    await model.fit(x, y, { epochs: 2, batchSize: 32, shuffle: false, verbose: 0 });
    const profile = await tf.profile(async () => void (await model.trainOnBatch(x.slice(0, 32), y.slice(0, 32))));
    const weights = model.getWeights().map((w) => Array.from(w.dataSync()));
    const state = await optimizer.getWeights();
    const slots = state.map(({ name, tensor }) => ({ name, values: Array.from(tensor.dataSync()) }));
    for (const { tensor } of state) if (!(tensor instanceof tf.Variable)) tensor.dispose();
    tf.dispose([x, y]);
    model.dispose();
    optimizer.dispose();
    return { weights, slots, kernels: profile.kernels.map((k) => k.name) };
  } finally {
    setFusedOptimizerUpdates(true);
  }
}

function assertSame(fused: Trained, stock: Trained, what: string) {
  for (const [i, w] of fused.weights.entries()) assertClose(w, stock.weights[i], `${what}: weight ${i}`);
  // Layer weights get a numeric suffix when the name was used before in this process.
  const names = (t: Trained) => t.slots.map((s) => s.name.replace(/_\d+\//, '/'));
  assert.deepEqual(names(fused), names(stock), `${what}: optimizer state names`);
  for (const [i, s] of fused.slots.entries()) assertClose(s.values, stock.slots[i].values, `${what}: ${s.name}`);
}

for (const backendName of ['wasm', 'cpu'] as const) {
  describe(`fused optimizer updates on ${backendName} compute what the stock optimizers compute`, () => {
    before(async () => {
      await initBackend('wasm');
      await tf.setBackend(backendName);
    });

    for (const [name, make] of Object.entries(OPTIMIZERS)) {
      test(`${name}: weights and optimizer state after 7 steps`, async () => {
        const fused = await trainSteps(make, true);
        const stock = await trainSteps(make, false);
        assertSame(fused, stock, name);
        const usesFused = fused.kernels.some((k) => k.startsWith('TrainingFused'));
        assert.equal(usesFused, !name.includes('stock path'), `${name}: fused kernel used`);
        assert.ok(
          !stock.kernels.some((k) => k.startsWith('TrainingFused')),
          'the stock run should not use the fused kernel',
        );
      });
    }

    if (backendName === 'wasm') {
      test('wasm without the SIMD module (a runtime without WebAssembly SIMD) keeps the stock updates', async () => {
        for (const make of [OPTIMIZERS.rmsprop, OPTIMIZERS.adam]) {
          const noSimd = await trainSteps(make, true, undefined, false);
          const stock = await trainSteps(make, false);
          assertSame(noSimd, stock, 'no SIMD');
          assert.ok(!noSimd.kernels.some((k) => k.startsWith('TrainingFused')));
        }
      });
    }

    test('state saved by the stock optimizer resumes in the fused one, and the other way round (checkpoints)', async () => {
      for (const make of [OPTIMIZERS.rmsprop, OPTIMIZERS.adam]) {
        const first = await trainSteps(make, false);
        const state = first.slots.map(({ name, values }) => ({
          name,
          tensor: name === 'iter' ? tf.scalar(values[0], 'int32') : tf.tensor(values),
        }));
        // Slot shapes do not matter to setWeights' names/order; give them the variables' shapes for assign.
        const shaped = reshapeSlots(state, first);
        const fused = await trainSteps(make, true, shaped);
        const stock = await trainSteps(make, false, shaped);
        assertSame(fused, stock, 'resumed');
        tf.dispose(shaped.map((s) => s.tensor));
      }
    });

    test('no tensors leak', async () => {
      const model = tf.sequential({ layers: [tf.layers.dense({ units: 8, inputShape: [4] })] });
      const optimizer = fuseOptimizerUpdates(tf.train.rmsprop(0.01));
      model.compile({ optimizer, loss: 'meanSquaredError' });
      const x = tf.ones([16, 4]);
      const y = tf.zeros([16, 8]);
      await model.trainOnBatch(x, y);
      const before = tf.memory().numTensors;
      for (let i = 0; i < 5; i++) await model.trainOnBatch(x, y);
      assert.equal(tf.memory().numTensors, before);
      tf.dispose([x, y]);
      model.dispose();
      optimizer.dispose();
    });
  });
}

/** Optimizer slots come out of trainSteps flat; give each the shape of its model weight (order: kernel, bias, kernel, bias). */
function reshapeSlots(state: NamedTensor[], trained: Trained): NamedTensor[] {
  const shapes = [[50, 32], [32], [32, 10], [10]];
  let k = 0;
  return state.map(({ name, tensor }) => {
    if (name === 'iter') return { name, tensor };
    const shape = shapes[k++ % shapes.length];
    assert.equal(
      tensor.size,
      shape.reduce((a, b) => a * b, 1),
      `${name}: size (weights ${trained.weights.length})`,
    );
    const out = tensor.reshape(shape);
    tensor.dispose();
    return { name, tensor: out };
  });
}
