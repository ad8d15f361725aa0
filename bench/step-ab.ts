/**
 * Same-process A/B of training-step changes on the MNIST recipe network (wasm):
 *   npx tsx bench/step-ab.ts [--variants=all,-optimizer] [--rounds=30] [--batches=12]
 * `all` is every change on; `-name` switches one off (`-all` for all off, i.e. stock tfjs
 * apart from the routed matmuls). Each variant has its own model (same initial weights);
 * every round each one fits `batches` batches of 128 digits (`fit`, the worker's path), in a
 * rotating order, so load changes on the shared machine hit all variants alike. Prints, per
 * variant, the median ms per batch and the median of the per-round ratios to the first
 * variant. One JSON line on stdout, the table on stderr.
 */
import * as tf from '@tensorflow/tfjs';
import { loadMnist } from '../src/data/mnist.ts';
import { initBackend } from '../src/compute/backend.ts';
import { compileModel, parseCompile } from '../src/model/compile.ts';
import { setFusedOptimizerUpdates } from '../src/compute/accelerations/fused-optimizers.ts';
import { setMatMulSwaps } from '../src/compute/accelerations/wasm-matmul.ts';
import { shareWasmIdentity, unshareWasmIdentity } from '../src/compute/accelerations/wasm-identity.ts';
import { fastWasmGather, stockWasmGather } from '../src/compute/accelerations/wasm-gather.ts';
import { loadavg } from 'node:os';
import { median } from './stats.ts';

const arg = (name: string, fallback: string) =>
  process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? fallback;
const variants = arg('variants', 'all,-optimizer').split(',');
const rounds = Number(arg('rounds', '30'));
const batches = Number(arg('batches', '12'));
const batchSize = 128;
const n = batches * batchSize * 4;

/** Each switchable change: name -> (on) => void. */
const SWITCHES: Record<string, (on: boolean) => void> = {
  optimizer: setFusedOptimizerUpdates,
  swap: setMatMulSwaps,
  identity: (on) => (on ? shareWasmIdentity() : unshareWasmIdentity()),
  gather: (on) => (on ? fastWasmGather() : stockWasmGather()),
};

function apply(variant: string) {
  for (const [name, set] of Object.entries(SWITCHES)) set(variant !== '-all' && variant !== `-${name}`);
}

const backend = await initBackend('wasm');
const data = await loadMnist({ train: n, test: 1 });
const x = tf.tidy(() => tf.tensor(Float32Array.from(data.train.x), [n, 784]).div(255));
const y = tf.tidy(() => tf.oneHot(tf.tensor1d(Int32Array.from(data.train.y), 'int32'), 10).toFloat());
const settings = parseCompile({ optimizer: 'rmsprop', loss: 'categoricalCrossentropy', metrics: ['accuracy'] });

function makeModel() {
  const model = tf.sequential({
    layers: [
      tf.layers.dense({
        units: 512,
        activation: 'relu',
        inputShape: [784],
        kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }),
      }),
      tf.layers.dense({
        units: 10,
        activation: 'softmax',
        kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }),
      }),
    ],
  });
  compileModel(model, settings);
  return model;
}

const models = new Map(variants.map((v) => [v, makeModel()]));
const chunk = batches * batchSize;
async function run(variant: string, round: number): Promise<number> {
  apply(variant);
  const start = (round % 4) * chunk;
  const [xs, ys] = [x.slice(start, chunk), y.slice(start, chunk)];
  const started = performance.now();
  await models.get(variant)!.fit(xs, ys, { epochs: 1, batchSize, verbose: 0, shuffle: true });
  const ms = (performance.now() - started) / batches;
  tf.dispose([xs, ys]);
  return ms;
}

for (const v of variants) await run(v, 0); // warm-up
const times = new Map<string, number[]>(variants.map((v) => [v, []]));
const load: number[] = [];
for (let r = 0; r < rounds; r++) {
  for (let i = 0; i < variants.length; i++) {
    const v = variants[(i + r) % variants.length];
    times.get(v)!.push(await run(v, r));
  }
  if (r % 5 === 0) load.push(loadavg()[0]);
}
const first = times.get(variants[0])!;
const summary = variants.map((v) => {
  const ts = times.get(v)!;
  return {
    variant: v,
    medianMsPerBatch: median(ts),
    medianRatioToFirst: median(ts.map((t, i) => t / first[i])),
    runs: ts.map((t) => Number(t.toFixed(2))),
  };
});
for (const s of summary)
  process.stderr.write(
    `${s.variant.padEnd(12)} median ${s.medianMsPerBatch.toFixed(2)} ms/batch = ${((s.medianMsPerBatch * 469) / 1000).toFixed(1)} s/epoch  per-round ratio x${s.medianRatioToFirst.toFixed(3)} vs ${variants[0]}\n`,
  );
process.stderr.write(`load average during the run: ${load.map((l) => l.toFixed(1)).join(', ')}\n`);
console.log(JSON.stringify({ backend, rounds, batches, summary, load }));
process.exit(0);
