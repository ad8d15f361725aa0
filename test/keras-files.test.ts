import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { apiAs, smallMnistJob, startService, testConfig, type TestService } from './helpers.ts';

const FIXTURES = fileURLToPath(new URL('./fixtures/keras/', import.meta.url));
/** Debian's python3-h5py: the independent reader of exports (the `python3` on PATH may lack h5py). */
const PYTHON = '/usr/bin/python3';

const INSTANCES = Array.from({ length: 4 }, (_, n) => Array.from({ length: 784 }, (_, i) => (i * 37 + n * 101) % 256));

/** A multipart import: `files` as [field, file name, bytes], `name` an optional form field. */
async function importModel(url: string, files: [string, string, Buffer][], name?: string) {
  const form = new FormData();
  if (name) form.append('name', name);
  for (const [field, filename, bytes] of files) form.append(field, new Blob([bytes]), filename);
  const response = await fetch(`${url}/v1/models/import`, { method: 'POST', body: form });
  return { status: response.status, body: (await response.json()) as any };
}

/**
 * Keras files in and out against the real service: a trained model exported as Keras HDF5
 * (checked by h5py) and as a tfjs zip, imported back with bit-identical predictions, a Keras
 * HDF5 file written by h5py imported and predicting what numpy computes, and refusals.
 */
describe('Keras files', () => {
  let service: TestService;
  let api: ReturnType<typeof apiAs>;
  let modelId: string;
  let temp: string;

  before(async () => {
    service = await startService();
    api = apiAs(service.url);
    temp = await mkdtemp(path.join(os.tmpdir(), 'keras-files-test-'));
    const submitted = await api.post('/v1/jobs', smallMnistJob({ name: 'to-export' }));
    assert.equal(submitted.status, 202, JSON.stringify(submitted.body));
    const job = await api.waitFor(submitted.body.id);
    assert.equal(job.status, 'completed', JSON.stringify(job.error));
    modelId = job.modelId;
  });
  after(async () => {
    await service?.close();
    if (temp) await rm(temp, { recursive: true, force: true });
  });

  const download = async (route: string) => {
    const response = await fetch(`${service.url}${route}`);
    assert.equal(response.status, 200, `${route}: ${response.status}`);
    return { type: response.headers.get('content-type'), bytes: Buffer.from(await response.arrayBuffer()) };
  };
  const predict = async (id: string, instances: unknown[]) => {
    const response = await api.post(`/v1/models/${id}/predict`, { instances });
    assert.equal(response.status, 200, JSON.stringify(response.body));
    return response.body.predictions as number[][];
  };
  /** The model's predictions for the fixture's instances are what numpy computed (within 1e-5). */
  const predictsAsExpected = async (id: string, expected: { instances: unknown[]; predictions: number[][] }) => {
    const predictions = await predict(id, expected.instances);
    for (const [i, row] of predictions.entries())
      for (const [j, v] of row.entries())
        assert.ok(
          Math.abs(v - expected.predictions[i][j]) < 1e-5,
          `[${i}][${j}] ${v} vs ${expected.predictions[i][j]}`,
        );
  };
  const modelCount = async () => (await api.get('/v1/models?limit=100')).body.items.length;

  test('keras-h5 export has Keras 2 layout and the model weights, read by h5py', async () => {
    const h5 = await download(`/v1/models/${modelId}/export?format=keras-h5`);
    assert.equal(h5.type, 'application/x-hdf5');
    const files = ['model.h5', 'model.json', 'weights.bin'].map((f) => path.join(temp, f));
    await writeFile(files[0], h5.bytes);
    await writeFile(files[1], (await download(`/v1/models/${modelId}/model.json`)).bytes);
    await writeFile(files[2], (await download(`/v1/models/${modelId}/weights.bin`)).bytes);
    const read = JSON.parse(
      execFileSync(PYTHON, [path.join(FIXTURES, 'read-export.py'), ...files], { encoding: 'utf8' }),
    );
    assert.equal(read.attrs.backend, 'tensorflow');
    assert.match(read.attrs.keras_version, /^2\./);
    assert.equal(read.model_config.class_name, 'Sequential');
    assert.equal(read.layers.length, 2);
    const [first, second] = read.layers;
    assert.deepEqual(first.weight_names, [`${first.name}/kernel:0`, `${first.name}/bias:0`]);
    assert.deepEqual(first.shapes, [[784, 64], [64]]);
    assert.deepEqual(second.shapes, [[64, 10], [10]]);
    assert.equal(read.weights_checked, 4);
    assert.equal(read.matches, true, 'every dataset equals the weights.bin values');
  });

  test('keras-h5 export imported again predicts bit-identically', async () => {
    const h5 = await download(`/v1/models/${modelId}/export?format=keras-h5`);
    const imported = await importModel(service.url, [['file', 'exported.h5', h5.bytes]], 'round-trip');
    assert.equal(imported.status, 201, JSON.stringify(imported.body));
    assert.equal(imported.body.name, 'round-trip');
    assert.equal(imported.body.jobId, null);
    assert.equal(imported.body.summary.totalParams, 784 * 64 + 64 + 64 * 10 + 10);
    assert.deepEqual(await predict(imported.body.id, INSTANCES), await predict(modelId, INSTANCES));
  });

  test('tfjs zip export: model.json and weights.bin, imported again predicting bit-identically', async () => {
    const zip = await download(`/v1/models/${modelId}/export?format=tfjs`);
    assert.equal(zip.type, 'application/zip');
    const zipFile = path.join(temp, 'model.zip');
    const unzipped = path.join(temp, 'unzipped');
    await writeFile(zipFile, zip.bytes);
    const listing = execFileSync(
      PYTHON,
      [
        '-c',
        'import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); z.extractall(sys.argv[2]); print(" ".join(sorted(z.namelist())))',
        zipFile,
        unzipped,
      ],
      { encoding: 'utf8' },
    );
    assert.equal(listing.trim(), 'model.json weights.bin');
    const imported = await importModel(service.url, [
      ['file', 'model.json', await readFile(path.join(unzipped, 'model.json'))],
      ['weights', 'weights.bin', await readFile(path.join(unzipped, 'weights.bin'))],
    ]);
    assert.equal(imported.status, 201, JSON.stringify(imported.body));
    assert.equal(imported.body.name, 'model');
    assert.deepEqual(await predict(imported.body.id, INSTANCES), await predict(modelId, INSTANCES));
  });

  test("a tfjs model.json without this service's transforms predicts on the model's own inputs", async () => {
    const imported = await importModel(service.url, [
      ['file', 'model.json', (await download(`/v1/models/${modelId}/model.json`)).bytes],
      ['weights', 'weights.bin', (await download(`/v1/models/${modelId}/weights.bin`)).bytes],
    ]);
    assert.equal(imported.status, 201, JSON.stringify(imported.body));
    assert.deepEqual(imported.body.transforms, { featureShape: [784], inputs: {}, labels: {} });
    const scaled = INSTANCES.map((row) => row.map((v) => v / 255));
    assert.equal((await predict(imported.body.id, scaled)).length, INSTANCES.length);
  });

  test('a Keras HDF5 file written by h5py predicts what numpy computes', async () => {
    const expected = JSON.parse(await readFile(path.join(FIXTURES, 'dense.expected.json'), 'utf8'));
    const imported = await importModel(service.url, [
      ['file', 'dense.h5', await readFile(path.join(FIXTURES, 'dense.h5'))],
    ]);
    assert.equal(imported.status, 201, JSON.stringify(imported.body));
    assert.equal(imported.body.name, 'dense');
    assert.deepEqual(imported.body.transforms.featureShape, [4]);
    await predictsAsExpected(imported.body.id, expected);
  });

  test('a Keras 3 .keras archive predicts what numpy computes', async () => {
    const expected = JSON.parse(await readFile(path.join(FIXTURES, 'dense.expected.json'), 'utf8'));
    const imported = await importModel(service.url, [
      ['file', 'dense.keras', await readFile(path.join(FIXTURES, 'dense.keras'))],
    ]);
    assert.equal(imported.status, 201, JSON.stringify(imported.body));
    assert.deepEqual(
      imported.body.summary.layers.map((l: any) => l.name),
      ['hidden', 'probs'],
    );
    await predictsAsExpected(imported.body.id, expected);
  });

  test('refusals: a Lambda layer is a 422 naming it, a corrupt file a 400 naming /file; nothing is stored', async () => {
    const before = await modelCount();
    const lambda = await importModel(service.url, [
      ['file', 'lambda.h5', await readFile(path.join(FIXTURES, 'lambda.h5'))],
    ]);
    assert.equal(lambda.status, 422, JSON.stringify(lambda.body));
    assert.equal(lambda.body.code, 'layer_not_allowed');
    assert.match(lambda.body.detail ?? lambda.body.message ?? JSON.stringify(lambda.body), /"lambda" \(Lambda\)/);

    const mismatch = await importModel(service.url, [
      ['file', 'mismatch.h5', await readFile(path.join(FIXTURES, 'mismatch.h5'))],
    ]);
    assert.equal(mismatch.status, 422, JSON.stringify(mismatch.body));
    assert.equal(mismatch.body.code, 'weights_mismatch');
    assert.match(mismatch.body.detail, /layer "dense_1".*shape \[3,8\].*needs \[8,3\]/);

    const garbage = await importModel(service.url, [
      ['file', 'model.h5', Buffer.from('not a model at all, not even close')],
    ]);
    assert.equal(garbage.status, 400, JSON.stringify(garbage.body));
    assert.equal(garbage.body.errors[0].path, '/file');

    const truncated = (await readFile(path.join(FIXTURES, 'dense.h5'))).subarray(0, 2048);
    const cut = await importModel(service.url, [['file', 'dense.h5', truncated]]);
    assert.equal(cut.status, 400, JSON.stringify(cut.body));
    assert.equal(cut.body.errors[0].path, '/file');

    const missing = await importModel(service.url, [
      ['file', 'model.json', (await download(`/v1/models/${modelId}/model.json`)).bytes],
    ]);
    assert.equal(missing.status, 400, JSON.stringify(missing.body));
    assert.match(JSON.stringify(missing.body), /weights\.bin/);
    assert.equal(await modelCount(), before);
  });
});

describe('Keras file upload limit', () => {
  let service: TestService;
  before(async () => {
    service = await startService({ worker: false, config: await testConfig({ DATASET_UPLOAD_LIMIT_BYTES: '4096' }) });
  });
  after(() => service?.close());

  test('a file over DATASET_UPLOAD_LIMIT_BYTES is a 413 and stores nothing', async () => {
    const imported = await importModel(service.url, [
      ['file', 'dense.h5', await readFile(path.join(FIXTURES, 'dense.h5'))],
    ]);
    assert.equal(imported.status, 413, JSON.stringify(imported.body));
    assert.equal((await apiAs(service.url).get('/v1/models')).body.items.length, 0);
  });
});
