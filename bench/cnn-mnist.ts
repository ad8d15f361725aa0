/**
 * The issue-3 acceptance run: examples/mnist-cnn.json (conv2d -> maxPooling2d -> conv2d ->
 * maxPooling2d -> flatten -> dense -> dropout -> dense) trained through the real service path
 * (API -> BullMQ -> sandboxed worker child) on all 60,000 digits, scored on the 10,000 test
 * digits. Prints one JSON line per epoch and a final one; exits 1 below 0.985 test accuracy.
 *
 *   npx tsx bench/cnn-mnist.ts [--epochs=N] [--train=N]
 */
import { readFileSync } from 'node:fs';
import { buildApp } from '../src/app.ts';
import { startWorker } from '../workers/worker.ts';
import { TrainingClient } from '../src/client/index.ts';
import { cleanup, testConfig } from './service.ts';

const arg = (name: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
const request = JSON.parse(readFileSync(new URL('../examples/mnist-cnn.json', import.meta.url), 'utf8'));
if (arg('epochs')) request.fit.epochs = Number(arg('epochs'));
if (arg('train')) request.data.limit = { train: Number(arg('train')) };

const config = await testConfig({ LOG_LEVEL: 'warn' });
const app = await buildApp(config, { logger: false });
await app.listen({ port: 0, host: '127.0.0.1' });
const address = app.server.address();
const url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
const worker = await startWorker(config);
const started = performance.now();
try {
  const client = new TrainingClient({ baseUrl: url });
  const { id } = await client.submitJob(request);
  for await (const e of client.followJob(id, { signal: AbortSignal.timeout(4 * 3600_000) })) {
    if (e.event === 'epoch')
      console.log(JSON.stringify({ epoch: e.data.epoch, seconds: e.data.elapsedMs / 1000, metrics: e.data.metrics }));
  }
  const job = await client.getJob(id);
  const accuracy = job.evaluation?.acc;
  console.log(
    JSON.stringify({
      status: job.status,
      backend: job.backend,
      testAccuracy: accuracy,
      evaluation: job.evaluation,
      wallSeconds: (performance.now() - started) / 1000,
      error: job.error,
    }),
  );
  process.exitCode = job.status === 'completed' && typeof accuracy === 'number' && accuracy >= 0.985 ? 0 : 1;
} finally {
  await worker.close();
  await app.close();
  await cleanup(config);
}
