/**
 * Dataset uploads against an API process of their own: for each case, the API's longest
 * event-loop stall while the upload is parsed and its peak RSS (and its growth over the RSS
 * before the upload), medians of `--runs` (3) fresh processes. `npm run bench:uploads`
 * prints one JSON line per case, then a table on stderr. `--root=<dir>` measures another
 * checkout's src/; `--baseline=<dir>` measures that checkout too, its runs alternating with
 * ours (a before/after comparison under the same load); `--only=<name,...>` some cases;
 * `--profile=<dir>` writes each API process's CPU profile there.
 *
 * Each run is a child process (this file with `--serve`) that starts the API in-process,
 * takes a few small uploads (so what the first request pays once is not counted), resets its
 * monitor just before the upload is sent and reports when asked, so start-up and the bench's
 * own work (building bodies, sending them) are not counted either.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { deleteKeys } from './service.ts';
import { emit, median, round, table } from './stats.ts';

const arg = (name: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const root = path.resolve(arg('root') ?? fileURLToPath(new URL('..', import.meta.url)));

interface Stats {
  maxStallMs: number;
  peakRssBytes: number;
  rssGrowthBytes: number;
}

/** The child: the API, and a monitor the parent resets and reads over IPC. */
async function serve() {
  const { buildApp } = await import(pathToFileURL(path.join(root, 'src/app.ts')).href);
  const { loadConfig } = await import(pathToFileURL(path.join(root, 'src/config.ts')).href);
  const dataDir = await mkdtemp(path.join(tmpdir(), 'tts-upload-bench-'));
  const config = loadConfig({
    REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
    REDIS_PREFIX: `bench-uploads-${randomUUID().slice(0, 8)}`,
    DATA_DIR: dataDir,
    LOG_LEVEL: 'silent',
    PORT: '0',
    RATE_LIMIT_PER_MINUTE: '0',
  });
  const app = await buildApp(config, { logger: false });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const delay = monitorEventLoopDelay({ resolution: 1 });
  let base = 0;
  let peak = 0;
  const sample = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 5);
  // Profiling: the stalls' spans on the profile's clock (microseconds), to find what ran in them.
  const spans: [number, number][] = [];
  let last = process.hrtime.bigint();
  const watch = arg('profile')
    ? setInterval(() => {
        const now = process.hrtime.bigint();
        if (now - last > 10_000_000n) spans.push([Number(last / 1000n), Number(now / 1000n)]);
        last = now;
      }, 1)
    : undefined;
  process.on('message', async (message: string) => {
    if (message === 'reset') {
      (globalThis as { gc?: () => void }).gc?.();
      // The collection just now is the bench's stall, not the upload's: let the loop record it first.
      await new Promise((resolve) => setTimeout(resolve, 50));
      base = peak = process.memoryUsage.rss();
      delay.reset();
      delay.enable();
      process.send!('reset');
    } else if (message === 'report') {
      delay.disable();
      peak = Math.max(peak, process.memoryUsage.rss());
      const stats: Stats = { maxStallMs: delay.max / 1e6, peakRssBytes: peak, rssGrowthBytes: peak - base };
      clearInterval(sample);
      clearInterval(watch);
      if (watch)
        await mkdir(arg('profile')!, { recursive: true }).then(() =>
          writeFile(path.join(arg('profile')!, `stalls-${process.pid}.json`), JSON.stringify(spans)),
        );
      await app.close();
      await deleteKeys(config.REDIS_URL, config.REDIS_PREFIX);
      await rm(dataDir, { recursive: true, force: true });
      process.send!(stats, () => process.exit(0));
    }
  });
  const address = app.server.address() as { port: number };
  process.send!({ url: `http://127.0.0.1:${address.port}` });
}

interface Case {
  name: string;
  /** What the upload should be answered with. */
  status: number;
  send: (url: string) => Promise<Response>;
}

const raw = (type: string, body: string | Buffer) => (url: string) =>
  fetch(`${url}/v1/datasets?name=bench`, { method: 'POST', headers: { 'content-type': type }, body });

function cases(): Case[] {
  const wideHeader = (n: number) => Array.from({ length: n }, (_, i) => `c${i}`).join(',');
  const wideRow = (n: number, v = 1) => Array.from({ length: n }, () => v).join(',');
  const record = Object.fromEntries(Array.from({ length: 4000 }, (_, i) => [`k${i}`, i]));
  const xy = {
    x: Array.from({ length: 40_000 }, (_, i) => Array.from({ length: 16 }, (_, j) => round(Math.sin(i * 16 + j), 6))),
    y: Array.from({ length: 40_000 }, (_, i) => `class${i % 7}`),
  };
  const records = Array.from({ length: 50_000 }, (_, i) => ({
    a: i,
    b: round(Math.cos(i), 6),
    c: round(Math.sin(i), 6),
    d: i % 13,
    kind: `k${i % 5}`,
    e: i * 2,
  }));
  const tall = [
    wideHeader(10),
    ...Array.from({ length: 300_000 }, (_, i) =>
      Array.from({ length: 10 }, (_, j) => (j === 9 ? i % 3 : round(Math.sin(i + j), 5))).join(','),
    ),
  ].join('\n');
  const classes = ['id,label', ...Array.from({ length: 10_000 }, (_, i) => `${i},value-${i}`)].join('\n');
  const images = Buffer.alloc(16 + 10_000 * 784, 7);
  images.writeUInt32BE(0x803, 0);
  images.writeUInt32BE(10_000, 4);
  images.writeUInt32BE(28, 8);
  images.writeUInt32BE(28, 12);
  const labels = Buffer.alloc(8 + 10_000, 3);
  labels.writeUInt32BE(0x801, 0);
  labels.writeUInt32BE(10_000, 4);
  const jsonText = (v: unknown) => JSON.stringify(v);
  const all: Case[] = [
    {
      name: 'csv: 8,000 columns × 2 rows (refused)',
      status: 400,
      send: raw('text/csv', `${wideHeader(8000)}\n${wideRow(8000)}\n${wideRow(8000)}\n`),
    },
    {
      name: 'csv: 4,096 columns × 200 rows',
      status: 201,
      send: raw('text/csv', [wideHeader(4096), ...Array.from({ length: 200 }, () => wideRow(4096))].join('\n')),
    },
    {
      name: 'csv: one 20 MB cell (refused)',
      status: 400,
      send: raw('text/csv', `a,label\n1,${'x'.repeat(20 * 1024 * 1024)}\n`),
    },
    {
      name: 'csv: 32 MB of commas in one row (refused)',
      status: 400,
      send: raw('text/csv', `a,b\n1,${','.repeat(32 * 1024 * 1024)}\n`),
    },
    {
      name: 'csv: 4 MB header, no line break (refused)',
      status: 400,
      send: raw('text/csv', Array.from({ length: 4000 }, (_, i) => `c${i}`.padEnd(1000, 'x')).join(',')),
    },
    { name: 'csv: 300,000 rows × 10 columns', status: 201, send: raw('text/csv', tall) },
    { name: 'csv: 10,000 classes', status: 201, send: raw('text/csv', classes) },
    { name: 'json: 2 records of 4,000 keys', status: 201, send: raw('application/json', jsonText([record, record])) },
    {
      name: 'json: 4,096-key records × 50',
      status: 201,
      send: raw(
        'application/json',
        jsonText(
          Array.from({ length: 50 }, () => Object.fromEntries(Array.from({ length: 4096 }, (_, i) => [`k${i}`, i]))),
        ),
      ),
    },
    { name: 'json: x/y 40,000 × 16 (7 MB)', status: 201, send: raw('application/json', jsonText(xy)) },
    { name: 'json: 50,000 records (3 MB)', status: 201, send: raw('application/json', jsonText(records)) },
    {
      name: 'idx: 10,000 × 28 × 28 (7.5 MB)',
      status: 201,
      send: (url) => {
        const form = new FormData();
        form.append('images', new Blob([images]), 'images-idx3-ubyte');
        form.append('labels', new Blob([labels]), 'labels-idx1-ubyte');
        return fetch(`${url}/v1/datasets?name=bench`, { method: 'POST', body: form });
      },
    },
  ];
  const only = arg('only')?.split(',');
  return only ? all.filter((c) => only.some((o) => c.name.includes(o))) : all;
}

/** Small uploads of every format, one refused, sent before each case. */
const WARM_UP: Case[] = [
  { name: 'csv', status: 201, send: raw('text/csv', 'a,b,label\n1,2,x\n3,4,y\n') },
  { name: 'csv refused', status: 400, send: raw('text/csv', 'a,b\n1,x\n') },
  { name: 'json records', status: 201, send: raw('application/json', '[{"a":1,"b":"x"},{"a":2,"b":"y"}]') },
  { name: 'json x/y', status: 201, send: raw('application/json', '{"x":[[1,2],[3,4]],"y":["a","b"]}') },
];

async function request(child: ChildProcess, message: string): Promise<unknown> {
  const answer = once(child, 'message');
  child.send(message);
  return (await answer)[0];
}

async function runOnce(c: Case, at: string): Promise<Stats & { status: number; ms: number }> {
  const profile = arg('profile') ? ['--cpu-prof', `--cpu-prof-dir=${arg('profile')}`] : [];
  const child = fork(
    fileURLToPath(import.meta.url),
    ['--serve', `--root=${at}`, ...(arg('profile') ? [`--profile=${arg('profile')}`] : [])],
    { execArgv: ['--import', 'tsx', '--expose-gc', ...profile], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] },
  );
  try {
    const [{ url }] = (await once(child, 'message')) as [{ url: string }];
    // What every process pays once (the route's first request, code compiled on first use) is not the case's.
    for (const warm of WARM_UP) await (await warm.send(url)).arrayBuffer();
    await request(child, 'reset');
    const started = performance.now();
    const res = await c.send(url);
    await res.arrayBuffer();
    const ms = performance.now() - started;
    const stats = (await request(child, 'report')) as Stats;
    await once(child, 'exit');
    return { ...stats, status: res.status, ms };
  } finally {
    if (child.exitCode === null) child.kill();
  }
}

async function main() {
  const runs = Number(arg('runs') ?? 3);
  // With a baseline, its runs and ours alternate, so both see the same load on the machine.
  const baseline = arg('baseline');
  const roots = baseline ? [path.resolve(baseline), root] : [root];
  const rows: Record<string, unknown>[] = [];
  for (const c of cases()) {
    const results = new Map(roots.map((r) => [r, [] as Awaited<ReturnType<typeof runOnce>>[]]));
    for (let i = 0; i < runs; i++) for (const at of roots) results.get(at)!.push(await runOnce(c, at));
    for (const [at, list] of results) {
      const row = {
        case: c.name,
        ...(baseline ? { code: at === root ? 'this' : 'baseline' } : {}),
        status: [...new Set(list.map((r) => r.status))].join('/'),
        expected: c.status,
        medianMs: round(median(list.map((r) => r.ms)), 0),
        maxStallMs: round(median(list.map((r) => r.maxStallMs)), 1),
        peakRssMiB: round(median(list.map((r) => r.peakRssBytes)) / 2 ** 20, 0),
        rssGrowthMiB: round(median(list.map((r) => r.rssGrowthBytes)) / 2 ** 20, 0),
        stallsMs: list.map((r) => round(r.maxStallMs, 0)).join(' '),
      };
      emit({ bench: 'upload-stalls', runs, root: at, ...row });
      rows.push(row);
    }
  }
  table(`uploads (medians of ${runs} runs; ${roots.join(' vs ')})`, rows);
}

if (process.argv.includes('--serve')) await serve();
else await main();
