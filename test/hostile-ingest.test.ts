import { rawRequest, type RawAnswer, type RawOptions } from './raw-http.ts';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { buildApp } from '../src/app.ts';
import { ColumnFile } from '../src/data/column-file.ts';
import { csv, idxFile } from './dataset-fixtures.ts';
import { startService, testConfig, type TestService } from './helpers.ts';

/**
 * Uploads shaped to make the API hold, or make Redis keep, far more than they weigh: too
 * many columns, huge cells, too many classes, huge samples, bloated metadata; broken forms;
 * refusals mid-body on keep-alive connections; empty IDX files; uploads cut off or left
 * behind by a dead process. Each is refused with its 4xx naming the cap and where, nothing is
 * stored, and DATA_DIR/datasets holds exactly the directories of the datasets that exist.
 */
const CAPS = {
  DATASET_UPLOAD_LIMIT_BYTES: String(256 * 1024),
  DATASET_MAX_COLUMNS: '64',
  DATASET_MAX_CELL_CHARS: '64',
  DATASET_MAX_TEXT_CHARS: '200',
  DATASET_MAX_CLASSES: '20',
  DATASET_MAX_SAMPLE_VALUES: '1000',
  DATASET_MAX_META_BYTES: '16384',
  TENANT_MAX_STORED_BYTES: '60000',
  RATE_LIMIT_PER_MINUTE: '0',
  API_KEYS: 'alice-key-0123456789:alice,bob-key-0123456789:bob,ops-key-0123456789:ops:admin',
};

type Answer = RawAnswer;

describe('hostile dataset uploads', () => {
  let service: TestService;
  let root: string;
  let redis: Redis;
  before(async () => {
    service = await startService({ worker: false, config: await testConfig(CAPS) });
    root = path.join(service.config.DATA_DIR, 'datasets');
    redis = new Redis(service.config.REDIS_URL);
  });
  after(async () => {
    await redis?.quit();
    await service?.close();
  });

  /** One request over node:http (bodies sent exactly as given), as `key`'s tenant. */
  function send(
    method: string,
    urlPath: string,
    opts: Omit<RawOptions, 'headers'> & { key?: string } = {},
  ): Promise<Answer> {
    const { key, ...rest } = opts;
    return rawRequest(service.url, method, urlPath, {
      ...rest,
      headers: { authorization: `Bearer ${key ?? 'alice-key-0123456789'}` },
      timeoutMs: 15_000,
    });
  }

  const upload = (body: string | Buffer, type: string, query = '', key?: string) =>
    send('POST', `/v1/datasets${query}`, { body, type, key });
  const BOUNDARY = 'hostile-boundary-7d1f';
  const FORM = `multipart/form-data; boundary=${BOUNDARY}`;
  const filePart = (field: string, filename: string, data: string | Buffer) =>
    Buffer.concat([
      Buffer.from(
        `--${BOUNDARY}\r\nContent-Disposition: form-data; name="${field}"; filename="${filename}"\r\nContent-Type: application/octet-stream\r\n\r\n`,
      ),
      Buffer.from(data),
      Buffer.from('\r\n'),
    ]);
  const fieldPart = (field: string, value: string) =>
    Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="${field}"\r\n\r\n${value}\r\n`);
  const closing = Buffer.from(`--${BOUNDARY}--\r\n`);
  const form = (...parts: Buffer[]) => Buffer.concat([...parts, closing]);

  /** Every uploaded dataset, of every tenant (the admin's listing). */
  const existing = async (): Promise<string[]> => {
    const list = await send('GET', '/v1/datasets?limit=100', { key: 'ops-key-0123456789' });
    assert.equal(list.status, 200, list.text);
    return list.body.items
      .filter((d: any) => !d.builtIn)
      .map((d: any) => d.id)
      .sort();
  };
  const dirs = async () => (await readdir(root).catch(() => [] as string[])).sort();
  /** Uploads being parsed (or left by a dead process) in the store's staging folder. */
  const drafts = async () =>
    (await readdir(service.app.services.objects.stagingRoot).catch(() => [] as string[]))
      .filter((d) => d.startsWith('.tmp-'))
      .sort();
  /** DATA_DIR/datasets holds exactly the directories of the datasets that exist, and no draft is left: no orphan. */
  const assertNoLeftovers = async () => {
    assert.deepEqual(await dirs(), await existing());
    assert.deepEqual(await drafts(), []);
  };
  const remove = async (id: string, key?: string) =>
    assert.equal((await send('DELETE', `/v1/datasets/${id}`, { key })).status, 204);

  /** Polls an observable condition (the server finishing work it does after the client left). */
  async function until(what: string, check: () => Promise<boolean>, timeoutMs = 10_000) {
    const deadline = Date.now() + timeoutMs;
    while (!(await check())) {
      if (Date.now() > deadline) throw new Error(`still not true after ${timeoutMs} ms: ${what}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  const names = (n: number, prefix = 'c') => Array.from({ length: n }, (_, i) => `${prefix}${i}`);
  const long = (n: number, fill = 'x') => fill.repeat(n);

  type Case = [
    what: string,
    send: () => Promise<Answer>,
    status: number,
    code: string,
    path: string | RegExp | undefined,
    detail: RegExp,
  ];
  const refusals: Case[] = [
    // Columns: each one used to cost a preallocated chunk; a tiny upload could hold gigabytes.
    [
      'a CSV header with more columns than DATASET_MAX_COLUMNS',
      () => upload(csv(names(65), [names(65).map((_, i) => i)]), 'text/csv'),
      400,
      'invalid_dataset',
      '/columns',
      /65 columns.*DATASET_MAX_COLUMNS/,
    ],
    [
      '8,000 columns and 2 rows (77 kB)',
      () => upload(csv(names(8000), [names(8000).map(() => 1), names(8000).map(() => 2)]), 'text/csv'),
      400,
      'invalid_dataset',
      /^\/columns/,
      /DATASET_MAX_COLUMNS/,
    ],
    [
      'JSON records with more keys than DATASET_MAX_COLUMNS',
      () => upload(JSON.stringify([Object.fromEntries(names(65).map((k) => [k, 1]))]), 'application/json'),
      400,
      'invalid_dataset',
      '/0',
      /more than 64 values.*DATASET_MAX_COLUMNS/,
    ],
    [
      'a later JSON record with thousands of keys',
      () =>
        upload(
          JSON.stringify([{ a: 1, b: 2 }, Object.fromEntries(names(4000).map((k) => [k, 1]))]),
          'application/json',
        ),
      400,
      'invalid_dataset',
      '/1',
      /DATASET_MAX_COLUMNS/,
    ],
    // Cells: one text cell used to become a class name of any length.
    [
      'a single-line CSV (one giant cell, no line break)',
      () => upload(long(200_000), 'text/csv'),
      400,
      'invalid_dataset',
      '/columns/0',
      /longer than .*DATASET_MAX_CELL_CHARS/,
    ],
    [
      'a CSV text cell longer than DATASET_MAX_CELL_CHARS',
      () =>
        upload(
          csv(
            ['a', 'label'],
            [
              [1, 'ok'],
              [2, long(65)],
            ],
          ),
          'text/csv',
        ),
      400,
      'invalid_dataset',
      '/rows/2/label',
      /65 characters.*DATASET_MAX_CELL_CHARS/,
    ],
    [
      'a CSV row longer than the widest allowed',
      () =>
        upload(
          csv(
            ['a', 'label'],
            [
              [1, 'ok'],
              [2, 'ok'],
              [3, long(10_000)],
            ],
          ),
          'text/csv',
        ),
      400,
      'invalid_dataset',
      '/rows/3/label',
      /line 4 is longer than/,
    ],
    [
      'a raw-text cell (text=) longer than DATASET_MAX_TEXT_CHARS',
      () =>
        upload(
          csv(
            ['a', 'review'],
            [
              [1, long(150)],
              [2, long(201)],
            ],
          ),
          'text/csv',
          '?text=review',
        ),
      400,
      'invalid_dataset',
      '/rows/2/review',
      /201 characters.*DATASET_MAX_TEXT_CHARS/,
    ],
    [
      'a JSON raw-text value longer than DATASET_MAX_TEXT_CHARS',
      () => upload(JSON.stringify([{ a: 1, review: long(201) }]), 'application/json', '?text=review'),
      400,
      'invalid_dataset',
      '/0',
      /DATASET_MAX_TEXT_CHARS/,
    ],
    [
      'a CSV column name longer than DATASET_MAX_CELL_CHARS',
      () => upload(csv(['a', long(100)], [[1, 2]]), 'text/csv'),
      400,
      'invalid_dataset',
      '/columns/1',
      /DATASET_MAX_CELL_CHARS/,
    ],
    [
      'a JSON class name longer than DATASET_MAX_CELL_CHARS',
      () => upload(JSON.stringify({ x: [[1], [2]], y: ['ok', long(100)] }), 'application/json'),
      400,
      'invalid_dataset',
      '/y/1',
      /text value longer than 64 characters \(DATASET_MAX_CELL_CHARS\)/,
    ],
    [
      'a JSON key longer than DATASET_MAX_CELL_CHARS',
      () => upload(JSON.stringify([{ a: 1, [long(100)]: 1 }]), 'application/json'),
      400,
      'invalid_dataset',
      '/0',
      /key longer than .*DATASET_MAX_CELL_CHARS/,
    ],
    [
      'a JSON number of 100 digits',
      () => upload(`{"x": [[1], [${'9'.repeat(100)}]], "y": [1, 2]}`, 'application/json'),
      400,
      'invalid_dataset',
      '/x/1',
      /number longer than .*DATASET_MAX_CELL_CHARS/,
    ],
    [
      'a 100 kB JSON text (refused before the parser holds it)',
      () => upload(JSON.stringify({ x: [[1], [2]], y: ['ok', long(100_000)] }), 'application/json'),
      400,
      'invalid_dataset',
      '/',
      /more than 384 bytes at byte \d+.*DATASET_MAX_CELL_CHARS/,
    ],
    [
      'a 100 kB JSON key made of escapes',
      () => upload(`[{"${'\\u0041'.repeat(20_000)}": 1}]`, 'application/json'),
      400,
      'invalid_dataset',
      '/',
      /at byte \d+.*DATASET_MAX_CELL_CHARS/,
    ],
    [
      'a JSON number of 50,000 digits',
      () => upload(`{"x": [[${'9'.repeat(50_000)}]], "y": [1]}`, 'application/json'),
      400,
      'invalid_dataset',
      '/',
      /number of more than 384 bytes at byte \d+/,
    ],
    // Classes: distinct text values are kept in memory and in the metadata.
    [
      'a CSV column with more distinct values than DATASET_MAX_CLASSES',
      () =>
        upload(
          csv(
            ['a', 'label'],
            names(25, 'k').map((k, i) => [i, k]),
          ),
          'text/csv',
        ),
      400,
      'invalid_dataset',
      '/rows/21/label',
      /more than 20 distinct.*DATASET_MAX_CLASSES/,
    ],
    [
      'JSON labels with more class names than DATASET_MAX_CLASSES',
      () => upload(JSON.stringify({ x: names(25).map((_, i) => [i]), y: names(25, 'k') }), 'application/json'),
      400,
      'invalid_dataset',
      '/y/20',
      /DATASET_MAX_CLASSES/,
    ],
    // Samples: one JSON sample used to be assembled whole, whatever its size.
    [
      'a JSON sample with more numbers than DATASET_MAX_SAMPLE_VALUES',
      () => upload(JSON.stringify({ x: [Array(2000).fill(1)], y: [0] }), 'application/json'),
      400,
      'invalid_dataset',
      '/x/0',
      /more than 1000 values.*DATASET_MAX_SAMPLE_VALUES/,
    ],
    [
      'a later JSON sample far bigger than the first',
      () => upload(JSON.stringify({ x: [[1, 2], Array(50_000).fill(1)], y: [0, 1] }), 'application/json'),
      400,
      'invalid_dataset',
      '/x/1',
      /DATASET_MAX_SAMPLE_VALUES/,
    ],
    [
      'IDX images of more values each than DATASET_MAX_SAMPLE_VALUES',
      () =>
        send('POST', '/v1/datasets', {
          type: FORM,
          body: form(
            filePart('images', 'i-ubyte', idxFile([2, 40, 40], new Uint8Array(3200))),
            filePart('labels', 'l-ubyte', idxFile([2], [0, 1])),
          ),
        }),
      400,
      'invalid_dataset',
      '/images',
      /1600 values.*DATASET_MAX_SAMPLE_VALUES/,
    ],
    // Metadata: what Redis keeps (and every listing carries) is capped as a whole.
    [
      'many text columns whose class names add up past DATASET_MAX_META_BYTES',
      () =>
        upload(
          csv(
            names(60),
            names(20).map((_, r) => names(60).map((_, c) => `v${r}-${c}-`.padEnd(60, 'z'))),
          ),
          'text/csv',
        ),
      400,
      'invalid_dataset',
      /^\/rows\/\d+\/c\d+$/,
      /DATASET_MAX_META_BYTES/,
    ],
    [
      'numeric columns whose class counts add up past DATASET_MAX_META_BYTES',
      () =>
        upload(
          csv(
            names(64),
            names(50).map((_, r) => names(64).map(() => r)),
          ),
          'text/csv',
        ),
      400,
      'invalid_dataset',
      /^\/columns\/\d+$/,
      /would take \d+ bytes.*DATASET_MAX_META_BYTES/,
    ],
    // Empty data: nothing to train on is refused at upload, never stored.
    [
      'IDX files of 0 items',
      () =>
        send('POST', '/v1/datasets', {
          type: FORM,
          body: form(
            filePart('images', 'i-ubyte', idxFile([0, 2, 2], [])),
            filePart('labels', 'l-ubyte', idxFile([0], [])),
          ),
        }),
      400,
      'invalid_dataset',
      '/images',
      /0 items/,
    ],
    [
      'IDX images with a zero-size dimension',
      () =>
        send('POST', '/v1/datasets', {
          type: FORM,
          body: form(
            filePart('images', 'i-ubyte', idxFile([3, 0, 2], [])),
            filePart('labels', 'l-ubyte', idxFile([3], [0, 1, 0])),
          ),
        }),
      400,
      'invalid_dataset',
      '/images',
      /dimension of size 0/,
    ],
    [
      'IDX labels with a zero-size dimension',
      () =>
        send('POST', '/v1/datasets', {
          type: FORM,
          body: form(
            filePart('images', 'i-ubyte', idxFile([2, 2], [1, 2, 3, 4])),
            filePart('labels', 'l-ubyte', idxFile([2, 0], [])),
          ),
        }),
      400,
      'invalid_dataset',
      '/labels',
      /dimension of size 0/,
    ],
    [
      'JSON samples that are empty arrays',
      () => upload(JSON.stringify({ x: [[], []], y: [0, 1] }), 'application/json'),
      400,
      'invalid_dataset',
      '/x/0',
      /empty array/,
    ],
    ['an empty array of JSON records', () => upload('[]', 'application/json'), 400, 'invalid_dataset', '/', /empty/],
    // Broken forms: the parser's own failures used to be 500s, or no answer at all.
    [
      'multipart/form-data without a boundary',
      () =>
        send('POST', '/v1/datasets', {
          type: 'multipart/form-data',
          body: form(filePart('file', 'a.csv', 'a,b\n1,2\n')),
        }),
      400,
      'malformed_multipart',
      undefined,
      /needs a boundary/,
    ],
    [
      'multipart/form-data with an empty boundary',
      () => send('POST', '/v1/datasets', { type: 'multipart/form-data; boundary=', body: 'a,b\n1,2\n' }),
      400,
      'malformed_multipart',
      undefined,
      /needs a boundary/,
    ],
    [
      'a form whose file part never gets its closing boundary',
      () => send('POST', '/v1/datasets', { type: FORM, body: filePart('file', 'a.csv', 'a,b\n1,2\n').subarray(0, -2) }),
      400,
      'malformed_multipart',
      undefined,
      /closing delimiter/,
    ],
    [
      'a form that stops after a field',
      () => send('POST', '/v1/datasets', { type: FORM, body: fieldPart('name', 'x') }),
      400,
      'malformed_multipart',
      undefined,
      /closing delimiter/,
    ],
    [
      'a form cut inside a part header',
      () => send('POST', '/v1/datasets', { type: FORM, body: `--${BOUNDARY}\r\nContent-Disposi` }),
      400,
      'malformed_multipart',
      undefined,
      /closing delimiter/,
    ],
    [
      'a form that is not multipart at all',
      () => send('POST', '/v1/datasets', { type: FORM, body: 'a,b\n1,2\n' }),
      400,
      'malformed_multipart',
      undefined,
      /closing delimiter/,
    ],
    [
      'a second file after a CSV file',
      () =>
        send('POST', '/v1/datasets', {
          type: FORM,
          body: form(filePart('file', 'a.csv', 'a,b\n1,2\n'), filePart('more', 'b.csv', long(100_000))),
        }),
      400,
      'invalid_dataset',
      '/more',
      /one file/,
    ],
    [
      'a CSV file after IDX files',
      () =>
        send('POST', '/v1/datasets', {
          type: FORM,
          body: form(filePart('images', 'i-ubyte', idxFile([1, 1], [1])), filePart('file', 'b.csv', 'a,b\n1,2\n')),
        }),
      400,
      'invalid_dataset',
      '/file',
      /one file/,
    ],
  ];
  for (const [what, request, status, code, where, detail] of refusals) {
    test(`${what}: ${status} ${code}, nothing stored`, async () => {
      const answer = await request();
      assert.equal(answer.status, status, answer.text);
      assert.equal(answer.body?.code, code, answer.text);
      assert.match(String(answer.headers['content-type']), /application\/problem\+json/);
      if (typeof where === 'string') assert.equal(answer.body.errors?.[0]?.path, where, answer.text);
      else if (where) assert.match(answer.body.errors?.[0]?.path ?? '', where, answer.text);
      assert.match(answer.body.detail, detail);
      assert.ok(answer.text.length < 4096, 'the answer does not echo the upload back');
      assert.deepEqual(await existing(), []);
      await assertNoLeftovers();
    });
  }

  test('uploads at the caps are accepted: 64 columns, 64-character cells, 20 classes, 1000-value samples', async () => {
    const wide = await upload(
      csv(
        [...names(63), 'label'],
        names(20, 'k').map((k, r) => [...names(63).map((_, c) => r * c + 0.5), `${k}-`.padEnd(64, 'q')]),
      ),
      'text/csv',
    );
    assert.equal(wide.status, 201, wide.text);
    assert.equal(wide.body.columns.length, 64);
    assert.equal(wide.body.columns[63].classes.length, 20);
    const samples = await upload(
      JSON.stringify({ x: [Array(1000).fill(1), Array(1000).fill(2)], y: [0, 1] }),
      'application/json',
    );
    assert.equal(samples.status, 201, samples.text);
    assert.deepEqual(samples.body.featureShape, [1000]);
    await assertNoLeftovers();
    await remove(wide.body.id);
    await remove(samples.body.id);
    await assertNoLeftovers();
  });

  test('metadata counts against the tenant quota: bytes = column files + metadata on disk and in Redis', async () => {
    // Six text columns of 20 long class names: a few hundred bytes of column files, ~12 kB of metadata.
    const text = names(6, 't');
    const body = csv(
      ['a', ...text],
      names(20).map((_, r) => [r, ...text.map((t) => `${t}-${r}-`.padEnd(64, 'm'))]),
    );
    const first = await upload(body, 'text/csv', '', 'bob-key-0123456789');
    assert.equal(first.status, 201, first.text);
    const dir = path.join(root, first.body.id);
    let fileBytes = 0;
    for (const file of await readdir(dir))
      if (file !== 'meta.json') fileBytes += (await stat(path.join(dir, file))).size;
    const metaBytes = (await stat(path.join(dir, 'meta.json'))).size;
    const stored = await redis.get(`${service.config.REDIS_PREFIX}:dataset:${first.body.id}`);
    assert.ok(metaBytes > 10_000, `${metaBytes} bytes of metadata`);
    assert.ok(fileBytes < 1_000, `${fileBytes} bytes of column files`);
    assert.ok(Math.abs(Buffer.byteLength(stored!) - metaBytes) <= 2, 'Redis holds what meta.json holds');
    assert.ok(
      Math.abs(first.body.bytes - (fileBytes + 2 * metaBytes)) <= 4,
      `bytes ${first.body.bytes} = ${fileBytes} + 2 × ${metaBytes}`,
    );
    const usage = () => service.app.services.datasets.index.usage('bob');
    assert.equal(await usage(), first.body.bytes);

    // Under the 60,000-byte quota the column files alone would allow dozens of these; the metadata, two.
    assert.ok(2 * first.body.bytes <= 60_000 && 3 * first.body.bytes > 60_000, `${first.body.bytes} bytes each`);
    const second = await upload(body, 'text/csv', '', 'bob-key-0123456789');
    assert.equal(second.status, 201, second.text);
    const third = await upload(body, 'text/csv', '', 'bob-key-0123456789');
    assert.equal(third.status, 403, third.text);
    assert.equal(third.body.code, 'storage_quota');
    assert.match(third.body.detail, /TENANT_MAX_STORED_BYTES/);
    assert.equal(await usage(), first.body.bytes + second.body.bytes);
    await assertNoLeftovers();
    await remove(first.body.id, 'bob-key-0123456789');
    await remove(second.body.id, 'bob-key-0123456789');
    assert.equal(await usage(), 0);
    await assertNoLeftovers();
  });

  describe('a refusal mid-body leaves a keep-alive connection usable', () => {
    const big = csv(
      ['a', 'b', 'label'],
      Array.from({ length: 60_000 }, (_, i) => [i, i * 2, i % 2 ? 'odd' : 'even']),
    );
    const refusedMidBody: [string, () => { body: Buffer | string; type: string }, number, string][] = [
      ['a raw CSV over the size limit (413)', () => ({ body: big, type: 'text/csv' }), 413, 'upload_too_large'],
      [
        'a form whose file is over the size limit (413)',
        () => ({ body: form(filePart('file', 'big.csv', big)), type: FORM }),
        413,
        'upload_too_large',
      ],
      [
        'a form whose file is over the limit, then more parts (413)',
        () => ({
          body: form(filePart('file', 'big.csv', big), fieldPart('name', 'late'), filePart('more', 'b.csv', big)),
          type: FORM,
        }),
        413,
        'upload_too_large',
      ],
      [
        'a bad row at the start of a big CSV (400)',
        () => ({ body: `a,b\n1,2\nx,y,z\n${big}`, type: 'text/csv' }),
        400,
        'invalid_dataset',
      ],
      [
        'a cap exceeded at the start of a big form (400)',
        () => ({ body: form(filePart('file', 'wide.csv', `${names(100).join(',')}\n${big}`)), type: FORM }),
        400,
        'invalid_dataset',
      ],
      [
        'an IDX file over the size limit (413)',
        () => ({
          body: form(
            filePart('images', 'i-ubyte', idxFile([300_000], new Uint8Array(300_000))),
            filePart('labels', 'l-ubyte', idxFile([1], [0])),
          ),
          type: FORM,
        }),
        413,
        'upload_too_large',
      ],
    ];
    for (const [what, make, status, code] of refusedMidBody) {
      test(what, async () => {
        const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
        try {
          const { body, type } = make();
          const refused = await send('POST', '/v1/datasets', { body, type, agent });
          assert.equal(refused.status, status, refused.text);
          assert.equal(refused.body.code, code);
          // The same agent, one socket: the next request is answered, on that socket or a new one.
          const next = await send('GET', '/v1/datasets?limit=1', { agent });
          assert.equal(next.status, 200, next.text);
          const again = await send('GET', '/v1/datasets?limit=1', { agent });
          assert.equal(again.status, 200, again.text);
        } finally {
          agent.destroy();
        }
        assert.deepEqual(await existing(), []);
        await assertNoLeftovers();
      });
    }
  });

  describe('uploads cut off by the client leave nothing behind', () => {
    const cutOff = (type: string, head: Buffer | string, declared: number) => async () => {
      const { port } = new URL(service.url);
      const req = http.request({
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: '/v1/datasets',
        headers: { authorization: 'Bearer alice-key-0123456789', 'content-type': type, 'content-length': declared },
      });
      req.on('error', () => undefined);
      req.write(head);
      // The upload is under way once its draft exists; then the client goes away.
      await until('the upload started', async () => (await drafts()).length > 0);
      req.destroy();
      await until('the draft is gone', async () => (await drafts()).length === 0);
      assert.deepEqual(await existing(), []);
      await assertNoLeftovers();
    };
    const rows = csv(
      ['a', 'b', 'label'],
      Array.from({ length: 2000 }, (_, i) => [i, i, 'x']),
    );
    test('a raw CSV body', cutOff('text/csv', rows, 200_000));
    test('a JSON body', cutOff('application/json', `{"x": [${Array(2000).fill('[1, 2]').join(',')}`, 200_000));
    test('a form, mid-file', cutOff(FORM, filePart('file', 'a.csv', rows).subarray(0, -2), 200_000));
  });

  describe('drafts of a process that died (kill -9) are swept when the API starts again', () => {
    const leaseKey = (id: string) => `${service.config.REDIS_PREFIX}:dataset-draft:${id}`;
    /** A draft as a dead process leaves it: files written, its lease gone (expired). */
    async function deadDraft() {
      const draft = await service.app.services.datasets.draft('alice');
      await writeFile(path.join(draft.dir, 'c0.bin'), Buffer.alloc(64));
      await redis.del(leaseKey(draft.id));
      return draft;
    }
    /** A second API on the same data directory and Redis, as after a restart. */
    async function restart() {
      const again = await buildApp(service.config, { logger: false });
      await again.ready();
      await again.close();
    }

    test('a draft without a lease is removed; one whose upload is live is kept', async () => {
      const dead = await deadDraft();
      const live = await service.app.services.datasets.draft('alice');
      assert.equal((await drafts()).length, 2);
      await restart();
      assert.deepEqual(await drafts(), [path.basename(live.dir)]);
      await live.abort();
      await dead.abort();
      assert.equal(await redis.exists(leaseKey(live.id)), 0, 'an aborted draft releases its lease');
      await assertNoLeftovers();
    });

    test('a dataset whose process died between publishing and registering it is removed', async () => {
      const { objects } = service.app.services;
      const draft = await deadDraft();
      await objects.publishDirectory(draft.dir, `datasets/${draft.id}`);
      assert.deepEqual(await dirs(), [draft.id], 'published, never registered');
      await restart();
      assert.deepEqual(await dirs(), []);
      await draft.abort();
      await assertNoLeftovers();
    });
  });

  test('after all of it the API still takes an ordinary upload', async () => {
    const ok = await upload(
      csv(
        ['a', 'b', 'label'],
        [
          [1, 2, 'x'],
          [3, 4, 'y'],
        ],
      ),
      'text/csv',
    );
    assert.equal(ok.status, 201, ok.text);
    await assertNoLeftovers();
    await remove(ok.body.id);
    await assertNoLeftovers();
  });
});

describe('column files', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'tts-columns-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  test('a small chunk that grows, fills, is set aside and flushed keeps every value in order', async () => {
    const column = new ColumnFile('v', 'numeric', [], 'float32', 'v.bin', dir, 64);
    const values = Array.from({ length: 1000 }, (_, i) => i * 0.5 - 100);
    // Pushed in bursts bigger than a chunk, as an IDX reader pushes a network chunk.
    for (let i = 0; i < values.length; i++) {
      column.push(values[i]);
      if (i % 150 === 149) await column.flushIfFull();
    }
    const info = await column.close();
    const stored = new Float32Array(new Uint8Array(await readFile(path.join(dir, 'v.bin'))).buffer);
    assert.deepEqual(Array.from(stored), values);
    assert.deepEqual([info.min, info.max], [-100, 399.5]);
  });

  test('text values become codes; a refused new value stores nothing of it', async () => {
    const column = new ColumnFile('t', 'string', [], 'float32', 't.bin', dir, 4);
    const refuse = (value: string, classes: number) => {
      if (classes >= 3) throw new Error(`refused ${value}`);
    };
    for (const v of ['a', 'b', 'a', 'c', 'b', 'a']) column.pushString(v, refuse);
    assert.throws(() => column.pushString('d', refuse), /refused d/);
    const info = await column.close();
    const stored = new Float32Array(new Uint8Array(await readFile(path.join(dir, 't.bin'))).buffer);
    assert.deepEqual(Array.from(stored), [0, 1, 0, 2, 1, 0]);
    assert.deepEqual(info.classes, [
      { name: 'a', count: 3 },
      { name: 'b', count: 2 },
      { name: 'c', count: 1 },
    ]);
  });

  test('an empty column still gets its (empty) file', async () => {
    const column = new ColumnFile('e', 'numeric', [], 'uint8', 'e.bin', dir);
    await column.close();
    assert.equal((await readFile(path.join(dir, 'e.bin'))).length, 0);
  });
});
