import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdir, readdir, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { csv, gzip, idxFile, upload, uploadForm } from './dataset-fixtures.ts';
import { getJson, postJson, startService, testConfig, type TestService } from './helpers.ts';

/** The datasets API alone (no worker): uploads in every format, descriptions, refusals, deletes. */
describe('datasets API', () => {
  let service: TestService;
  before(async () => {
    service = await startService({ worker: false, config: await testConfig({ DATASET_UPLOAD_LIMIT_BYTES: '4096' }) });
  });
  after(() => service.close());

  const uploadedIds = async () =>
    (await getJson(`${service.url}/v1/datasets?limit=100`)).body.items
      .filter((d: any) => !d.builtIn)
      .map((d: any) => d.id);
  const storedDirs = async () =>
    (await readdir(path.join(service.config.DATA_DIR, 'datasets')).catch(() => [] as string[])).sort();
  const remove = async (id: string) =>
    assert.equal((await fetch(`${service.url}/v1/datasets/${id}`, { method: 'DELETE' })).status, 204);

  test('a raw text/csv upload is stored and described: types, label, classes, statistics, bytes', async () => {
    const body = csv(
      ['height', 'weight', 'species'],
      [
        [1.5, 10, 'cat'],
        [2.5, 30, 'dog'],
        [2, 20, 'cat'],
      ],
    );
    const { status, headers, body: dataset } = await upload(service.url, body, 'text/csv', '?name=pets');
    assert.equal(status, 201, JSON.stringify(dataset));
    assert.equal(headers.get('location'), `/v1/datasets/${dataset.id}`);
    assert.match(dataset.id, /^[0-9a-f-]{36}$/);
    assert.equal(dataset.name, 'pets');
    assert.equal(dataset.format, 'csv');
    assert.equal(dataset.rows, 3);
    assert.equal(dataset.label, 'species');
    assert.deepEqual(dataset.features, ['height', 'weight']);
    assert.deepEqual(dataset.featureShape, [2]);
    assert.ok(dataset.bytes > 0 && dataset.createdAt);
    const [height, , species] = dataset.columns;
    assert.deepEqual(
      { type: height.type, min: height.min, max: height.max, mean: height.mean },
      { type: 'numeric', min: 1.5, max: 2.5, mean: 2 },
    );
    assert.deepEqual(species.classes, [
      { name: 'cat', count: 2 },
      { name: 'dog', count: 1 },
    ]);
    assert.equal(species.type, 'string');
    assert.equal(species.file, undefined, 'file names stay internal');
    assert.deepEqual(await storedDirs(), [dataset.id]);

    const got = await getJson(`${service.url}/v1/datasets/${dataset.id}`);
    assert.deepEqual(got.body, dataset);
    await remove(dataset.id);
    assert.equal((await getJson(`${service.url}/v1/datasets/${dataset.id}`)).status, 404);
    assert.deepEqual(await storedDirs(), []);
  });

  test('multipart CSV: the delimiter field, quoted cells with delimiters and escaped quotes, a chosen label', async () => {
    const text = 'name;score;grade\n"Smith; J.";1.5;"A ""plus"""\nDoe;2;B\n';
    const { status, body } = await uploadForm(service.url, {
      delimiter: ';',
      label: 'score',
      file: { data: text, filename: 'grades.csv' },
    });
    assert.equal(status, 201, JSON.stringify(body));
    assert.equal(body.label, 'score');
    assert.deepEqual(
      body.columns.map((c: any) => [c.name, c.type]),
      [
        ['name', 'string'],
        ['score', 'numeric'],
        ['grade', 'string'],
      ],
    );
    assert.deepEqual(
      body.columns[0].classes.map((c: any) => c.name),
      ['Smith; J.', 'Doe'],
    );
    assert.deepEqual(
      body.columns[2].classes.map((c: any) => c.name),
      ['A "plus"', 'B'],
    );
    assert.deepEqual(body.features, [], 'text columns are not default features');
    await remove(body.id);
  });

  test('JSON {x, y} with nested samples and class names', async () => {
    const { status, body } = await upload(
      service.url,
      JSON.stringify({
        x: [
          [
            [1, 2],
            [3, 4],
          ],
          [
            [5, 6],
            [7, 8],
          ],
        ],
        y: ['odd', 'even'],
      }),
      'application/json',
    );
    assert.equal(status, 201, JSON.stringify(body));
    assert.deepEqual(body.featureShape, [2, 2]);
    assert.equal(body.label, 'y');
    assert.deepEqual(body.columns[1].classes, [
      { name: 'odd', count: 1 },
      { name: 'even', count: 1 },
    ]);
    assert.deepEqual([body.columns[0].min, body.columns[0].max, body.columns[0].mean], [1, 8, 4.5]);
    await remove(body.id);
  });

  test('JSON records', async () => {
    const records = [
      { a: 1, b: 2, t: 0.5 },
      { a: 3, b: 4, t: 1.5 },
    ];
    const { status, body } = await upload(service.url, JSON.stringify(records), 'application/json', '?label=t');
    assert.equal(status, 201, JSON.stringify(body));
    assert.deepEqual([body.rows, body.label, body.features], [2, 't', ['a', 'b']]);
    await remove(body.id);
  });

  for (const gzipped of [false, true]) {
    test(`IDX image/label pair, ${gzipped ? 'gzip' : 'plain'}`, async () => {
      const images = idxFile([3, 2, 2], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 255]);
      const labels = idxFile([3], [1, 0, 1]);
      const file = (b: Buffer, name: string) => ({
        data: gzipped ? gzip(b) : b,
        filename: gzipped ? `${name}.gz` : name,
      });
      const { status, body } = await uploadForm(service.url, {
        images: file(images, 'x-idx3-ubyte'),
        labels: file(labels, 'y-idx1-ubyte'),
      });
      assert.equal(status, 201, JSON.stringify(body));
      assert.equal(body.format, 'idx');
      assert.deepEqual([body.rows, body.label, body.features, body.featureShape], [3, 'labels', ['images'], [2, 2]]);
      assert.deepEqual(body.columns[1].classes, [
        { name: '0', count: 1 },
        { name: '1', count: 2 },
      ]);
      assert.equal(body.columns[0].max, 255);
      await remove(body.id);
    });
  }

  test('the list shows the built-in mnist first, with its class counts', async () => {
    const { status, body } = await getJson(`${service.url}/v1/datasets`);
    assert.equal(status, 200);
    const mnist = body.items[0];
    assert.deepEqual([mnist.id, mnist.builtIn, mnist.rows, mnist.testRows], ['mnist', true, 60000, 10000]);
    assert.equal(
      mnist.columns[1].classes.reduce((s: number, c: any) => s + c.count, 0),
      60000,
    );
    assert.equal((await getJson(`${service.url}/v1/datasets/mnist`)).body.id, 'mnist');
    assert.equal((await fetch(`${service.url}/v1/datasets/mnist`, { method: 'DELETE' })).status, 409);
    assert.equal((await getJson(`${service.url}/v1/datasets/00000000-0000-7000-8000-000000000000`)).status, 404);
  });

  const refusals: [string, () => Promise<{ status: number; body: any }>, number, string, RegExp][] = [
    [
      'a CSV row with too few cells',
      () => upload(service.url, 'a,b,c\n1,2,x\n3,4\n', 'text/csv'),
      400,
      '/rows/2',
      /line 3/,
    ],
    ['an unclosed quote', () => upload(service.url, 'a,b\n1,"x\n', 'text/csv'), 400, '/rows/1', /Quote Not Closed/],
    [
      'a non-numeric value in a numeric column',
      () => upload(service.url, 'a,b,c\n1,2,x\n3,abc,y\n', 'text/csv'),
      400,
      '/rows/2/b',
      /"abc" is not a number/,
    ],
    ['a missing label', () => upload(service.url, 'a,b,c\n1,2,x\n3,4,\n', 'text/csv'), 400, '/rows/2/c', /missing/],
    [
      'a label column that does not exist',
      () => upload(service.url, 'a,b\n1,2\n', 'text/csv', '?label=z'),
      400,
      '/label',
      /no column is named "z"/,
    ],
    ['a duplicated header', () => upload(service.url, 'a,a\n1,2\n', 'text/csv'), 400, '/columns/1', /twice/],
    ['a header without rows', () => upload(service.url, 'a,b\n', 'text/csv'), 400, '/rows', /no data rows/],
    [
      'a ragged JSON array',
      () => upload(service.url, JSON.stringify({ x: [[1, 2], [3]], y: [0, 1] }), 'application/json'),
      400,
      '/x/1',
      /ragged/,
    ],
    [
      'JSON with fewer labels than samples',
      () => upload(service.url, JSON.stringify({ x: [[1], [2]], y: [0] }), 'application/json'),
      400,
      '/y',
      /1 labels for 2 samples/,
    ],
    [
      'a JSON record with a missing label',
      () => upload(service.url, JSON.stringify([{ a: 1, t: 'x' }, { a: 2 }]), 'application/json'),
      400,
      '/1/t',
      /missing/,
    ],
    ['malformed JSON', () => upload(service.url, '{"x": [[1, 2], [3, 4]', 'application/json'), 400, '/', /JSON/],
    [
      'IDX files whose counts disagree',
      () =>
        uploadForm(service.url, {
          images: { data: idxFile([2, 2], [1, 2, 3, 4]), filename: 'i-ubyte' },
          labels: { data: idxFile([3], [0, 1, 0]), filename: 'l-ubyte' },
        }),
      400,
      '/labels',
      /3 labels but the images file holds 2/,
    ],
    [
      'an IDX file shorter than its header says',
      () =>
        uploadForm(service.url, {
          images: { data: idxFile([2, 2], [1, 2, 3]), filename: 'i-ubyte' },
          labels: { data: idxFile([2], [0, 1]), filename: 'l-ubyte' },
        }),
      400,
      '/images',
      /truncated/,
    ],
    [
      'a raw body over the limit',
      () =>
        upload(
          service.url,
          csv(
            ['a', 'b'],
            Array.from({ length: 1000 }, (_, i) => [i, i]),
          ),
          'text/csv',
        ),
      413,
      '',
      /exceeds 4096 bytes/,
    ],
    [
      'a gzip IDX file that unpacks over the limit',
      () =>
        uploadForm(service.url, {
          images: { data: gzip(idxFile([5000], new Uint8Array(5000))), filename: 'i-ubyte.gz' },
          labels: { data: idxFile([5000], new Uint8Array(5000)), filename: 'l-ubyte' },
        }),
      413,
      '',
      /unpacks to more than 4096 bytes/,
    ],
    [
      'a multipart file over the limit',
      () =>
        uploadForm(service.url, {
          file: {
            data: csv(
              ['a', 'b'],
              Array.from({ length: 1000 }, (_, i) => [i, i]),
            ),
            filename: 'big.csv',
          },
        }),
      413,
      '',
      /exceeds 4096 bytes/,
    ],
  ];
  for (const [what, send, status, path, message] of refusals) {
    test(`${what}: ${status} naming ${path || 'the limit'}, and nothing is stored`, async () => {
      const response = await send();
      assert.equal(response.status, status, JSON.stringify(response.body));
      assert.equal(response.body.status, status);
      if (path) assert.equal(response.body.errors?.[0]?.path, path, JSON.stringify(response.body));
      assert.match(response.body.detail, message);
      assert.deepEqual(await uploadedIds(), []);
      assert.deepEqual(await storedDirs(), []);
    });
  }

  test('what dead uploads left is swept once it is old: staging folders, and objects published but never registered', async () => {
    const { objects, datasets } = service.app.services;
    const hourAgo = new Date(Date.now() - 2 * 3600_000);
    const staged = async (age?: Date) => {
      const dir = path.join(objects.stagingRoot, `.tmp-${randomUUID()}-${randomUUID()}`);
      await mkdir(dir, { recursive: true });
      await writeFile(path.join(dir, 'c0.bin'), 'half');
      if (age) await utimes(dir, age, age);
      return path.basename(dir);
    };
    await staged(hourAgo);
    const fresh = await staged();
    // A process killed between publishing a dataset's files and registering it.
    const orphan = randomUUID();
    await objects.put(`datasets/${orphan}/c0.bin`, 'unregistered');
    await utimes(path.join(service.config.DATA_DIR, 'datasets', orphan, 'c0.bin'), hourAgo, hourAgo);
    assert.equal(await datasets.sweepDrafts(), 2);
    assert.deepEqual(
      (await readdir(objects.stagingRoot)).filter((n) => n.startsWith('.tmp-')),
      [fresh],
    );
    assert.deepEqual(await storedDirs(), []);
    assert.equal(await datasets.sweepDrafts(-1), 1);
    assert.deepEqual(
      (await readdir(objects.stagingRoot)).filter((n) => n.startsWith('.tmp-')),
      [],
    );
  });

  test('an unsupported content type is a 415', async () => {
    const response = await upload(service.url, 'a,b\n1,2\n', 'application/x-parquet');
    assert.equal(response.status, 415);
    const untyped = await fetch(`${service.url}/v1/datasets`, { method: 'POST' });
    assert.equal(untyped.status, 415);
    assert.match(((await untyped.json()) as any).detail, /multipart\/form-data, text\/csv or application\/json/);
    assert.deepEqual(await storedDirs(), []);
  });

  test('jobs name uploaded datasets; a dataset in use by a queued job cannot be deleted (409)', async () => {
    const { body: dataset } = await upload(
      service.url,
      csv(
        ['a', 'b', 'label'],
        [
          [1, 2, 'x'],
          [3, 4, 'y'],
          [5, 6, 'x'],
          [7, 8, 'y'],
        ],
      ),
      'text/csv',
    );
    const job = {
      model: { layers: [{ type: 'dense', units: 1, activation: 'sigmoid' }] },
      compile: { optimizer: 'adam', loss: 'binaryCrossentropy', metrics: ['accuracy'] },
      data: { dataset: dataset.id },
    };
    const bad: [unknown, string][] = [
      [{ ...job, data: { dataset: dataset.id, features: ['a', 'nope'] } }, '/data/features/1'],
      [{ ...job, data: { dataset: dataset.id, features: ['a'], label: 'a' } }, '/data/features/0'],
      [{ ...job, data: { dataset: dataset.id, label: 'zzz' } }, '/data/label'],
      [{ ...job, data: { dataset: dataset.id, testSplit: 0.1 } }, '/data/testSplit'],
      [{ ...job, data: { dataset: '00000000-0000-7000-8000-000000000000' } }, '/data/dataset'],
      [{ ...job, data: { dataset: 'mnist', label: 'a' } }, '/data/label'],
      [{ ...job, data: { dataset: dataset.id, inputs: { standardize: true, minMax: true } } }, '/data/inputs/minMax'],
    ];
    for (const [body, path] of bad) {
      const response = await postJson(`${service.url}/v1/jobs`, body);
      assert.equal(response.status, 422, JSON.stringify(response.body));
      assert.equal(response.body.errors[0].path, path, JSON.stringify(response.body));
    }
    const submitted = await postJson(`${service.url}/v1/jobs`, job);
    assert.equal(submitted.status, 202, JSON.stringify(submitted.body));
    const refused = await fetch(`${service.url}/v1/datasets/${dataset.id}`, { method: 'DELETE' });
    assert.equal(refused.status, 409);
    assert.match(((await refused.json()) as any).detail, new RegExp(submitted.body.id));
    assert.ok((await getJson(`${service.url}/v1/datasets/${dataset.id}`)).status === 200, 'still there');
    await service.app.services.jobs.transition(submitted.body.id, ['queued'], 'cancelled');
    await remove(dataset.id);
  });
});
