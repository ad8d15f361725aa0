/**
 * `npm run bench:storage`: what `s3://` storage costs outside training (training's cost is
 * `npm run bench`'s service-s3 mode), against a real S3 server (s3rver, in this process) and
 * API processes of their own (`npm run api`, real processes sharing Redis with this one):
 *
 *  - cold: the MNIST recipe's model trained once on `file:` and once on `s3://` storage; then,
 *    `--cold-runs` times for each storage, alternately, a fresh API process (s3: its own empty
 *    DATA_DIR and CACHE_DIR, as on a new machine; file: the trainer's DATA_DIR), /healthz, the
 *    first predict timed (for s3: the model's download, then load and predict), then
 *    `--warm-predicts` single-instance predicts one after another on the loaded model.
 *  - upload: a CSV of `--csv-mb` MB written to disk (streamed, never whole in memory), then
 *    streamed to an API process on s3: storage while its RSS is read every 50 ms
 *    (/proc/<pid>/status VmRSS, and VmHWM for what falls between readings); then a check that
 *    the bucket holds the dataset's column bytes.
 *
 *   npm run bench:storage                                  full: 5 cold starts each, a 200 MB CSV
 *   npx tsx bench/storage.ts --csv-mb=20 --cold-runs=2     smoke
 *   flags: --cold-runs=N --warm-predicts=N --csv-mb=N --only=cold|upload
 *     --train=N (digits the model trains on, 1 epoch: the model's size, all that matters here, does not depend on it)
 * JSON lines on stdout, tables on stderr.
 */
import { once } from 'node:events';
import { createReadStream, createWriteStream, readFileSync } from 'node:fs';
import { mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import seedrandom from 'seedrandom';
import { configToEnv, loadConfig, type Config } from '../src/config.ts';
import { DTYPE_BYTES, type DatasetMeta } from '../src/data/dataset-meta.ts';
import { loadMnist } from '../src/data/mnist.ts';
import type { JobRequest } from '../src/schemas/job-request.ts';
import { spawnApi } from './api-process.ts';
import { freePort } from './ports.ts';
import { S3_CREDENTIALS, startS3, type S3Server } from './s3-server.ts';
import { cleanup, postJson, startService, testConfig, waitForJob } from './service.ts';
import { emit, median, peakRssMb, resetPeakRss, round, rssMb, table } from './stats.ts';

const args = new Map(
  process.argv.slice(2).map((a) => {
    const [k, v] = a.replace(/^--/, '').split('=');
    return [k, v ?? 'true'] as const;
  }),
);
const coldRuns = Number(args.get('cold-runs') ?? 5);
const warmPredicts = Number(args.get('warm-predicts') ?? 50);
const csvMb = Number(args.get('csv-mb') ?? 200);
const trainLimit = Number(args.get('train') ?? 6000);
const only = args.get('only') ?? 'all';
/** The targets, printed beside the results. */
const COLD_PREDICT_TARGET_MS = 1000;
const UPLOAD_RSS_TARGET_MB = 100;

const here = path.dirname(fileURLToPath(import.meta.url));
const recipe = JSON.parse(readFileSync(path.join(here, '../examples/mnist.json'), 'utf8')) as JobRequest;
const request: JobRequest = {
  ...recipe,
  data: { ...recipe.data, limit: { train: trainLimit } },
  fit: { ...recipe.fit, epochs: 1 } as JobRequest['fit'],
};
const loadAverage = () => os.loadavg().map((l) => round(l, 2));

/** A config on s3rver's bucket, under the config's own Redis prefix. */
async function onS3(s3: S3Server) {
  const config = await testConfig();
  return loadConfig({ ...configToEnv(config), ...s3.env(config.REDIS_PREFIX) });
}

/** Another process's config: a free port and, given `folder`, that folder as its DATA_DIR and (empty) CACHE_DIR. */
async function apiConfig(base: Config, folder?: string, overrides: Record<string, string> = {}) {
  return loadConfig({
    ...configToEnv(base),
    PORT: String(await freePort()),
    ...(folder ? { DATA_DIR: folder, CACHE_DIR: path.join(folder, 'cache') } : {}),
    ...overrides,
  });
}

/** Trains the recipe through an API and worker in this process; the model stays in the config's store and Redis. */
async function trainModel(config: Config): Promise<string> {
  const service = await startService({ config });
  try {
    const submitted = await postJson(`${service.url}/v1/jobs`, request);
    if (submitted.status !== 202)
      throw new Error(`submit answered ${submitted.status}: ${JSON.stringify(submitted.body)}`);
    const job = await waitForJob(service.url, submitted.body.id, undefined, 30 * 60_000);
    if (job.status !== 'completed') throw new Error(`job ${job.status}: ${JSON.stringify(job.error)}`);
    return job.modelId;
  } finally {
    await service.worker?.close();
    await service.app.close();
  }
}

async function timedPredict(url: string, body: string): Promise<number> {
  const started = performance.now();
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  const text = await response.text();
  const ms = performance.now() - started;
  if (response.status !== 200) throw new Error(`predict answered ${response.status}: ${text}`);
  return ms;
}

type Storage = 'file' | 's3';

/** One cold start: a fresh API process, its first predict, then warm ones. */
async function coldStart(storage: Storage, trainer: Config, modelId: string, body: string) {
  // s3: a new machine, nothing on its disk. file: the trainer's folder, which is the store.
  const folder = storage === 's3' ? await mkdtemp(path.join(os.tmpdir(), 'tts-bench-machine-')) : undefined;
  try {
    const config = await apiConfig(trainer, folder);
    const started = performance.now();
    const api = await spawnApi(config);
    const startSeconds = (performance.now() - started) / 1000;
    try {
      const url = `${api.url}/v1/models/${modelId}/predict`;
      const firstPredictMs = await timedPredict(url, body);
      if (folder && !(await readdir(config.CACHE_DIR)).some((entry) => entry.includes(modelId)))
        throw new Error(`the model is not in ${config.CACHE_DIR} after the first predict: was it downloaded?`);
      const warm: number[] = [];
      for (let i = 0; i < warmPredicts; i++) warm.push(await timedPredict(url, body));
      return { storage, startSeconds, firstPredictMs, warmPredictMs: median(warm) };
    } finally {
      api.child.kill('SIGTERM');
      await api.exited;
    }
  } finally {
    if (folder) await rm(folder, { recursive: true, force: true });
  }
}

async function benchColdStart(s3: S3Server, fileConfig: Config, s3Config: Config) {
  const models: Record<Storage, string> = { file: await trainModel(fileConfig), s3: await trainModel(s3Config) };
  const trainers: Record<Storage, Config> = { file: fileConfig, s3: s3Config };
  const stored = await s3.objects(`${s3Config.REDIS_PREFIX}/models/${models.s3}/`);
  const modelBytes = stored.reduce((n, o) => n + o.size, 0);
  const digit = Array.from((await loadMnist({ train: 1, test: 1 })).test!.x.subarray(0, 784));
  const body = JSON.stringify({ instances: [digit] });
  const results: Awaited<ReturnType<typeof coldStart>>[] = [];
  for (let run = 1; run <= coldRuns; run++) {
    // Alternate which storage goes first, so drift in machine load hits both alike.
    const order: Storage[] = run % 2 ? ['file', 's3'] : ['s3', 'file'];
    for (const storage of order) {
      const r = await coldStart(storage, trainers[storage], models[storage], body);
      results.push(r);
      emit({ kind: 'cold-start', run, ...r, warmPredicts, modelBytes, loadAverage: loadAverage() });
    }
  }
  const summary = (['file', 's3'] as const).map((storage) => {
    const mine = results.filter((r) => r.storage === storage);
    return {
      storage,
      runs: mine.length,
      'start s': round(median(mine.map((r) => r.startSeconds)), 2),
      'first predict ms': round(median(mine.map((r) => r.firstPredictMs)), 1),
      'first predict max ms': round(Math.max(...mine.map((r) => r.firstPredictMs)), 1),
      'warm predict ms': round(median(mine.map((r) => r.warmPredictMs)), 2),
    };
  });
  for (const s of summary) emit({ kind: 'cold-start-summary', ...s, warmPredicts, modelBytes });
  const [viaFile, viaS3] = summary;
  const ratios = {
    firstPredictRatio: round(viaS3['first predict ms'] / viaFile['first predict ms'], 2),
    warmPredictRatio: round(viaS3['warm predict ms'] / viaFile['warm predict ms'], 2),
  };
  emit({ kind: 'cold-start-ratio', ...ratios, note: 's3: / file:, medians of the same run' });
  table(
    `cold start: a fresh API process, its first predict (s3: download + load + predict), then the median of ${warmPredicts} ` +
      `single-instance predicts; the MNIST recipe's model (${round(modelBytes / 2 ** 20, 2)} MB stored), medians of ` +
      `${coldRuns} run(s); load average now ${loadAverage().join(' ')}`,
    summary,
  );
  process.stderr.write(
    `first predict on s3: ${viaS3['first predict ms']} ms (worst ${viaS3['first predict max ms']}; target <= ${COLD_PREDICT_TARGET_MS}); ` +
      `s3:/file: first predict x${ratios.firstPredictRatio}, warm predict x${ratios.warmPredictRatio}\n`,
  );
}

/** A CSV of about `mb` MB, 32 numeric features and a class label, written as it is made. */
async function writeCsv(file: string, mb: number) {
  const columns = 32;
  const random = seedrandom('bench-storage');
  const out = createWriteStream(file);
  out.write(`${[...Array.from({ length: columns }, (_, j) => `f${j}`), 'label'].join(',')}\n`);
  let bytes = 0;
  let rows = 0;
  while (bytes < mb * 2 ** 20) {
    const values = Array.from({ length: columns }, () => (random() * 2 - 1).toFixed(4));
    const line = `${values.join(',')},${Number(values[0]) + Number(values[1]) > 0 ? 'pos' : 'neg'}\n`;
    bytes += line.length;
    rows++;
    if (!out.write(line)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
  return { bytes: (await stat(file)).size, rows };
}

/** POSTs a file as a raw body, streamed from disk: neither side holds it whole. */
function upload(url: string, file: string, bytes: number) {
  return new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = httpRequest(
      url,
      { method: 'POST', headers: { 'content-type': 'text/csv', 'content-length': String(bytes) } },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    pipeline(createReadStream(file), req).catch(reject);
  });
}

/**
 * The bucket holds the dataset: meta.json (the metadata, with the columns' dtypes that the API's answer leaves out)
 * and each column's object, of rows × values × dtype bytes; the answer's `bytes` counts them and the metadata twice.
 */
async function checkBucket(s3: S3Server, prefix: string, answered: { id: string; bytes: number }) {
  const objects = await s3.objects(`${prefix}/datasets/${answered.id}/`);
  const metaObject = objects.find((o) => o.key.endsWith('/meta.json'));
  if (!metaObject) throw new Error(`no meta.json in the bucket, only ${objects.map((o) => o.key).join(', ')}`);
  const meta = JSON.parse((await s3.bytes(metaObject.key)).toString('utf8')) as DatasetMeta;
  const columnObjects = objects.filter((o) => o !== metaObject);
  const files = columnObjects.map((o) => path.posix.basename(o.key)).sort();
  const columnBytes = columnObjects.reduce((n, o) => n + o.size, 0);
  const expected = meta.columns.reduce(
    (n, c) => n + meta.rows * c.shape.reduce((a, b) => a * b, 1) * DTYPE_BYTES[c.dtype],
    0,
  );
  if (
    files.join() !==
      meta.columns
        .map((c) => c.file)
        .sort()
        .join() ||
    columnBytes !== expected
  )
    throw new Error(
      `the bucket holds ${files.join(', ')} (${columnBytes} bytes); the dataset's columns are ` +
        `${meta.columns.map((c) => c.file).join(', ')} (${expected} bytes)`,
    );
  if (columnBytes + 2 * metaObject.size !== answered.bytes)
    throw new Error(`the dataset counts ${answered.bytes} bytes; the bucket holds ${columnBytes + metaObject.size}`);
  return { objects: objects.length, columnBytes };
}

async function benchUpload(s3: S3Server, s3Config: Config) {
  const folder = await mkdtemp(path.join(os.tmpdir(), 'tts-bench-upload-'));
  try {
    const file = path.join(folder, 'upload.csv');
    const generated = performance.now();
    const csv = await writeCsv(file, csvMb);
    process.stderr.write(
      `wrote ${round(csv.bytes / 2 ** 20, 1)} MB of CSV (${csv.rows} rows) in ${round((performance.now() - generated) / 1000, 1)} s\n`,
    );
    const machine = path.join(folder, 'machine');
    const config = await apiConfig(s3Config, machine, {
      DATASET_UPLOAD_LIMIT_BYTES: String(Math.max(s3Config.DATASET_UPLOAD_LIMIT_BYTES, csv.bytes)),
    });
    const api = await spawnApi(config);
    const pid = api.child.pid!;
    try {
      const url = `${api.url}/v1/datasets?name=bench-upload`;
      // What the first upload pays once (the route's code compiled, the S3 client's first connection) is not counted.
      const warm = path.join(folder, 'warm.csv');
      await writeFile(warm, 'a,b,label\n1,2,x\n3,4,y\n');
      const warmed = await upload(url, warm, (await stat(warm)).size);
      if (warmed.status !== 201) throw new Error(`the warm-up upload answered ${warmed.status}: ${warmed.body}`);

      resetPeakRss(pid);
      const baseline = rssMb(pid);
      let sampled = baseline;
      let samples = 0;
      const sampler = setInterval(() => {
        sampled = Math.max(sampled, rssMb(pid));
        samples++;
      }, 50);
      const started = performance.now();
      const answer = await upload(url, file, csv.bytes).finally(() => clearInterval(sampler));
      const seconds = (performance.now() - started) / 1000;
      const highWater = peakRssMb(pid);
      if (answer.status !== 201) throw new Error(`the upload answered ${answer.status}: ${answer.body}`);
      const answered = JSON.parse(answer.body) as { id: string; rows: number; columns: unknown[]; bytes: number };
      const stored = await checkBucket(s3, s3Config.REDIS_PREFIX, answered);

      const peak = Math.max(sampled, highWater);
      const result = {
        csvMb: round(csv.bytes / 2 ** 20, 1),
        rows: answered.rows,
        columns: answered.columns.length,
        seconds: round(seconds, 1),
        'MB/s': round(csv.bytes / 2 ** 20 / seconds, 1),
        'baseline RSS MB': round(baseline, 0),
        'peak RSS MB (50 ms)': round(sampled, 0),
        'VmHWM MB': round(highWater, 0),
        'RSS increase MB': round(peak - baseline, 0),
        'stored MB': round(stored.columnBytes / 2 ** 20, 1),
      };
      emit({ kind: 'upload', ...result, samples, objects: stored.objects, loadAverage: loadAverage() });
      table(
        `upload: a ${result.csvMb} MB CSV streamed to an API process on s3: storage (its RSS every 50 ms and its VmHWM; after one small warm-up upload)`,
        [result],
      );
      process.stderr.write(
        `API RSS increase during the upload: ${result['RSS increase MB']} MB (target < ${UPLOAD_RSS_TARGET_MB}); ` +
          `the bucket holds the dataset: meta.json and ${result.columns} column objects, ${stored.columnBytes} bytes as counted\n`,
      );
    } finally {
      api.child.kill('SIGTERM');
      await api.exited;
    }
  } finally {
    await rm(folder, { recursive: true, force: true });
  }
}

emit({
  kind: 'bench-storage',
  coldRuns,
  warmPredicts,
  csvMb,
  trainSamples: trainLimit,
  cpus: os.availableParallelism(),
  loadAverage: loadAverage(),
  node: process.version,
  at: new Date().toISOString(),
});
const s3 = await startS3('tts-bench');
// The SDK in this process (the trainer), its training child and the API processes read them from the environment.
Object.assign(process.env, S3_CREDENTIALS);
const fileConfig = await testConfig();
const s3Config = await onS3(s3);
try {
  if (only !== 'upload') await benchColdStart(s3, fileConfig, s3Config);
  if (only !== 'cold') await benchUpload(s3, s3Config);
} catch (err) {
  // Here, not as an uncaught error: tfjs's wasm module rethrows those, printing its whole source.
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exitCode = 1;
} finally {
  await cleanup(fileConfig);
  await cleanup(s3Config);
  await s3.remove();
}
process.exit();
