import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { cuttingProxy } from './cutting-proxy.ts';
import type { Config } from '../src/config.ts';
import { smallMnistJob, startService, testConfig, type TestService } from './helpers.ts';

const BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../bin/tts.js');

/** Runs the real CLI binary in a process of its own. */
function tts(args: string[], env: Record<string, string> = {}) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      env: { ...process.env, TTS_URL: '', TTS_API_KEY: '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/**
 * For one describe block: the service (with `config`, if given), a scratch directory, and a
 * proxy in front of the service that can cut event streams. Read it inside tests.
 */
function cliFixture(config?: () => Promise<Config>) {
  const f = {} as { service: TestService; dir: string; proxy: ReturnType<typeof cuttingProxy>; proxyUrl: string };
  before(async () => {
    f.service = await startService(config ? { config: await config() } : {});
    f.dir = await mkdtemp(path.join(tmpdir(), 'tts-cli-'));
    f.proxy = cuttingProxy(f.service.url);
    f.proxyUrl = await f.proxy.listen();
  });
  after(async () => {
    await f.proxy?.close();
    await f.service?.close();
    if (f.dir) await rm(f.dir, { recursive: true, force: true });
  });
  return f;
}

describe('tts CLI against the real service', () => {
  const fixture = cliFixture();

  let modelId: string;

  test('submit follows the job to completion, printing every epoch, resuming a dropped stream; predict prints predictions', async () => {
    const { service, dir, proxy, proxyUrl } = fixture;
    const file = path.join(dir, 'job.json');
    await writeFile(
      file,
      JSON.stringify(
        smallMnistJob({ name: 'cli-mnist', fit: { epochs: 3, batchSize: 64, validationSplit: 0.25, shuffle: true } }),
      ),
    );
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
    const pixels = (seed: number) => Array.from({ length: 784 }, (_, i) => (i * 37 + seed * 101) % 256);
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
    const { service, dir } = fixture;
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

  test('registry: register, alias, list, show, predict name@alias / name@3 / name, unalias, delete-version', async () => {
    const { service, dir } = fixture;
    const run = (...args: string[]) => tts(['--url', service.url, ...args]);
    const ok = async (...args: string[]) => {
      const result = await run(...args);
      assert.equal(result.code, 0, `${args.join(' ')}: ${result.stderr}${result.stdout}`);
      return result.stdout;
    };
    assert.equal(
      await ok('registry', 'register', 'cli-digits', modelId, '--description', 'first'),
      `Registered cli-digits version 1 (model ${modelId})\n`,
    );
    assert.equal(
      await ok('registry', 'alias', 'cli-digits', 'production', '1'),
      'cli-digits@production -> version 1 (new)\n',
    );
    assert.equal(
      await ok('registry', 'alias', 'cli-digits', 'production', '1'),
      'cli-digits@production -> version 1 (was 1)\n',
    );
    assert.match(await ok('registry', 'list'), /^NAME\s+LATEST\s+VERSIONS\s+CREATED\ncli-digits\s+1\s+1\s+/);
    const shown = await ok('registry', 'show', 'cli-digits');
    assert.match(shown, /^Registered model cli-digits, created .*: 1 version\(s\), latest 1$/m);
    assert.match(shown, /^Aliases: production -> 1$/m);
    assert.match(shown, new RegExp(`^1\\s+${modelId}\\s+.*production\\s+loss: .*first$`, 'm'));

    const pixels = Array.from({ length: 784 }, (_, i) => (i * 37) % 256);
    const file = path.join(dir, 'one.json');
    await writeFile(file, JSON.stringify([pixels]));
    for (const ref of ['cli-digits@production', 'cli-digits@1', 'cli-digits']) {
      const answer = JSON.parse(await ok('predict', ref, file, '--json'));
      assert.deepEqual(answer.model, { name: 'cli-digits', version: 1, modelId }, ref);
    }
    const table = await ok('predict', 'cli-digits@production', file);
    assert.match(table, new RegExp(`^Served by cli-digits version 1 \\(model ${modelId}\\)\n#\\s+CLASS`));

    const refused = await run('registry', 'delete-version', 'cli-digits', '1');
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /alias production/);
    assert.equal(await ok('registry', 'unalias', 'cli-digits', 'production'), 'Deleted alias cli-digits@production\n');
    assert.equal(await ok('registry', 'delete-version', 'cli-digits', '1'), 'Deleted cli-digits version 1\n');
    const missing = await run('predict', 'cli-digits@production', file);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /has no alias production/);
    const badVersion = await run('registry', 'alias', 'cli-digits', 'production', 'x');
    assert.equal(badVersion.code, 1);
    assert.match(badVersion.stderr, /a version is a number from 1 up/);
  });

  test('a job that fails exits non-zero with its error', async () => {
    const { service, dir } = fixture;
    const x = Array.from({ length: 64 }, (_, i) => [i / 64, (i % 8) / 8]);
    const exploding = {
      name: 'cli-explodes',
      model: {
        layers: [
          { type: 'dense', units: 8, activation: 'tanh' },
          { type: 'dense', units: 1 },
        ],
      },
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

describe('tts CLI against a service with API keys', () => {
  const KEY = 'cli-tenant-key-0123456789abcdef';
  const fixture = cliFixture(() => testConfig({ API_KEYS: `${KEY}:cli-tenant` }));

  test('with the key (TTS_API_KEY or --key) submit and follow work, the resumed stream too; without it or with a wrong one, one clear line and exit 1', async () => {
    const { service, dir, proxy, proxyUrl } = fixture;
    const file = path.join(dir, 'job.json');
    await writeFile(
      file,
      JSON.stringify(
        smallMnistJob({ name: 'cli-keyed', fit: { epochs: 3, batchSize: 64, validationSplit: 0, shuffle: true } }),
      ),
    );

    const noKey = await tts(['--url', service.url, 'submit', file]);
    assert.equal(noKey.code, 1, noKey.stdout + noKey.stderr);
    assert.equal(noKey.stderr, 'tts: the API wants a key: set TTS_API_KEY or --key (HTTP 401)\n');
    const wrongKey = await tts(['--url', service.url, '--key', 'not-the-key-0123456789', 'jobs']);
    assert.equal(wrongKey.code, 1);
    assert.equal(wrongKey.stderr, 'tts: the API refused the key: set TTS_API_KEY or --key to a valid one (HTTP 401)\n');

    // Submit with the key from the environment, then follow with --key through the proxy that drops the first stream.
    const submitted = await tts(['submit', file, '--no-follow'], { TTS_URL: service.url, TTS_API_KEY: KEY });
    assert.equal(submitted.code, 0, submitted.stderr);
    const id = submitted.stdout.trim();
    assert.match(id, /^\S+$/);

    const anonymous = await tts(['--url', service.url, 'follow', id]);
    assert.equal(anonymous.code, 1);
    assert.equal(anonymous.stderr, 'tts: the API wants a key: set TTS_API_KEY or --key (HTTP 401)\n');
    assert.equal(anonymous.stdout, '');

    const followed = await tts(['--url', proxyUrl, '--key', KEY, 'follow', id]);
    assert.equal(followed.code, 0, followed.stderr + followed.stdout);
    for (let e = 1; e <= 3; e++) {
      assert.equal(
        followed.stdout.split('\n').filter((l) => l.startsWith(`Epoch ${e}/3 `)).length,
        1,
        `epoch ${e} printed once:\n${followed.stdout}`,
      );
    }
    assert.match(followed.stdout, new RegExp(`Job ${id} completed: model \\S+`));
    assert.match(followed.stderr, /connection lost; resuming after event \d+-\d+/);
    assert.equal(proxy.streams.length, 2, JSON.stringify(proxy.streams));
    assert.match(proxy.streams[1].lastEventId!, /^\d+-\d+$/);
    assert.deepEqual(
      proxy.streams.map((s) => s.authorization),
      [`Bearer ${KEY}`, `Bearer ${KEY}`],
      'the resumed stream sends the key too',
    );

    const jobs = await tts(['--url', service.url, 'jobs'], { TTS_API_KEY: KEY });
    assert.equal(jobs.code, 0, jobs.stderr);
    assert.match(jobs.stdout, /cli-keyed\s+completed\s+3\/3/);
    assert.equal((jobs.stdout.match(/cli-keyed/g) ?? []).length, 1, 'the refused submission queued nothing');
  });
});
