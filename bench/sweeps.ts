/**
 * `npm run bench:sweeps`: two questions about sweeps, answered by real processes (an API
 * process and worker processes on the shared Redis, under a prefix and data directory of
 * their own, removed afterwards). The workers run the compiled build in dist/ (the script
 * builds first), as `npm run worker` does in production:
 *
 *  1. parallel: a random sweep of small MNIST trials with parallelism 2 over 2 worker
 *     processes, against the same trials one after another on 1 worker (parallelism 1).
 *     Wall time from the POST to the sweep's end; the ratio's target is <= 0.6.
 *  2. halving: successive halving against a grid over the same (categorical) space: the best
 *     objective of each and the epochs each trained (the sum of its trials' `epochs`); the
 *     epochs ratio's target is <= 0.5. The noise halving's best is judged against is the
 *     spread (max - min) of the grid's best configuration retrained under other `fit.seed`s
 *     (another initialisation and validation split), the grid's own run included.
 *
 * Also reported: the load average, the backend and the threads the wasm backend runs with in
 * this Node, and the peak CPU one training child used over 1 s windows (above ~1 core would
 * mean a child computes on more than one thread, and two children would then share 2 cores
 * with more than 2 threads). A table on stderr, one JSON line on stdout.
 *
 *   env: BENCH_SWEEP_TRAIN (10000 digits) BENCH_SWEEP_EPOCHS (6, part 1) BENCH_SWEEP_TRIALS (16)
 *        BENCH_SWEEP_ROUNDS (1: serial and parallel once each; more alternate their order)
 *        BENCH_SWEEP_HALVING_EPOCHS (9) BENCH_SWEEP_HALVING_SEEDS (3) BENCH_SWEEP_NOISE_SEEDS (3)
 *        BENCH_SWEEP_ONLY (parallel|halving) BENCH_SWEEP_PIN (1: in part 1 each worker and its
 *        training child on a core of its own, via taskset: each worker a one-core machine)
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/compute/backend.ts';
import type { Config } from '../src/config.ts';
import type { JobRequest } from '../src/schemas/job-request.ts';
import { spawnApi } from './api-process.ts';
import { freePort } from './ports.ts';
import { cleanup, getJson, postJson, smallMnistJob, testConfig } from './service.ts';
import { descendants, emit, median, round, table } from './stats.ts';
import { spawnWorker } from './worker-process.ts';

const env = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
const TRAIN = env('BENCH_SWEEP_TRAIN', 10000);
const EPOCHS = env('BENCH_SWEEP_EPOCHS', 6);
const TRIALS = env('BENCH_SWEEP_TRIALS', 16);
const ROUNDS = env('BENCH_SWEEP_ROUNDS', 1);
const HALVING_EPOCHS = env('BENCH_SWEEP_HALVING_EPOCHS', 9);
const NOISE_SEEDS = env('BENCH_SWEEP_NOISE_SEEDS', 3);
const HALVING_SEEDS = env('BENCH_SWEEP_HALVING_SEEDS', 3);
const ONLY = process.env.BENCH_SWEEP_ONLY;
/** Part 1 with each worker (and its training child) pinned to a core of its own: workers as one-core machines. */
const PIN = process.env.BENCH_SWEEP_PIN === '1';

const LR = '/compile/optimizer/learningRate';
const UNITS = '/model/layers/0/units';
const loadAverage = () => os.loadavg().map((l) => round(l, 2));
const commit = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).stdout.trim();

/** The small MNIST dense net on TRAIN digits, adam, a 20% validation split for val_acc. */
const baseJob = (epochs: number): JobRequest =>
  smallMnistJob({
    compile: {
      optimizer: { type: 'adam', learningRate: 0.001 },
      loss: 'categoricalCrossentropy',
      metrics: ['accuracy'],
    },
    data: { ...smallMnistJob().data, limit: { train: TRAIN, test: 128 } },
    fit: { epochs, batchSize: 64, validationSplit: 0.2, shuffle: true, seed: 1 },
    evaluate: false,
  });

const config = await testConfig({ RATE_LIMIT_PER_MINUTE: '1000000000', PORT: String(await freePort()) });
const api = await spawnApi(config);
const workers: ReturnType<typeof spawnWorker>[] = [];
const loads: number[] = [];
const cpu = childCpuSampler();

try {
  const record: Record<string, unknown> = {
    bench: 'sweeps',
    date: new Date().toISOString(),
    commit,
    cores: os.cpus().length,
    loadStart: loadAverage(),
  };
  if (ONLY !== 'halving') Object.assign(record, await parallelPart());
  if (ONLY !== 'parallel') Object.assign(record, await halvingPart());
  record.peakChildCpuCores = round(cpu.peak(), 2);
  record.childCpuSecondsByThread = cpu.byThread();
  record.loadEnd = loadAverage();
  record.loadMedian1m = round(median(loads), 2);
  Object.assign(record, await backendThreads());
  process.stderr.write(
    `backend ${record.backend}, wasm threads per process ${record.wasmThreads} (multithread support: ` +
      `${record.wasmMultithreadSupport}); peak CPU of one training child ${record.peakChildCpuCores} cores; ` +
      `children's CPU s ${JSON.stringify(record.childCpuSecondsByThread)}; load average ${record.loadStart} -> ${record.loadEnd} (median 1m ${record.loadMedian1m})\n`,
  );
  emit(record);
} finally {
  cpu.stop();
  await stopWorkers();
  api.child.kill('SIGTERM');
  await api.exited;
  await cleanup(config);
}

async function parallelPart() {
  const sweep = (parallelism: number) => ({
    name: `bench-parallel-${parallelism}`,
    job: baseJob(EPOCHS),
    parameters: { [LR]: { min: 1e-3, max: 3e-2, scale: 'log' }, [UNITS]: { values: [32, 64] } },
    strategy: { type: 'random', seed: 11 },
    objective: { metric: 'val_acc', goal: 'max' },
    maxTrials: TRIALS,
    parallelism,
  });
  const runs: { mode: string; wallS: number; submitS: number; trialMedianS: number; epochs: number; load1m: number }[] =
    [];
  for (let r = 0; r < ROUNDS; r++) {
    const order = r % 2 === 0 ? [1, 2] : [2, 1];
    for (const n of order) {
      // Fresh workers each time: every configuration pays its children's start once per worker.
      await startWorkers(n, PIN);
      const result = await runSweep(sweep(n));
      await stopWorkers();
      const trialSeconds = result.sweep.trials.map(
        (t: any) => (Date.parse(t.finishedAt) - Date.parse(t.startedAt)) / 1000,
      );
      runs.push({
        mode: `${n === 1 ? 'serial: 1 worker, parallelism 1' : 'parallel: 2 workers, parallelism 2'}${PIN ? ', pinned' : ''}`,
        wallS: round(result.wallMs / 1000, 1),
        submitS: round(result.submitMs / 1000, 2),
        trialMedianS: round(median(trialSeconds), 2),
        epochs: totalEpochs(result.sweep),
        load1m: round(os.loadavg()[0], 2),
      });
    }
  }
  table(`${TRIALS}-trial random sweep, ${TRAIN} digits, ${EPOCHS} epochs each`, runs);
  const serial = median(runs.filter((r) => r.mode.startsWith('serial')).map((r) => r.wallS));
  const parallel = median(runs.filter((r) => r.mode.startsWith('parallel')).map((r) => r.wallS));
  const ratio = round(parallel / serial, 3);
  process.stderr.write(`parallel/serial wall: ${ratio} (target <= 0.6)\n`);
  return {
    parallel: {
      trials: TRIALS,
      train: TRAIN,
      epochs: EPOCHS,
      pinned: PIN,
      runs,
      serialS: serial,
      parallelS: parallel,
      ratio,
    },
  };
}

async function halvingPart() {
  await startWorkers(2);
  const parameters = {
    [LR]: { values: [1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2] },
    [UNITS]: { values: [32, 128] },
  };
  const common = { job: baseJob(HALVING_EPOCHS), parameters, objective: { metric: 'val_acc', goal: 'max' } };
  const gridSize = 12;
  const grid = await runSweep({
    ...common,
    name: 'bench-grid',
    strategy: { type: 'grid' },
    maxTrials: gridSize,
    parallelism: 2,
  });
  // Halving's sample (and so its epochs) depends on its seed: several seeds, each as many trials as the grid.
  const halvings = [];
  for (let seed = 1; seed <= HALVING_SEEDS; seed++) {
    const run = await runSweep({
      ...common,
      name: `bench-halving-${seed}`,
      strategy: { type: 'halving', seed, minEpochs: 1, reductionFactor: 3 },
      maxTrials: gridSize,
      parallelism: 2,
    });
    halvings.push({ seed, ...run });
  }
  // The noise: the grid's best configuration again under other seeds.
  const bestParameters = grid.sweep.trials[grid.sweep.best.index].parameters;
  const bestJob = structuredClone(common.job) as any;
  bestJob.compile.optimizer.learningRate = bestParameters[LR];
  bestJob.model.layers[0].units = bestParameters[UNITS];
  const seeds = await runSweep({
    name: 'bench-noise',
    job: bestJob,
    parameters: { '/fit/seed': { values: Array.from({ length: NOISE_SEEDS }, (_, i) => i + 2) } },
    strategy: { type: 'grid' },
    objective: common.objective,
    maxTrials: NOISE_SEEDS,
    parallelism: 2,
  });
  await stopWorkers();
  const seedObjectives = [grid.sweep.best.objective, ...seeds.sweep.trials.map((t: any) => t.objective)];
  const noise = Math.max(...seedObjectives) - Math.min(...seedObjectives);
  const gridBest = grid.sweep.best.objective;
  const gridEpochs = totalEpochs(grid.sweep);
  const rows = [
    {
      strategy: 'grid',
      trials: grid.sweep.trials.length,
      stopped: 0,
      epochs: gridEpochs,
      best: round(gridBest, 4),
      bestParameters: JSON.stringify(bestParameters),
      wallS: round(grid.wallMs / 1000, 1),
    },
    ...halvings.map((h) => ({
      strategy: `halving seed ${h.seed} (η 3, rungs ${HALVING_EPOCHS > 3 ? '1, 3' : '1'})`,
      trials: h.sweep.trials.length,
      stopped: h.sweep.trials.filter((t: any) => t.status === 'stopped').length,
      epochs: totalEpochs(h.sweep),
      best: round(h.sweep.best.objective, 4),
      bestParameters: JSON.stringify(h.sweep.trials[h.sweep.best.index].parameters),
      wallS: round(h.wallMs / 1000, 1),
    })),
  ];
  table(`halving vs grid, ${TRAIN} digits, ${HALVING_EPOCHS} epochs a full trial, val_acc`, rows);
  const halvingEpochs = median(halvings.map((h) => totalEpochs(h.sweep)));
  const halvingBest = median(halvings.map((h) => h.sweep.best.objective));
  const epochsRatio = round(halvingEpochs / gridEpochs, 3);
  const gap = gridBest - halvingBest;
  process.stderr.write(
    `median over ${HALVING_SEEDS} halving seeds: epochs halving/grid ${epochsRatio} (target <= 0.5); ` +
      `best gap (grid - halving) ${round(gap, 4)} vs noise ${round(noise, 4)} ` +
      `(the grid's best config over fit.seed 1..${NOISE_SEEDS + 1}: ${seedObjectives.map((o) => round(o, 4)).join(', ')})\n`,
  );
  return {
    halving: {
      train: TRAIN,
      epochs: HALVING_EPOCHS,
      gridBest,
      gridEpochs,
      halvingRuns: halvings.map((h) => ({
        seed: h.seed,
        best: h.sweep.best.objective,
        epochs: totalEpochs(h.sweep),
        stopped: h.sweep.trials.filter((t: any) => t.status === 'stopped').length,
      })),
      halvingBestMedian: halvingBest,
      halvingEpochsMedian: halvingEpochs,
      epochsRatio,
      seedObjectives,
      noise,
      withinNoise: gap <= noise,
      withinHundredth: gap <= 0.01,
    },
  };
}

/**
 * The backend the training children pick, started in this process the same way after the
 * measurements (loading it earlier would take CPU from them), and the threads it computes on.
 */
async function backendThreads() {
  const backend = await initBackend(config.TFJS_BACKEND, config.TFJS_ACCELERATION);
  if (backend !== 'wasm') return { backend, wasmThreads: null, wasmMultithreadSupport: null };
  const wasm = await import('@tensorflow/tfjs-backend-wasm');
  return {
    backend,
    wasmThreads: wasm.getThreadsCount(),
    wasmMultithreadSupport: Boolean(await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT')),
  };
}

/** Submits a sweep and follows it to its end (polling its record, as a dashboard would). */
async function runSweep(request: unknown) {
  const started = performance.now();
  const submitted = await postJson(`${api.url}/v1/sweeps`, request);
  if (submitted.status !== 202)
    throw new Error(`sweep answered ${submitted.status}: ${JSON.stringify(submitted.body)}`);
  const submitMs = performance.now() - started;
  for (;;) {
    const { body } = await getJson(`${api.url}/v1/sweeps/${submitted.body.id}`);
    if (['completed', 'failed', 'cancelled'].includes(body.status)) {
      if (body.status !== 'completed') throw new Error(`sweep ${body.status}: ${JSON.stringify(body)}`);
      return { sweep: body, wallMs: performance.now() - started, submitMs };
    }
    loads.push(os.loadavg()[0]);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function totalEpochs(sweep: any): number {
  return sweep.trials.reduce((n: number, t: any) => n + t.epochs, 0);
}

async function startWorkers(n: number, pin = false) {
  for (let i = 0; i < n; i++)
    workers.push(spawnWorker(config as Config, {}, { compiled: true, cpu: pin ? i % os.cpus().length : undefined }));
  for (const worker of workers) {
    for (let i = 0; i < 600 && !worker.output().includes('worker ready'); i++) {
      if (worker.child.exitCode !== null) throw new Error(`a worker exited:\n${worker.output()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

async function stopWorkers() {
  for (const worker of workers.splice(0)) {
    worker.child.kill('SIGTERM');
    await worker.exited;
  }
}

/**
 * Samples, every second, the CPU time of every training child (a BullMQ sandboxed processor
 * under a worker): the highest share of a core one child used in a window, and the CPU time
 * of all children split into the main thread (where the wasm kernels run) and the helper
 * threads (V8's garbage collector and compilers, libuv's pool), to tell what a child's
 * second core, if any, goes to.
 */
function childCpuSampler() {
  const ticksPerSecond = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;
  const cpuTicks = (statFile: string) => {
    const stat = readFileSync(statFile, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]); // utime + stime
  };
  let last = new Map<number, number>();
  const lastThreads = new Map<string, number>();
  const byThread = new Map<string, number>();
  let lastAt = performance.now();
  let peak = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    const ticks = new Map<number, number>();
    for (const pid of workers.flatMap((w) => (w.child.pid ? descendants(w.child.pid) : []))) {
      try {
        if (!readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('bullmq')) continue;
        ticks.set(pid, cpuTicks(`/proc/${pid}/stat`));
        for (const tid of readdirSync(`/proc/${pid}/task`)) {
          const thread = cpuTicks(`/proc/${pid}/task/${tid}/stat`);
          const key = `${pid}/${tid}`;
          const delta = thread - (lastThreads.get(key) ?? thread);
          lastThreads.set(key, thread);
          // Node names no thread: the main thread is the one whose id is the process's.
          const name = tid === String(pid) ? 'main' : 'helpers';
          byThread.set(name, (byThread.get(name) ?? 0) + delta / ticksPerSecond);
        }
      } catch {
        // the child ended meanwhile
      }
    }
    for (const [pid, t] of ticks) {
      const before = last.get(pid);
      if (before !== undefined) peak = Math.max(peak, (t - before) / ticksPerSecond / ((now - lastAt) / 1000));
    }
    last = ticks;
    lastAt = now;
  }, 1000);
  return {
    peak: () => peak,
    /** CPU seconds of the training children: main thread and helper threads. */
    byThread: () =>
      Object.fromEntries(
        [...byThread]
          .filter(([, s]) => s >= 0.05)
          .sort((a, b) => b[1] - a[1])
          .map(([n, s]) => [n, round(s, 1)]),
      ),
    stop: () => clearInterval(timer),
  };
}
