/**
 * The hostile review's heaviest cases against a real API process and worker: the API's
 * longest event-loop stall and its peak RSS across them (bench/loop-monitor.mjs), and each
 * case's answer and time. `npm run bench:hostile`. Prints JSON lines, then a table.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './ports.ts';
import { deleteKeys } from './service.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const dir = await mkdtemp(path.join(tmpdir(), 'tts-hostile-bench-'));
const port = await freePort();
const base = `http://127.0.0.1:${port}`;
const KEYS = { alice: 'alice-key-0123456789abcdef', bob: 'bob-key-0123456789abcdef' };
const env = {
  ...process.env,
  PORT: String(port),
  HOST: '127.0.0.1',
  DATA_DIR: path.join(dir, 'data'),
  REDIS_PREFIX: `bench-${randomUUID().slice(0, 8)}`,
  LOG_LEVEL: 'warn',
  API_KEYS: `${KEYS.alice}:alice,${KEYS.bob}:bob`,
  RATE_LIMIT_PER_MINUTE: '0',
  LOOP_MONITOR_FILE: path.join(dir, 'loop.json'),
};
const node = (script: string, extra: string[] = []) =>
  spawn(process.execPath, ['--import', 'tsx', ...extra, path.join(root, script)], {
    env,
    stdio: ['ignore', 'inherit', 'inherit'],
  });

const api = node('src/server.ts', ['--import', path.join(root, 'bench/loop-monitor.mjs')]);
const worker = node('workers/worker.ts');

async function call(method: string, url: string, body?: unknown, key = KEYS.alice, type = 'application/json') {
  const started = performance.now();
  const res = await fetch(`${base}${url}`, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body !== undefined ? { 'content-type': type } : {}) },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, ms: performance.now() - started, bytes: text.length, json: () => JSON.parse(text) };
}

async function trained(job: unknown): Promise<string> {
  const res = (await call('POST', '/v1/jobs', job)).json();
  for (;;) {
    const job = (await call('GET', `/v1/jobs/${res.id}`)).json();
    if (job.status === 'completed') return job.modelId;
    if (job.status === 'failed') throw new Error(JSON.stringify(job.error));
    await new Promise((r) => setTimeout(r, 200));
  }
}

const dense = (units: number, extra = {}) => ({ type: 'dense', units, ...extra });
const mnist = (layers: unknown[], fit = {}) => ({
  name: 'bench',
  model: { layers },
  compile: { optimizer: 'rmsprop', loss: 'categoricalCrossentropy', metrics: ['accuracy'] },
  data: {
    dataset: 'mnist',
    limit: { train: 256, test: 64 },
    inputs: { reshape: [784], scale: 1 / 255 },
    labels: { oneHot: 10 },
  },
  fit: { epochs: 1, batchSize: 64, ...fit },
});
const rows = (n: number, width: number, v = 1) =>
  Array.from({ length: n }, () => Array.from({ length: width }, () => v));

const results: {
  case: string;
  status: number;
  ms: number;
  bytes: number;
  from: number;
  to: number;
  stallMs?: number;
}[] = [];
async function run(name: string, send: () => Promise<{ status: number; ms: number; bytes: number }>) {
  const from = Date.now();
  // A body refused by its Content-Length is answered and the connection closed before the
  // client has written it all: fetch then reports the broken pipe instead of the 413.
  const r = await send().catch((err: Error) => ({
    status: String((err.cause as Error | undefined)?.message ?? err.message).includes('EPIPE') ? 413 : 0,
    ms: 0,
    bytes: 0,
  }));
  await new Promise((resolve) => setTimeout(resolve, 100)); // a stall is recorded when it ends
  results.push({ case: name, status: r.status, ms: Math.round(r.ms), bytes: r.bytes, from, to: Date.now() });
  console.log(JSON.stringify({ bench: 'hostile', ...results.at(-1) }));
}

let readyAt = 0;
try {
  for (let i = 0; i < 100; i++) {
    if (
      await fetch(`${base}/readyz`).then(
        (r) => r.ok,
        () => false,
      )
    )
      break;
    await new Promise((r) => setTimeout(r, 200));
  }
  readyAt = Date.now();
  const small = await trained(
    mnist([dense(64, { activation: 'relu', inputShape: [784] }), dense(10, { activation: 'softmax' })]),
  );
  const wide = await trained({
    name: 'wide',
    model: { layers: [dense(8, { inputShape: [2] }), dense(100_000, { activation: 'softmax' })] },
    compile: { optimizer: 'sgd', loss: 'categoricalCrossentropy' },
    data: {
      x: [
        [0, 1],
        [1, 0],
      ],
      y: [0, 1],
      labels: { oneHot: 100_000 },
    },
    fit: { epochs: 1, batchSize: 2 },
  });

  await run('predict: 1,100 instances × 100,000 outputs', () =>
    call('POST', `/v1/models/${wide}/predict`, { instances: rows(1100, 2) }),
  );
  await run('predict: 50 instances × 100,000 outputs (4.8 MB answer)', () =>
    call('POST', `/v1/models/${wide}/predict`, { instances: rows(50, 2) }),
  );
  await run('predict: 1,300 MNIST instances (4 MB, split into passes)', () =>
    call('POST', `/v1/models/${small}/predict`, { instances: rows(1_300, 784, 128) }),
  );
  await run('predict: 16 MB body', () =>
    call('POST', `/v1/models/${small}/predict`, { instances: rows(5_000, 784, 128) }),
  );
  await run('validate: orthogonal Dense(784)', () =>
    call(
      'POST',
      '/v1/models/validate',
      mnist([dense(784, { inputShape: [784], kernelInitializer: 'orthogonal' }), dense(10, { activation: 'softmax' })]),
    ),
  );
  await run('validate: 47.7 M parameters', () =>
    call(
      'POST',
      '/v1/models/validate',
      mnist([dense(6000, { inputShape: [784] }), dense(7150), dense(10, { activation: 'softmax' })], { batchSize: 1 }),
    ),
  );
  await run('submit: repeatVector(8000) + LSTM(32)', () =>
    call(
      'POST',
      '/v1/jobs',
      mnist(
        [
          dense(8, { inputShape: [784] }),
          { type: 'repeatVector', n: 8000 },
          { type: 'lstm', units: 32 },
          dense(10, { activation: 'softmax' }),
        ],
        { batchSize: 1 },
      ),
    ),
  );
  await run('submit: 1 MB of inline data', () =>
    call('POST', '/v1/jobs', {
      ...mnist([dense(4, { inputShape: [100] }), dense(1)]),
      compile: { optimizer: 'sgd', loss: 'meanSquaredError' },
      data: { x: rows(2400, 100, 0.5), y: Array.from({ length: 2400 }, () => 1) },
    }),
  );
  const header = Array.from({ length: 8000 }, (_, i) => `c${i}`).join(',');
  await run('upload: CSV of 8,000 columns × 2 rows', () =>
    call(
      'POST',
      '/v1/datasets?name=wide',
      `${header}\n${rows(2, 8000)[0].join(',')}\n${rows(2, 8000)[1].join(',')}\n`,
      KEYS.alice,
      'text/csv',
    ),
  );
  const record = Object.fromEntries(Array.from({ length: 4000 }, (_, i) => [`k${i}`, i]));
  await run('upload: JSON records of 4,000 keys', () =>
    call('POST', '/v1/datasets?name=keys', [record, record], KEYS.alice),
  );
  await run('upload: one 20 MB CSV cell', () =>
    call('POST', '/v1/datasets?name=cell', `a,label\n1,${'x'.repeat(20 * 1024 * 1024)}\n`, KEYS.alice, 'text/csv'),
  );
  await run("bob predicts on alice's model", () =>
    call('POST', `/v1/models/${small}/predict`, { instances: rows(1, 784) }, KEYS.bob),
  );
  await run('300 wrong keys (last answer)', async () => {
    let last = { status: 0, ms: 0, bytes: 0 };
    for (let i = 0; i < 300; i++) last = await call('GET', '/v1/jobs', undefined, `wrong-${i}`);
    return last;
  });
} finally {
  api.kill('SIGTERM');
  await once(api, 'exit');
  worker.kill('SIGTERM');
  await once(worker, 'exit');
  const loop = JSON.parse(await readFile(env.LOOP_MONITOR_FILE, 'utf8'));
  for (const r of results) {
    const during = loop.stalls.filter((s: { endedAt: number }) => s.endedAt >= r.from && s.endedAt <= r.to);
    r.stallMs = Math.max(0, ...during.map((s: { ms: number }) => s.ms));
  }
  const { stalls, ...apiStats } = loop;
  // Stalls before the first case: start-up (imports, backend), then training the two models.
  const ms = (list: { ms: number }[]) => list.map((s) => s.ms);
  const startUp = stalls.filter((s: { endedAt: number }) => s.endedAt <= readyAt);
  const setup = stalls.filter((s: { endedAt: number }) => s.endedAt > readyAt && s.endedAt < (results[0]?.from ?? 0));
  console.log(JSON.stringify({ bench: 'hostile', startUpStallsMs: ms(startUp), setupStallsMs: ms(setup) }));
  console.log(JSON.stringify({ bench: 'hostile', api: apiStats, stalls: stalls.length }));
  console.table(results.map(({ from, to, ...r }) => r));
  console.log(
    `API: longest event-loop stall ${loop.maxStallMs.toFixed(1)} ms (p99 ${loop.p99StallMs.toFixed(1)} ms), peak RSS ${(loop.peakRssBytes / 2 ** 20).toFixed(0)} MiB`,
  );
  await rm(dir, { recursive: true, force: true });
  await deleteKeys(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', env.REDIS_PREFIX);
}
