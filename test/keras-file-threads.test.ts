import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { apiAs, startService, testConfig, type TestService } from './helpers.ts';

const FIXTURES = fileURLToPath(new URL('./fixtures/keras/', import.meta.url));

async function importFile(url: string, name: string, bytes: Buffer) {
  const form = new FormData();
  form.append('file', new Blob([bytes]), name);
  const response = await fetch(`${url}/v1/models/import`, { method: 'POST', body: form });
  return { status: response.status, body: (await response.json()) as any };
}

/** Every file under `dir`, as paths relative to it. */
async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries.filter((e) => e.isFile()).map((e) => path.relative(dir, path.join(e.parentPath, e.name)));
}

/** The id the API's tfjs engine gives its next tensor: any tensor made in between moves it. */
function nextTensorId() {
  const probe = tf.scalar(0);
  probe.dispose();
  return probe.id + 1;
}

/**
 * Keras file imports and HDF5 exports run in threads of their own (IMPORT_* settings), never
 * on the API's event loop or in the backend predict shares; an import over its time limit is
 * a 422 that stores nothing and leaves the service answering.
 */
describe('Keras files in threads', () => {
  let service: TestService;
  let slow: TestService;
  let temp: string;
  let importedId: string;
  const tmpdir = process.env.TMPDIR;

  before(async () => {
    // The import's upload folder is made under os.tmpdir(): a folder of this test's own, to see it go.
    temp = await mkdtemp(path.join(os.tmpdir(), 'keras-file-threads-test-'));
    process.env.TMPDIR = temp;
    service = await startService({ worker: false });
    // 1 ms: no HDF5 file is parsed and its model built in it, whatever the machine.
    slow = await startService({
      worker: false,
      config: await testConfig({ IMPORT_TIMEOUT_MS: '1', RATE_LIMIT_PER_MINUTE: '0' }),
    });
  });
  after(async () => {
    await service?.close();
    await slow?.close();
    // Assigning undefined would set the string "undefined" (a relative folder).
    if (tmpdir === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = tmpdir;
    if (temp) await rm(temp, { recursive: true, force: true });
  });

  test("an import builds no tensor in the API's backend, predicts what numpy computes, and exports through a thread", async () => {
    const expected = JSON.parse(await readFile(path.join(FIXTURES, 'dense.expected.json'), 'utf8'));
    const before = nextTensorId();
    const imported = await importFile(service.url, 'dense.h5', await readFile(path.join(FIXTURES, 'dense.h5')));
    assert.equal(imported.status, 201, JSON.stringify(imported.body));
    assert.equal(nextTensorId(), before + 1, "the import's model was built elsewhere (only the probe counted)");
    importedId = imported.body.id;
    const api = apiAs(service.url);
    const predict = async (id: string) => {
      const res = await api.post(`/v1/models/${id}/predict`, { instances: expected.instances });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      return res.body.predictions as number[][];
    };
    const predictions = await predict(imported.body.id);
    for (const [i, row] of predictions.entries())
      for (const [j, v] of row.entries())
        assert.ok(
          Math.abs(v - expected.predictions[i][j]) < 1e-5,
          `[${i}][${j}] ${v} vs ${expected.predictions[i][j]}`,
        );
    const exported = await fetch(`${service.url}/v1/models/${imported.body.id}/export?format=keras-h5`);
    assert.equal(exported.status, 200);
    const again = await importFile(service.url, 'again.h5', Buffer.from(await exported.arrayBuffer()));
    assert.equal(again.status, 201, JSON.stringify(again.body));
    assert.deepEqual(await predict(again.body.id), predictions);
  });

  test('an import over IMPORT_TIMEOUT_MS is a 422 naming /file, stores nothing, leaves nothing behind, and the service answers on', async () => {
    const api = apiAs(slow.url);
    const bytes = await readFile(path.join(FIXTURES, 'dense.h5'));
    // Twice: the second is answered by the thread that replaced the one ended for the first.
    for (let i = 0; i < 2; i++) {
      const res = await importFile(slow.url, 'dense.h5', bytes);
      assert.equal(res.status, 422, JSON.stringify(res.body));
      assert.equal(res.body.code, 'import_timeout');
      assert.match(res.body.detail, /longer than 1 ms \(IMPORT_TIMEOUT_MS\)/);
      assert.deepEqual(
        res.body.errors.map((e: { path: string }) => e.path),
        ['/file'],
      );
    }
    const listed = await api.get('/v1/models');
    assert.equal(listed.status, 200);
    assert.equal(listed.body.items.length, 0, 'no model was registered');
    assert.deepEqual(await filesUnder(slow.config.DATA_DIR), [], 'nothing staged or published is left');
    assert.deepEqual(
      (await readdir(temp)).filter((name) => name.startsWith('model-import-')),
      [],
      'the upload folders are gone',
    );
    assert.equal((await api.get('/healthz')).status, 200);
  });

  test('a keras-h5 export over IMPORT_TIMEOUT_MS is a 422 export_timeout; tfjs, which needs no thread, still answers', async () => {
    assert.ok(importedId, 'the first test imported a model');
    // A second API over the same Redis and store, with a 1 ms limit: the model is there, its HDF5 file is not written in time.
    const { DATA_DIR, REDIS_PREFIX } = service.config;
    const strict = await startService({
      worker: false,
      config: await testConfig({ IMPORT_TIMEOUT_MS: '1', RATE_LIMIT_PER_MINUTE: '0', DATA_DIR, REDIS_PREFIX }),
    });
    try {
      const res = await apiAs(strict.url).get(`/v1/models/${importedId}/export?format=keras-h5`);
      assert.equal(res.status, 422, JSON.stringify(res.body));
      assert.equal(res.body.code, 'export_timeout');
      assert.match(res.body.detail, /longer than 1 ms \(IMPORT_TIMEOUT_MS\)/);
      const zip = await fetch(`${strict.url}/v1/models/${importedId}/export?format=tfjs`);
      assert.equal(zip.status, 200);
      await zip.arrayBuffer();
    } finally {
      // Only the app: the store and the keys belong to the first service, which cleans them up.
      await strict.app.close();
    }
  });
});
