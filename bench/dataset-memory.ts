/**
 * Peak memory of training on an uploaded dataset bigger than DATASET_MEMORY_LIMIT_BYTES
 * (streamed from disk with fitDataset) versus the same job loaded whole, each in its own
 * child process so each peak RSS is its own. Also times the streaming CSV ingest.
 *
 *   node --import tsx bench/dataset-memory.ts [--rows=200000] [--cols=64] [--epochs=1]
 *
 * JSON lines on stdout, a table on stderr.
 */
import { spawnSync } from 'node:child_process';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import seedrandom from 'seedrandom';
import { ingestTable } from '../src/data/ingest.ts';
import { DatasetStore } from '../src/storage/dataset-store.ts';
import { FileObjectStore } from '../src/storage/file-object-store.ts';
import { initBackend } from '../src/compute/backend.ts';
import { planJob } from '../src/training/plan.ts';
import { train } from '../src/training/train.ts';

const args = new Map(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=') as [string, string]));
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

async function child() {
  const [prefix, dataDir, id, limit, epochs] = ['prefix', 'dir', 'id', 'limit', 'epochs'].map((k) => args.get(k)!);
  const redis = new Redis(REDIS_URL);
  const backend = await initBackend((process.env.TFJS_BACKEND as 'auto') ?? 'auto');
  const store = new DatasetStore(redis, prefix, new FileObjectStore(dataDir), Number(limit));
  const request = {
    model: {
      layers: [
        { type: 'dense', units: 32, activation: 'relu' },
        { type: 'dense', units: 1, activation: 'sigmoid' },
      ],
    },
    compile: { optimizer: 'adam', loss: 'binaryCrossentropy', metrics: ['accuracy'] },
    data: { dataset: id, testSplit: 0.1, inputs: { standardize: true } },
    fit: { epochs: Number(epochs), batchSize: 256, validationSplit: 0.1, shuffle: true, seed: 1 },
    evaluate: true,
  };
  const plan = planJob(request as never, {}, (await store.open(request.data)).catalog);
  const started = Date.now();
  const noop = async () => undefined;
  const result = await train(plan, request.data as never, { epoch: noop, batch: noop, evaluation: noop }, 'bench');
  const seconds = (Date.now() - started) / 1000;
  result.model.dispose();
  redis.disconnect();
  console.log(
    JSON.stringify({
      backend,
      seconds,
      acc: result.evaluation?.acc,
      peakRssMb: Math.round(process.resourceUsage().maxRSS / 1024),
    }),
  );
}

async function main() {
  const rows = Number(args.get('rows') ?? 200_000);
  const cols = Number(args.get('cols') ?? 64);
  const epochs = args.get('epochs') ?? '1';
  const dir = await mkdtemp(path.join(os.tmpdir(), 'tts-bench-ds-'));
  const prefix = `bench-ds-${process.pid}`;
  const redis = new Redis(REDIS_URL);
  try {
    const file = path.join(dir, 'big.csv');
    const out = createWriteStream(file);
    const random = seedrandom('bench');
    out.write(`${[...Array.from({ length: cols }, (_, j) => `f${j}`), 'label'].join(',')}\n`);
    for (let i = 0; i < rows; i++) {
      const values = Array.from({ length: cols }, () => (random() * 2 - 1).toFixed(3));
      const line = `${values.join(',')},${Number(values[0]) + Number(values[1]) > 0 ? 'pos' : 'neg'}\n`;
      if (!out.write(line)) await once(out, 'drain');
    }
    out.end();
    await once(out, 'finish');
    const csvBytes = (await stat(file)).size;

    const store = new DatasetStore(redis, prefix, new FileObjectStore(dir));
    const rssBefore = process.memoryUsage().rss;
    let ingestPeak = rssBefore;
    const sampler = setInterval(() => (ingestPeak = Math.max(ingestPeak, process.memoryUsage().rss)), 20);
    const started = Date.now();
    const draft = await store.draft();
    const meta = await draft.commit(await ingestTable('csv', createReadStream(file), draft.dir, {}));
    clearInterval(sampler);
    const ingest = {
      what: 'ingest',
      rows,
      cols,
      csvMb: +(csvBytes / 2 ** 20).toFixed(1),
      seconds: (Date.now() - started) / 1000,
      rssGrowthMb: Math.round((ingestPeak - rssBefore) / 2 ** 20),
      storedMb: +(meta.bytes / 2 ** 20).toFixed(1),
    };
    console.log(JSON.stringify(ingest));

    const trainingMb = +((rows * (cols + 1) * 4) / 2 ** 20).toFixed(1);
    const results = [];
    for (const [mode, limit] of [
      ['disk', '0'],
      ['memory', String(Number.MAX_SAFE_INTEGER)],
    ] as const) {
      const run = spawnSync(
        process.execPath,
        [
          '--import',
          'tsx',
          fileURLToPath(import.meta.url),
          '--child=1',
          `--prefix=${prefix}`,
          `--dir=${dir}`,
          `--id=${meta.id}`,
          `--limit=${limit}`,
          `--epochs=${epochs}`,
        ],
        { encoding: 'utf8', maxBuffer: 1 << 24 },
      );
      const line = run.stdout.trim().split('\n').at(-1) ?? '';
      if (run.status !== 0) throw new Error(`${mode} run failed: ${run.stderr}`);
      const result = { what: 'train', mode, trainingColumnsMb: trainingMb, ...JSON.parse(line) };
      console.log(JSON.stringify(result));
      results.push(result);
    }
    console.error(
      `\ningest: ${rows} rows x ${cols + 1} columns, ${ingest.csvMb} MB CSV in ${ingest.seconds} s, RSS growth ${ingest.rssGrowthMb} MB`,
    );
    console.error('mode     peak RSS MB   seconds   test acc');
    for (const r of results)
      console.error(
        `${r.mode.padEnd(8)} ${String(r.peakRssMb).padStart(11)}   ${String(r.seconds).padStart(7)}   ${r.acc?.toFixed(3)}`,
      );
  } finally {
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length) await redis.del(...keys);
    redis.disconnect();
    await rm(dir, { recursive: true, force: true });
  }
}

await (args.has('child') ? child() : main());
