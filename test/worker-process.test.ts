import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { configToEnv } from '../src/config.ts';
import { postJson, smallMnistJob, startService, waitForJob } from './helpers.ts';

const workerScript = fileURLToPath(new URL('../workers/worker.ts', import.meta.url));

test('a worker in its own process trains jobs the API queued, and stops on SIGTERM', async () => {
  const service = await startService({ worker: false });
  const worker = spawn(process.execPath, ['--import', 'tsx', workerScript], {
    env: { ...process.env, ...configToEnv(service.config), LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let output = '';
  worker.stdout.on('data', (chunk) => (output += chunk));
  try {
    const first = await postJson(`${service.url}/v1/jobs`, smallMnistJob());
    const second = await postJson(`${service.url}/v1/jobs`, { ...smallMnistJob(), name: 'second' });
    const [a, b] = [await waitForJob(service.url, first.body.id), await waitForJob(service.url, second.body.id)];
    assert.equal(a.status, 'completed', JSON.stringify(a.error));
    assert.equal(b.status, 'completed', JSON.stringify(b.error));
    assert.notEqual(a.modelId, b.modelId);
    assert.match(output, /worker ready/);
  } finally {
    worker.kill('SIGTERM');
    const [code] = await once(worker, 'exit');
    assert.equal(code, 0, 'a worker exits cleanly on SIGTERM');
    await service.close();
  }
});
