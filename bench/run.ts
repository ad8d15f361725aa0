/**
 * `npm run bench`: the MNIST recipe (examples/mnist.json) trained in-process, through the
 * real service path (API -> BullMQ queue -> sandboxed worker child) storing on `file:`, and
 * through the same path storing on `s3://` (an S3 server, s3rver, that the bench runs in this
 * process), alternately, then predict requests against the trained model and a bare Fastify
 * JSON route of the same body size, alternately, in the same run. Prints the
 * service/in-process and the s3:/file: (service-s3/service) ratios. JSON lines on stdout,
 * tables on stderr.
 *
 *   npm run bench                       full: 60,000 digits, 5 epochs, 3 rounds
 *   npm run bench -- --quick            smoke: 6,000 digits, 1 epoch, 1 round, 2 s of load
 *   flags (or BENCH_* env): --runs=N --epochs=N --train=N (digits) --only=train|predict
 *     --modes=inproc,service,service-s3[,inproc-stock]  (stock: TFJS_ACCELERATION=off, stock tfjs kernels)
 *     --predict-seconds=N --concurrency=N
 *     --predict-targets=predict,bare[,predict-dense]  (predict-dense: the sparse matmul path off)
 * TFJS_BACKEND / TFJS_ACCELERATION apply to every mode except the forced ones.
 */
import { execFile, spawn } from 'node:child_process';
import { writeFileSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Fastify from 'fastify';
import { buildApp } from '../src/app.ts';
import type { JobRequest } from '../src/schemas/job-request.ts';
import { startWorker } from '../workers/worker.ts';
import { setSparseMatMul } from '../src/compute/accelerations/wasm-sparse-matmul.ts';
import type { Config } from '../src/config.ts';
import { startS3 } from './s3-server.ts';
import { cleanup, getJson, postJson, readEvents, testConfig, waitForJob } from './service.ts';
import { descendants, emit, median, peakRssMb, resetPeakRss, round, table } from './stats.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const args = new Map(
  process.argv.slice(2).map((a) => {
    const [k, v] = a.replace(/^--/, '').split('=');
    return [k, v ?? 'true'] as const;
  }),
);
const opt = (name: string, fallback: string) =>
  args.get(name) ?? process.env[`BENCH_${name.toUpperCase().replace(/-/g, '_')}`] ?? fallback;
const quick = opt('quick', 'false') === 'true' || opt('quick', 'false') === '1';
const runs = Number(opt('runs', quick ? '1' : '3'));
const epochs = Number(opt('epochs', quick ? '1' : '5'));
const trainLimit = Number(opt('train', quick ? '6000' : '60000'));
const only = opt('only', 'all');
const modes = opt('modes', 'inproc,service,service-s3').split(',');
/** `service` and `service-s3` train through the service path, each with a service of its own (`file:`, `s3://`). */
const MODES = ['inproc', 'inproc-stock', 'service', 'service-s3'];
if (modes.some((m) => !MODES.includes(m))) throw new Error(`--modes takes ${MODES.join(', ')}; got ${modes.join(',')}`);
const predictSeconds = Number(opt('predict-seconds', quick ? '2' : '5'));
const concurrency = Number(opt('concurrency', '16'));
const predictTargets = opt('predict-targets', 'predict,bare').split(',') as PredictTarget[];
type PredictTarget = 'predict' | 'bare' | 'predict-dense';
const TARGET_NAMES: Record<PredictTarget, string> = {
  predict: 'POST /v1/models/:id/predict',
  'predict-dense': 'predict, sparse matmul off',
  bare: 'bare Fastify route',
};
if (!predictTargets.includes('bare') || predictTargets.some((t) => !(t in TARGET_NAMES))) {
  throw new Error(
    `--predict-targets takes ${Object.keys(TARGET_NAMES).join(', ')} and needs bare (the reference); got ${predictTargets.join(',')}`,
  );
}

const recipe = JSON.parse(readFileSync(path.join(here, '../examples/mnist.json'), 'utf8')) as JobRequest;
const request: JobRequest = {
  ...recipe,
  data: { ...recipe.data, ...(trainLimit < 60_000 ? { limit: { train: trainLimit } } : {}) },
  fit: { ...recipe.fit, epochs } as JobRequest['fit'],
};

interface TrainRun {
  mode: string;
  backend: string;
  acceleration: string;
  epochSeconds: number[];
  epoch1: { loss: number; acc: number };
  testAccuracy: number | null;
  wallSeconds: number;
  peakRssMb: number;
}

const loadAverage = () => os.loadavg().map((l) => round(l, 2));

async function inProcess(mode: string): Promise<TrainRun> {
  const env: NodeJS.ProcessEnv = { ...process.env, BENCH_REQUEST: JSON.stringify(request) };
  if (mode === 'inproc-stock') env.TFJS_ACCELERATION = 'off';
  const stdout = await new Promise<string>((resolve, reject) =>
    execFile(
      process.execPath,
      ['--import', 'tsx', path.join(here, 'in-process.ts')],
      { env, maxBuffer: 1 << 24 },
      (err, out, errOut) => (err ? reject(new Error(`${err.message}\n${errOut}`)) : resolve(out)),
    ),
  );
  const r = JSON.parse(stdout.trim().split('\n').at(-1)!);
  return {
    mode,
    backend: r.backend,
    acceleration: r.acceleration,
    epochSeconds: r.epochSeconds,
    epoch1: { loss: r.history.loss?.[0], acc: r.history.acc?.[0] ?? r.history.accuracy?.[0] },
    testAccuracy: r.evaluation?.acc ?? r.evaluation?.accuracy ?? null,
    wallSeconds: r.wallSeconds,
    peakRssMb: r.peakRssMb,
  };
}

type Service = Awaited<ReturnType<typeof startBenchService>>;

/** The API and a worker in this process, storing in DATA_DIR unless `storage` names another store. */
async function startBenchService(storage: Partial<Record<keyof Config, string>> = {}) {
  // The rate limit stays on (its Redis count is part of every request's cost) but so high
  // that the load never meets it: a 429 is cheaper than a prediction and would flatter us.
  // The worker hands its config to the sandboxed training child (workerForkOptions).
  const config = await testConfig({ RATE_LIMIT_PER_MINUTE: '1000000000', ...storage });
  const app = await buildApp(config, { logger: false });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.server.address();
  const url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  const noop = () => undefined;
  const worker = await startWorker(config, {
    info: noop,
    warn: noop,
    error: noop,
    debug: noop,
  } as unknown as Parameters<typeof startWorker>[1]);
  return {
    url,
    app,
    config,
    close: async () => {
      await worker.close();
      await app.close();
      await cleanup(config);
    },
  };
}

/**
 * The same service with its store on an S3 server of its own, in this process like the
 * service's API and worker. The SDK reads the credentials from the environment, which the
 * training child inherits.
 */
async function startS3BenchService() {
  const s3 = await startS3('tts-bench');
  const { AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, ...storage } = s3.env('bench');
  Object.assign(process.env, { AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY });
  const service = await startBenchService(storage);
  return {
    ...service,
    close: async () => {
      await service.close();
      await s3.remove();
    },
  };
}

/** Whether a process (a training child) belongs to the service under `prefix`: its environment says. */
function ofService(pid: number, prefix: string) {
  try {
    return readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0').includes(`REDIS_PREFIX=${prefix}`);
  } catch {
    return false; // gone
  }
}

async function throughService(service: Service, mode: string): Promise<TrainRun & { modelId: string }> {
  // Both services' workers are children of this process: count only this one's, the other's idle child may be bigger.
  const children = () => descendants().filter((pid) => ofService(pid, service.config.REDIS_PREFIX));
  for (const pid of children()) resetPeakRss(pid);
  let peak = 0;
  const sampler = setInterval(() => {
    for (const pid of children()) peak = Math.max(peak, peakRssMb(pid));
  }, 250);
  const started = performance.now();
  try {
    const submitted = await postJson(`${service.url}/v1/jobs`, request);
    if (submitted.status !== 202)
      throw new Error(`submit answered ${submitted.status}: ${JSON.stringify(submitted.body)}`);
    const job = await waitForJob(service.url, submitted.body.id, undefined, 30 * 60_000);
    const wallSeconds = (performance.now() - started) / 1000;
    if (job.status !== 'completed') throw new Error(`job ${job.status}: ${JSON.stringify(job.error)}`);
    const { events } = await readEvents(`${service.url}/v1/jobs/${job.id}/events`);
    const epochSeconds = events.filter((e) => e.event === 'epoch').map((e) => e.data.elapsedMs / 1000);
    const health = await getJson(`${service.url}/healthz`);
    return {
      mode,
      backend: job.backend ?? health.body.backend,
      acceleration: service.app.services.config.TFJS_ACCELERATION,
      epochSeconds,
      epoch1: { loss: job.history.loss?.[0], acc: job.history.acc?.[0] ?? job.history.accuracy?.[0] },
      testAccuracy: job.evaluation?.acc ?? job.evaluation?.accuracy ?? null,
      wallSeconds,
      peakRssMb: peak,
      modelId: job.modelId,
    };
  } finally {
    clearInterval(sampler);
  }
}

async function benchTraining(services: Map<string, Service>) {
  const results: TrainRun[] = [];
  let modelId: string | undefined;
  for (let run = 1; run <= runs; run++) {
    // Alternate which mode goes first, so drift in machine load hits both alike.
    const order = run % 2 ? modes : [...modes].reverse();
    for (const mode of order) {
      const load = loadAverage();
      const service = services.get(mode);
      const r = service ? await throughService(service, mode) : await inProcess(mode);
      // Predict is measured on the `file:` service, with the model it trained.
      if (mode === 'service' && 'modelId' in r) modelId = r.modelId as string;
      const secondsPerEpoch = median(r.epochSeconds);
      results.push(r);
      emit({
        kind: 'train',
        run,
        ...r,
        secondsPerEpoch: round(secondsPerEpoch),
        samplesPerSecond: round(trainLimit / secondsPerEpoch, 0),
        epochs,
        trainSamples: trainLimit,
        loadAverage: load,
      });
    }
  }
  const summary = modes.map((mode) => {
    const mine = results.filter((r) => r.mode === mode);
    const spe = median(mine.map((r) => median(r.epochSeconds)));
    return {
      mode,
      backend: mine[0]?.backend,
      acceleration: mine[0]?.acceleration ?? '',
      runs: mine.length,
      's/epoch': round(spe, 2),
      'samples/s': round(trainLimit / spe, 0),
      'test acc': round(median(mine.map((r) => r.testAccuracy ?? NaN)), 4),
      'epoch1 loss': round(median(mine.map((r) => r.epoch1.loss)), 3),
      'wall s': round(median(mine.map((r) => r.wallSeconds)), 1),
      'peak RSS MB': round(median(mine.map((r) => r.peakRssMb)), 0),
    };
  });
  const inproc = summary.find((s) => s.mode === 'inproc');
  const viaService = summary.find((s) => s.mode === 'service');
  const overhead =
    inproc && viaService
      ? {
          epochRatio: round(viaService['s/epoch'] / inproc['s/epoch']),
          wallRatio: round(viaService['wall s'] / inproc['wall s']),
        }
      : undefined;
  const viaS3 = summary.find((s) => s.mode === 'service-s3');
  const s3Overhead =
    viaService && viaS3
      ? {
          epochRatio: round(viaS3['s/epoch'] / viaService['s/epoch']),
          wallRatio: round(viaS3['wall s'] / viaService['wall s']),
        }
      : undefined;
  for (const s of summary) emit({ kind: 'train-summary', ...s, epochs, trainSamples: trainLimit });
  if (overhead) emit({ kind: 'service-overhead', ...overhead, note: 'service / in-process, medians of the same run' });
  if (s3Overhead)
    emit({
      kind: 's3-overhead',
      ...s3Overhead,
      note: 'service-s3 / service (s3: vs file: storage), medians of the same run',
    });
  table(
    `training: MNIST recipe, ${trainLimit} digits x ${epochs} epoch(s), medians of ${runs} round(s); load average now ${loadAverage().join(' ')}`,
    summary,
  );
  if (overhead)
    process.stderr.write(
      `service-path overhead: s/epoch x${overhead.epochRatio}, wall x${overhead.wallRatio} (wall includes queueing, child start, saving)\n`,
    );
  if (s3Overhead)
    process.stderr.write(
      `s3: vs file: storage (service-s3/service): wall x${s3Overhead.wallRatio}, s/epoch x${s3Overhead.epochRatio} (wall includes checkpoints and the model going to the store)\n`,
    );
  return modelId;
}

/** The reference: a bare Fastify JSON route taking the same body and answering a same-sized body. */
async function startBareRoute(answer: unknown) {
  const app = Fastify({ logger: false, bodyLimit: 64 * 1024 * 1024 });
  app.post('/predict', async (request) => {
    const { instances } = request.body as { instances: unknown[] };
    return { predictions: instances.map(() => answer), classes: instances.map(() => 0) };
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.server.address();
  return { app, url: `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/predict` };
}

async function load(url: string, bodyFile: string, connections: number) {
  const env = {
    ...process.env,
    LOAD_URL: url,
    LOAD_BODY_FILE: bodyFile,
    LOAD_CONCURRENCY: String(connections),
    LOAD_SECONDS: String(predictSeconds),
  };
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(here, 'load.ts')], {
    env,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.on('data', (c) => (out += c));
  // The servers share this process (the worker trains in child processes, idle now): its CPU
  // time per request is the servers' cost, steadier than req/s when the load generator and
  // the server compete for the same two cores.
  const cpu = process.cpuUsage();
  await new Promise((resolve) => child.on('close', resolve));
  const used = process.cpuUsage(cpu);
  const result = JSON.parse(out.trim()) as {
    rps: number;
    p50: number;
    p90: number;
    p99: number;
    errors: number;
    firstError?: string;
    requests: number;
    sent: number;
    requestBytes: number;
    responseBytes: number;
  };
  return { ...result, cpuUsPerRequest: (used.user + used.system) / Math.max(1, result.sent) };
}

async function benchPredict(service: Service, modelId: string) {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'tts-bench-'));
  const { loadMnist } = await import('../src/data/mnist.ts');
  const test = (await loadMnist({ train: 1, test: 128 })).test!;
  const digit = (i: number) => Array.from(test.x.subarray(i * 784, (i + 1) * 784));
  const one = path.join(dir, 'one.json');
  const batch = path.join(dir, 'batch.json');
  writeFileSync(one, JSON.stringify({ instances: [digit(0)] }));
  writeFileSync(batch, JSON.stringify({ instances: Array.from({ length: 128 }, (_, i) => digit(i)) }));
  const sample = await postJson(`${service.url}/v1/models/${modelId}/predict`, { instances: [digit(0)] });
  if (sample.status !== 200) throw new Error(`predict answered ${sample.status}: ${JSON.stringify(sample.body)}`);
  const bare = await startBareRoute(sample.body.predictions[0]);
  const predictUrl = `${service.url}/v1/models/${modelId}/predict`;
  const rows: Record<string, unknown>[] = [];
  const cases = [
    { name: '1 instance', file: one, connections: concurrency, instances: 1 },
    { name: '128 instances', file: batch, connections: 4, instances: 128 },
  ];
  try {
    for (const c of cases) {
      const measured = Object.fromEntries(predictTargets.map((t) => [t, [] as Awaited<ReturnType<typeof load>>[]]));
      for (let run = 1; run <= runs; run++) {
        // Each round starts with the next target, so none always runs first.
        const order = predictTargets.map((_, i) => predictTargets[(i + run - 1) % predictTargets.length]);
        for (const target of order) {
          const stats = service.app.services.predictor.stats();
          setSparseMatMul(target !== 'predict-dense');
          const r = await load(target === 'bare' ? bare.url : predictUrl, c.file, c.connections).finally(() =>
            setSparseMatMul(true),
          );
          if (r.errors > 0)
            throw new Error(
              `${c.name} against ${target}: ${r.errors} of ${r.requests} requests failed, e.g. ${r.firstError}`,
            );
          const after = service.app.services.predictor.stats();
          // How the micro-batching went: instances per forward pass, requests moved to the next pass.
          const passes =
            target === 'bare'
              ? {}
              : {
                  instancesPerPass: round(
                    (after.instances - stats.instances) / Math.max(1, after.passes - stats.passes),
                    1,
                  ),
                  carried: after.carried - stats.carried,
                };
          measured[target].push(r);
          emit({
            kind: 'predict',
            case: c.name,
            target,
            run,
            connections: c.connections,
            ...r,
            ...passes,
            loadAverage: loadAverage(),
          });
        }
      }
      const med = (target: string, key: 'rps' | 'p50' | 'p99' | 'cpuUsPerRequest') =>
        median(measured[target].map((r) => r[key]));
      for (const target of predictTargets) {
        rows.push({
          case: c.name,
          target: TARGET_NAMES[target],
          connections: c.connections,
          'req/s': round(med(target, 'rps'), 0),
          'instances/s': round(med(target, 'rps') * c.instances, 0),
          'p50 ms': round(med(target, 'p50'), 2),
          'p99 ms': round(med(target, 'p99'), 2),
          'server CPU us/req': round(med(target, 'cpuUsPerRequest'), 0),
          errors: measured[target].reduce((n, r) => n + r.errors, 0),
          'body bytes': measured[target][0].requestBytes,
        });
      }
      for (const target of predictTargets.filter((t) => t !== 'bare')) {
        const ratio = round(med(target, 'rps') / med('bare', 'rps'));
        const cpuRatio = round(med(target, 'cpuUsPerRequest') / med('bare', 'cpuUsPerRequest'));
        emit({
          kind: 'predict-summary',
          case: c.name,
          target,
          rpsRatio: ratio,
          serverCpuRatio: cpuRatio,
          predictP99: round(med(target, 'p99'), 2),
          bareP99: round(med('bare', 'p99'), 2),
        });
        rows.push({ case: c.name, target: `ratio ${target}/bare: ${ratio} req/s, ${cpuRatio} server CPU per request` });
      }
    }
  } finally {
    await bare.app.close();
    await rm(dir, { recursive: true, force: true });
  }
  table(
    `predict: ${predictSeconds} s per measurement, medians of ${runs} round(s), load average now ${loadAverage().join(' ')}`,
    rows,
  );
}

emit({
  kind: 'bench',
  quick,
  runs,
  epochs,
  trainSamples: trainLimit,
  modes,
  cpus: os.availableParallelism(),
  loadAverage: loadAverage(),
  node: process.version,
  at: new Date().toISOString(),
});
const service = await startBenchService();
const services = new Map<string, Service>([['service', service]]);
try {
  if (only !== 'predict' && modes.includes('service-s3')) services.set('service-s3', await startS3BenchService());
  let modelId: string | undefined;
  if (only !== 'predict') modelId = await benchTraining(services);
  if (only !== 'train') {
    if (!modelId) {
      // Predict only: a quick model is enough to measure serving.
      const quickJob = {
        ...request,
        data: { ...request.data, limit: { train: 2000, test: 500 } },
        fit: { ...request.fit, epochs: 1 },
      };
      const submitted = await postJson(`${service.url}/v1/jobs`, quickJob);
      modelId = (await waitForJob(service.url, submitted.body.id)).modelId as string;
    }
    await benchPredict(service, modelId);
  }
} finally {
  for (const s of services.values()) await s.close();
}
process.exit(0);
