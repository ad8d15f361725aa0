/**
 * Where one training step of the MNIST network spends its time, kernel by kernel:
 *   npx tsx bench/profile-step.ts        (BENCH_STOCK_MATMUL=1 for the stock matmul kernels,
 *                                         BENCH_STOCK_OPTIMIZER=1 for tfjs's own RMSProp updates,
 *                                         BENCH_STOCK_STEP=1 for all of the step changes off:
 *                                         optimizer, matmul swap, Identity, gather)
 * Prints fit time per batch over N digits (BENCH_TRAIN, default 6,000) and tf.profile's
 * kernel times for one trainOnBatch. A tool for finding the next slow pass, not a benchmark.
 */
import * as tf from '@tensorflow/tfjs';
import { loadMnist } from '../src/data/mnist.ts';
import { initBackend } from '../src/compute/backend.ts';
import { setMatMulSwaps, unrouteTransposedMatMuls } from '../src/compute/accelerations/wasm-matmul.ts';
import { unshareWasmIdentity } from '../src/compute/accelerations/wasm-identity.ts';
import { stockWasmGather } from '../src/compute/accelerations/wasm-gather.ts';
import { fuseOptimizerUpdates, setFusedOptimizerUpdates } from '../src/compute/accelerations/fused-optimizers.ts';

const backend = await initBackend((process.env.TFJS_BACKEND as 'wasm' | 'cpu' | undefined) ?? 'wasm');
if (process.env.BENCH_STOCK_MATMUL === '1') unrouteTransposedMatMuls();
if (process.env.BENCH_STOCK_OPTIMIZER === '1' || process.env.BENCH_STOCK_STEP === '1') setFusedOptimizerUpdates(false);
if (process.env.BENCH_STOCK_STEP === '1') {
  setMatMulSwaps(false);
  unshareWasmIdentity();
  stockWasmGather();
}
const n = Number(process.env.BENCH_TRAIN ?? 6000);
const data = await loadMnist({ train: n, test: 1 });
const x = tf.tidy(() => tf.tensor(Float32Array.from(data.train.x), [n, 784]).div(255));
const y = tf.tidy(() => tf.oneHot(tf.tensor1d(Int32Array.from(data.train.y), 'int32'), 10).toFloat());
const model = tf.sequential({
  layers: [
    tf.layers.dense({ units: 512, activation: 'relu', inputShape: [784] }),
    tf.layers.dense({ units: 10, activation: 'softmax' }),
  ],
});
model.compile({
  optimizer: fuseOptimizerUpdates(tf.train.rmsprop(0.001)),
  loss: 'categoricalCrossentropy',
  metrics: ['accuracy'],
});
await model.fit(x.slice(0, 1280), y.slice(0, 1280), { epochs: 1, batchSize: 128, verbose: 0 });
const started = performance.now();
await model.fit(x, y, { epochs: 1, batchSize: 128, verbose: 0 });
const perBatch = (performance.now() - started) / Math.ceil(n / 128);
console.log(
  `${backend}: fit ${perBatch.toFixed(2)} ms/batch = ${((perBatch * 469) / 1000).toFixed(1)} s per 60,000-digit epoch`,
);

const xb = x.slice(0, 128);
const yb = y.slice(0, 128);
await model.trainOnBatch(xb, yb);
const profile = await tf.profile(async () => void (await model.trainOnBatch(xb, yb)));
const byKernel = new Map<string, { ms: number; calls: number }>();
for (const k of profile.kernels) {
  const entry = byKernel.get(k.name) ?? { ms: 0, calls: 0 };
  entry.ms += Number(k.kernelTimeMs);
  entry.calls++;
  byKernel.set(k.name, entry);
}
const total = [...byKernel.values()].reduce((s, e) => s + e.ms, 0);
console.log(`one trainOnBatch: ${profile.kernels.length} kernels, ${total.toFixed(2)} ms in kernels`);
for (const [name, e] of [...byKernel].sort((a, b) => b[1].ms - a[1].ms).slice(0, 15))
  console.log(`  ${name.padEnd(22)} ${e.ms.toFixed(2).padStart(7)} ms  ${e.calls} call(s)`);
for (const k of profile.kernels.filter((k) => /MatMul/.test(k.name)))
  console.log(`  ${k.name} ${JSON.stringify(k.inputShapes)} ${Number(k.kernelTimeMs).toFixed(2)} ms`);
process.exit(0);
