import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { startS3, type S3Server } from '../bench/s3-server.ts';
import { loadConfig, type Config } from '../src/config.ts';
import { binaryRows, csv, upload } from './dataset-fixtures.ts';
import { cleanup, getJson, postJson, readEvents, testConfig, waitForJob } from './helpers.ts';
import { freePort, spawnApi, spawnWorker, trainingChildren } from './processes.ts';

const EPOCHS = 8;
const sha = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/**
 * Many machines, played by processes that share only Redis and an S3 server (s3rver): each
 * has its own empty DATA_DIR and CACHE_DIR, and no folder is shared.
 */
let s3: S3Server;
let base: Config;
const folders: string[] = [];
const processes: { child: ChildProcess; exited: Promise<unknown> }[] = [];

/** The config of one "machine": the shared Redis and bucket, a folder of its own. */
async function machine(overrides: Record<string, string> = {}) {
  const own = await mkdtemp(path.join(tmpdir(), 'tts-machine-'));
  folders.push(own);
  const config = loadConfig({
    ...Object.fromEntries(Object.entries(base).map(([k, v]) => [k, String(v)])),
    ...s3.env(base.REDIS_PREFIX),
    DATA_DIR: own,
    CACHE_DIR: path.join(own, 'cache'),
    ...overrides,
  });
  return { config, env: s3.env(base.REDIS_PREFIX) };
}

before(async () => {
  s3 = await startS3();
  // A lost worker's job moves to another after WORKER_LOCK_MS: short, so the test does not wait long.
  base = await testConfig({ WORKER_LOCK_MS: '2000', JOB_RETRY_DELAY_MS: '200' });
});
after(async () => {
  for (const p of processes) p.child.kill('SIGKILL');
  await Promise.all(processes.map((p) => p.exited));
  await cleanup(base);
  for (const folder of folders) await rm(folder, { recursive: true, force: true });
  await s3.remove();
});

test('one Redis, one S3 server, an API and two workers with nothing shared on disk: upload, train, lose a worker, serve from a second API', async () => {
  const apiMachine = await machine({ PORT: String(await freePort()) });
  const api = await spawnApi(apiMachine.config, apiMachine.env);
  processes.push(api);
  const workers = [];
  for (let i = 0; i < 2; i++) {
    const m = await machine();
    const worker = spawnWorker(m.config, m.env);
    processes.push(worker);
    workers.push({ ...worker, cache: m.config.CACHE_DIR });
  }

  // A dataset uploaded through the API goes to the bucket.
  const uploaded = await upload(api.url, csv(['a', 'b', 'answer'], binaryRows(3000)), 'text/csv', '?name=spread');
  assert.equal(uploaded.status, 201, JSON.stringify(uploaded.body));
  const dataset = uploaded.body;
  const datasetObjects = await s3.objects(`${base.REDIS_PREFIX}/datasets/${dataset.id}/`);
  const metaObject = datasetObjects.find((o) => o.key.endsWith('/meta.json'))!;
  const columnBytes = datasetObjects.filter((o) => o !== metaObject).reduce((sum, o) => sum + o.size, 0);
  assert.equal(columnBytes + 2 * metaObject.size, dataset.bytes, 'the quota counts what the bucket holds');

  const submitted = await postJson(`${api.url}/v1/jobs`, {
    name: 'spread',
    model: {
      layers: [
        { type: 'dense', units: 16, activation: 'relu' },
        { type: 'dense', units: 1, activation: 'sigmoid' },
      ],
    },
    compile: { optimizer: 'adam', loss: 'binary_crossentropy', metrics: ['accuracy'] },
    data: { dataset: dataset.id, inputs: { standardize: true } },
    fit: { epochs: EPOCHS, batchSize: 4, validationSplit: 0, seed: 3 },
  });
  assert.equal(submitted.status, 202, JSON.stringify(submitted.body));
  const id = submitted.body.id;

  // The worker training it is killed (kill -9, child and all) after its second epoch's checkpoint.
  await readEvents(`${api.url}/v1/jobs/${id}/events`, { stopAfter: (e) => e.event === 'epoch' && e.data.epoch === 2 });
  const busy = workers.find((w) => trainingChildren(w.child.pid!).length > 0)!;
  assert.ok(busy, 'one of the workers trains the job');
  for (const child of trainingChildren(busy.child.pid!)) process.kill(child, 'SIGSTOP');
  const held = (await getJson(`${api.url}/v1/jobs/${id}`)).body;
  assert.equal(held.status, 'running', `killed mid-run (${held.progress.epoch} of ${EPOCHS} epochs done)`);
  for (const child of trainingChildren(busy.child.pid!)) process.kill(child, 'SIGKILL');
  busy.child.kill('SIGKILL');
  await busy.exited;

  const done = await waitForJob(api.url, id, ['completed', 'failed'], 180_000);
  assert.equal(done.status, 'completed', JSON.stringify(done.error));
  assert.equal(done.attempts, 2, 'resumed once, by the other worker');
  const { events } = await readEvents(`${api.url}/v1/jobs/${id}/events`);
  assert.deepEqual(
    events.filter((e) => e.event === 'epoch').map((e) => e.data.epoch),
    Array.from({ length: EPOCHS }, (_, i) => i + 1),
    'every epoch once',
  );
  const survivor = workers.find((w) => w !== busy)!;
  // The survivor fetched the dataset into its own cache: the bytes are the bucket's.
  const cached = path.join(survivor.cache, `datasets~${dataset.id}`);
  for (const object of datasetObjects) {
    const file = path.join(cached, path.basename(object.key));
    assert.equal(sha(await readFile(file)), sha(await s3.bytes(object.key)), object.key);
  }
  const models = (await getJson(`${api.url}/v1/models`)).body.items;
  assert.deepEqual(
    models.map((m: { id: string }) => m.id),
    [done.modelId],
    'one model',
  );
  // The record says completed a moment before the worker deletes the checkpoint.
  const checkpoints = () => s3.objects(`${base.REDIS_PREFIX}/checkpoints/`);
  for (let i = 0; i < 200 && (await checkpoints()).length > 0; i++) await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual(await checkpoints(), [], 'checkpoints go when the job ends');

  // A second API that never saw a file: predict, and model.json that tf.loadLayersModel reads.
  const second = await machine({ PORT: String(await freePort()) });
  const api2 = await spawnApi(second.config, second.env);
  processes.push(api2);
  const instances = [
    [1.5, 1.2],
    [-1.4, -1.1],
  ];
  const predicted = await postJson(`${api2.url}/v1/models/${done.modelId}/predict`, { instances });
  assert.equal(predicted.status, 200, JSON.stringify(predicted.body));
  const loaded = await tf.loadLayersModel(`${api2.url}/v1/models/${done.modelId}/model.json`);
  const standardized = (await getJson(`${api2.url}/v1/models/${done.modelId}`)).body.transforms;
  assert.ok(standardized, 'the model carries its input transforms');
  const modelPrefix = `${base.REDIS_PREFIX}/models/${done.modelId}/`;
  for (const file of ['model.json', 'weights.bin']) {
    const served = Buffer.from(await (await fetch(`${api2.url}/v1/models/${done.modelId}/${file}`)).arrayBuffer());
    assert.equal(sha(served), sha(await s3.bytes(`${modelPrefix}${file}`)), file);
  }
  const weights = await s3.bytes(`${modelPrefix}weights.bin`);
  assert.equal(weights.length, (await getJson(`${api2.url}/v1/models/${done.modelId}`)).body.bytes);
  assert.equal(loaded.countParams(), 2 * 16 + 16 + 16 + 1);
  loaded.dispose();

  // Nothing durable on any machine's disk: only caches and staging.
  for (const folder of folders) {
    const left = (await readdir(folder)).filter((n) => n !== 'cache');
    assert.deepEqual(left, [], `${folder} holds only its cache`);
  }
});
