import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { configToEnv } from '../src/config.ts';
import { cleanup, getJson, postJson, smallMnistJob, testConfig, waitForJob } from './helpers.ts';
import { freePort } from './processes.ts';

/**
 * Production runs the compiled JavaScript in dist/ (`npm run build`, which `npm test` and
 * `npm install` run first): the API and a worker started from it, with plain node and no
 * TypeScript loader, validate, train and predict, and serve the dashboard. The package's
 * `./client` export is that build's client, with its types.
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
      if (
        await fetch(`${url}/readyz`).then(
          (r) => r.ok,
          () => false,
        )
      )
        return;
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
    const predicted = await postJson(`${url}/v1/models/${done.modelId}/predict`, {
      instances: [Array.from({ length: 784 }, () => 0)],
    });
    assert.equal(predicted.status, 200);
    assert.equal(predicted.body.predictions[0].length, 10);
    const page = await fetch(`${url}/ui/`);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /<html/);
    assert.equal((await getJson(`${url}/healthz`)).status, 200);
  });
});

/** The published client as another project gets it: `npm install tfjs-training-service`, then import the `./client` export. */
describe('the package export tfjs-training-service/client', () => {
  // A specifier in a variable: typecheck and lint:deps run before the build, when dist/ may not exist yet.
  const specifier = 'tfjs-training-service/client';

  test('resolves (package self-reference) to the built client in dist/', async () => {
    assert.equal(import.meta.resolve(specifier), pathToFileURL(dist('src/client/index.js')).href);
    const client = (await import(specifier)) as typeof import('../src/client/index.ts');
    assert.equal(typeof client.TrainingClient, 'function');
    assert.equal(new client.TrainingClient({ baseUrl: 'http://127.0.0.1:1/' }).baseUrl, 'http://127.0.0.1:1');
    assert.equal(new client.ApiError(404, { detail: 'no such job' }).message, 'no such job (HTTP 404)');
  });

  test('its emitted declarations type a consumer: right uses compile, wrong ones do not', async () => {
    const project = await mkdtemp(path.join(tmpdir(), 'tts-consumer-'));
    try {
      await mkdir(path.join(project, 'node_modules'));
      await symlink(root, path.join(project, 'node_modules', 'tfjs-training-service'), 'dir');
      await writeFile(path.join(project, 'package.json'), JSON.stringify({ type: 'module' }));
      const compilerOptions = {
        strict: true,
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        target: 'ES2022',
        noEmit: true,
        types: ['node'],
        typeRoots: [path.join(root, 'node_modules/@types')],
      };
      await writeFile(path.join(project, 'tsconfig.json'), JSON.stringify({ compilerOptions, files: ['consumer.ts'] }));
      // Each @ts-expect-error fails the compile if the types it guards resolved to `any`.
      await writeFile(
        path.join(project, 'consumer.ts'),
        [
          "import { ApiError, TrainingClient, type Job, type JobEvent } from 'tfjs-training-service/client';",
          "const client = new TrainingClient({ baseUrl: 'http://127.0.0.1:3000', apiKey: 'key' });",
          "const job: Job = await client.submitJob({ model: { layers: [{ type: 'dense', units: 1, inputShape: [2] }] }, data: { x: [[0, 1]], y: [1] }, fit: { epochs: 2 } });",
          "for await (const e of client.followJob(job.id)) if (e.event === 'epoch') console.log(e.data.epoch, e.data.metrics.loss);",
          'const last: JobEvent | undefined = undefined;',
          "// @ts-expect-error: a job status is one of the API's",
          "const status: 'done' = job.status;",
          '// @ts-expect-error: predict takes instances',
          "await client.predict('id', 42);",
          'export { last, status, ApiError };',
        ].join('\n'),
      );
      const tsc = path.join(root, 'node_modules/typescript/bin/tsc');
      const result = await promisify(execFile)(process.execPath, [tsc, '-p', project]).then(
        () => 'ok',
        (err: { stdout: string }) => err.stdout,
      );
      assert.equal(result, 'ok');
    } finally {
      await rm(project, { recursive: true, force: true });
    }
  });
});
