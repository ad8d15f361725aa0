import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { smallMnistJob, startService, type TestService } from './helpers.ts';

const BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../bin/tts.js');

/** Runs the real CLI binary in a process of its own. */
function tts(args: string[], env: Record<string, string> = {}) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, TTS_URL: '', TTS_API_KEY: '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/**
 * A proxy in front of the API that cuts the first event stream right after its first epoch
 * event, as a dropped connection would, and records each stream request's Last-Event-ID.
 */
function cuttingProxy(target: string) {
  const streams: { lastEventId?: string; authorization?: string }[] = [];
  let cut = false;
  const server = http.createServer((req, res) => {
    const events = req.url!.includes('/events');
    if (events) streams.push({ lastEventId: req.headers['last-event-id'] as string | undefined, authorization: req.headers.authorization });
    const upstream = http.request(`${target}${req.url}`, { method: req.method, headers: req.headers }, (up) => {
      res.writeHead(up.statusCode!, up.headers);
      let seen = '';
      up.on('data', (chunk: Buffer) => {
        if (!events || cut) return void res.write(chunk);
        seen += chunk.toString('utf8');
        const at = seen.indexOf('event: epoch');
        const endOfEvent = at < 0 ? -1 : seen.indexOf('\n\n', at);
        if (endOfEvent < 0) return;
        cut = true;
        up.destroy();
        // Dropped once the bytes are out, like a connection lost mid-stream.
        res.write(seen.slice(0, endOfEvent + 2), () => res.destroy());
      });
      up.on('end', () => res.end());
    });
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  return { server, streams };
}

describe('tts CLI against the real service', () => {
  let service: TestService;
  let dir: string;
  let proxy: ReturnType<typeof cuttingProxy>;
  let proxyUrl: string;

  before(async () => {
    service = await startService();
    dir = await mkdtemp(path.join(tmpdir(), 'tts-cli-'));
    proxy = cuttingProxy(service.url);
    await new Promise<void>((resolve) => proxy.server.listen(0, '127.0.0.1', resolve));
    proxyUrl = `http://127.0.0.1:${(proxy.server.address() as { port: number }).port}`;
  });
  after(async () => {
    proxy?.server.closeAllConnections();
    await new Promise((resolve) => proxy?.server.close(resolve));
    await service?.close();
    await rm(dir, { recursive: true, force: true });
  });

  let modelId: string;

  test('submit follows the job to completion, printing every epoch, resuming a dropped stream; predict prints predictions', async () => {
    const file = path.join(dir, 'job.json');
    await writeFile(file, JSON.stringify(smallMnistJob({ name: 'cli-mnist', fit: { epochs: 3, batchSize: 64, validationSplit: 0.25, shuffle: true } })));
    const run = await tts(['--url', proxyUrl, '--key', 'secret', 'submit', file]);
    assert.equal(run.code, 0, run.stderr + run.stdout);
    for (let e = 1; e <= 3; e++) {
      const lines = run.stdout.split('\n').filter((l) => l.startsWith(`Epoch ${e}/3 `));
      assert.equal(lines.length, 1, `epoch ${e} printed once:\n${run.stdout}`);
      assert.match(lines[0], /- loss: \d+\.\d{4} - acc: \d\.\d{4} - val_loss: \d+\.\d{4} - val_acc: \d\.\d{4}$/);
    }
    assert.match(run.stdout, /Evaluation - loss: \d+\.\d+ - acc: /);
    modelId = /completed: model (\S+)/.exec(run.stdout)![1];

    // The first stream was cut after epoch 1; the CLI came back with that event's id.
    assert.match(run.stderr, /connection lost; resuming after event \d+-\d+/);
    assert.equal(proxy.streams.length, 2, JSON.stringify(proxy.streams));
    assert.equal(proxy.streams[0].lastEventId, undefined);
    assert.match(proxy.streams[1].lastEventId!, /^\d+-\d+$/);
    assert.equal(proxy.streams[0].authorization, 'Bearer secret');

    // predict from JSON and from CSV (URL from the environment this time)
    const pixels = (seed: number) => Array.from({ length: 784 }, (_, i) => ((i * 37 + seed * 101) % 256));
    await writeFile(path.join(dir, 'x.json'), JSON.stringify({ instances: [pixels(1), pixels(2)] }));
    await writeFile(path.join(dir, 'x.csv'), [pixels(3), pixels(4), pixels(5)].map((r) => r.join(',')).join('\n'));
    const json = await tts(['predict', modelId, path.join(dir, 'x.json')], { TTS_URL: service.url });
    assert.equal(json.code, 0, json.stderr);
    const rows = json.stdout.trim().split('\n');
    assert.match(rows[0], /^#\s+CLASS\s+P\s+OUTPUT/);
    assert.equal(rows.length, 3);
    for (const row of rows.slice(1)) assert.match(row, /^\d\s+\d\s+\d\.\d{4}\s+(\S+ ){9}\S+$/);
    const csv = await tts(['predict', modelId, path.join(dir, 'x.csv'), '--json'], { TTS_URL: service.url });
    assert.equal(csv.code, 0, csv.stderr);
    const answer = JSON.parse(csv.stdout);
    assert.equal(answer.predictions.length, 3);
    assert.equal(answer.classes.length, 3);
  });

  test('jobs, models, model, upload and datasets show what the API has', async () => {
    const jobs = await tts(['--url', service.url, 'jobs']);
    assert.equal(jobs.code, 0, jobs.stderr);
    assert.match(jobs.stdout, /cli-mnist\s+completed\s+3\/3/);
    const models = await tts(['--url', service.url, 'models']);
    assert.match(models.stdout, new RegExp(`${modelId}\\s+cli-mnist`));
    const model = await tts(['--url', service.url, 'model', modelId]);
    assert.match(model.stdout, /Input: one instance of shape \[28, 28\]/);
    assert.match(model.stdout, /Total params: 50,890/);
    await writeFile(path.join(dir, 'tiny.csv'), 'a,b,species\n1,2,x\n2,3,y\n3,1,x\n4,4,y\n');
    const upload = await tts(['--url', service.url, 'upload', path.join(dir, 'tiny.csv'), '--name', 'tiny']);
    assert.equal(upload.code, 0, upload.stderr);
    assert.match(upload.stdout, /^Dataset \S+ \(tiny\): 4 rows, label species, features \[2\]$/m);
    const datasets = await tts(['--url', service.url, 'datasets']);
    assert.match(datasets.stdout, /tiny\s+csv\s+4\s+species/);
    const missing = await tts(['--url', service.url, 'job', 'no-such-job']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /HTTP (400|404)/);
  });

  test('a job that fails exits non-zero with its error', async () => {
    const x = Array.from({ length: 64 }, (_, i) => [i / 64, (i % 8) / 8]);
    const exploding = {
      name: 'cli-explodes',
      model: { layers: [{ type: 'dense', units: 8, activation: 'tanh' }, { type: 'dense', units: 1 }] },
      compile: { optimizer: { type: 'sgd', learningRate: 1e6 }, loss: 'mse' },
      data: { x, y: x.map(() => 1e6) },
      fit: { epochs: 3, batchSize: 16 },
      evaluate: false,
    };
    const file = path.join(dir, 'explodes.json');
    await writeFile(file, JSON.stringify(exploding));
    const run = await tts(['--url', service.url, 'submit', file]);
    assert.equal(run.code, 1, run.stdout + run.stderr);
    assert.match(run.stderr, /failed: numerical_error: loss became (NaN|Infinity)/);
  });
});
