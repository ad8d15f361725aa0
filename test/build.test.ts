import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { configToEnv } from '../src/config.ts';
import { cleanup, getJson, postJson, smallMnistJob, testConfig, waitForJob } from './helpers.ts';
import { freePort } from './processes.ts';

/**
 * Production runs the compiled JavaScript in dist/ (`npm run build`, which `npm test` and
 * `npm install` run first): the API and a worker started from it, with plain node and no
 * TypeScript loader, validate, train and predict, and serve the dashboard.
 */
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dist = (file: string) => path.join(root, 'dist', file);

describe('the compiled service in dist/', () => {
  const children: ChildProcess[] = [];
  let url: string;
  let config: Awaited<ReturnType<typeof testConfig>>;

  before(async () => {
    assert.ok(existsSync(dist('src/server.js')), 'dist/ is built (npm run build)');
    const port = await freePort();
    config = await testConfig({ PORT: String(port), LOG_LEVEL: 'warn' });
    url = `http://127.0.0.1:${port}`;
    // Plain node, without the tsx loader this test process runs under.
    const env = { ...process.env, ...configToEnv(config), NODE_OPTIONS: '' };
    for (const file of ['src/server.js', 'workers/worker.js']) {
      children.push(spawn(process.execPath, [dist(file)], { env, stdio: ['ignore', 'ignore', 'inherit'] }));
    }
    for (let i = 0; i < 100; i++) {
      if ((await fetch(`${url}/readyz`).then((r) => r.ok, () => false))) return;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.fail('the compiled API never became ready');
  });
  after(async () => {
    for (const child of children) {
      child.kill('SIGTERM');
      if (child.exitCode === null) await once(child, 'exit');
    }
    await cleanup(config);
  });

  test('validates in its dry-run thread, trains in its worker, predicts, and serves the dashboard', async () => {
    const validated = await postJson(`${url}/v1/models/validate`, smallMnistJob());
    assert.equal(validated.status, 200, JSON.stringify(validated.body));
    const submitted = await postJson(`${url}/v1/jobs`, smallMnistJob());
    assert.equal(submitted.status, 202, JSON.stringify(submitted.body));
    const done = await waitForJob(url, submitted.body.id);
    assert.equal(done.status, 'completed', JSON.stringify(done.error));
    const predicted = await postJson(`${url}/v1/models/${done.modelId}/predict`, { instances: [Array.from({ length: 784 }, () => 0)] });
    assert.equal(predicted.status, 200);
    assert.equal(predicted.body.predictions[0].length, 10);
    const page = await fetch(`${url}/ui/`);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /<html/);
    assert.equal((await getJson(`${url}/healthz`)).status, 200);
  });
});
