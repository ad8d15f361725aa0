import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { buildApp, type App } from '../src/app.ts';
import { ConfigError } from '../src/config.ts';
import { Keyring } from '../src/http/api-keys.ts';
import { csv } from './dataset-fixtures.ts';
import { apiAs, cleanup, smallMnistJob, testConfig } from './helpers.ts';

const KEY = 'tenant-a-key-0123456789abcdef';
const FILE_KEY = 'file-key-abcdef0123456789xyz';

describe('API keys', () => {
  let app: App;
  let base: string;
  const logLines: any[] = [];
  let config: Awaited<ReturnType<typeof testConfig>>;

  before(async () => {
    config = await testConfig({ API_KEYS: `${KEY}:tenant-a`, DOCS_PUBLIC: 'false' });
    const keysFile = `${config.DATA_DIR}/keys.txt`;
    await writeFile(keysFile, `# keys for the test\n\n${FILE_KEY}:tenant-f\n`);
    config.API_KEYS_FILE = keysFile;
    // Every log line, parsed: to check what the request logs carry and what they never do.
    const stream = new Writable({
      write(chunk, _enc, done) {
        for (const line of String(chunk).split('\n').filter(Boolean)) logLines.push(JSON.parse(line));
        done();
      },
    });
    app = await buildApp(config, { logger: { level: 'info', stream } });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const address = app.server.address();
    base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  });
  after(async () => {
    await app.close();
    await cleanup(config);
  });

  const unauthorized = (response: { status: number; headers: Headers; body: any }, what: string) => {
    assert.equal(response.status, 401, `${what}: ${response.status}`);
    assert.equal(response.headers.get('www-authenticate'), 'Bearer realm="tts"', what);
    assert.match(response.headers.get('content-type') ?? '', /application\/problem\+json/);
    assert.equal(response.body.code, 'unauthorized', what);
  };

  test('every /v1 route needs a key: missing, malformed, wrong scheme or unknown is the same 401', async () => {
    const routes: [string, string][] = [
      ['GET', '/v1/jobs'],
      ['POST', '/v1/jobs'],
      ['GET', '/v1/jobs/x'],
      ['GET', '/v1/jobs/x/events'],
      ['POST', '/v1/jobs/x/cancel'],
      ['POST', '/v1/models/validate'],
      ['GET', '/v1/models'],
      ['GET', '/v1/models/x'],
      ['GET', '/v1/models/x/model.json'],
      ['GET', '/v1/models/x/weights.bin'],
      ['POST', '/v1/models/x/predict'],
      ['DELETE', '/v1/models/x'],
      ['GET', '/v1/datasets'],
      ['POST', '/v1/datasets'],
      ['GET', '/v1/datasets/x'],
      ['DELETE', '/v1/datasets/x'],
    ];
    for (const [method, path] of routes) {
      const response = await fetch(`${base}${path}`, { method });
      unauthorized(
        { status: response.status, headers: response.headers, body: await response.json() },
        `${method} ${path}`,
      );
    }
    for (const authorization of [
      `Bearer ${KEY}x`,
      `Bearer ${KEY.slice(0, -1)}`,
      `Basic ${KEY}`,
      'Bearer',
      `bearer${KEY}`,
      `Bearer ${'x'.repeat(10_000)}`,
    ]) {
      const response = await fetch(`${base}/v1/jobs`, { headers: { authorization } });
      unauthorized(
        { status: response.status, headers: response.headers, body: await response.json() },
        authorization.slice(0, 30),
      );
    }
  });

  test('a refused request is refused before its body is read: nothing is queued or stored', async () => {
    unauthorized(await apiAs(base).post('/v1/jobs', smallMnistJob()), 'submit without a key');
    unauthorized(
      await apiAs(base, 'not-a-key-at-all-000000').post('/v1/datasets', 'a,b\n1,2\n', { 'content-type': 'text/csv' }),
      'upload',
    );
    const tenant = apiAs(base, KEY);
    assert.deepEqual((await tenant.get('/v1/jobs')).body.items, []);
    assert.deepEqual(
      (await tenant.get('/v1/datasets')).body.items.map((d: { id: string }) => d.id),
      ['mnist'],
    );
  });

  test('keys from API_KEYS and from API_KEYS_FILE both work, each for its own tenant', async () => {
    const a = await apiAs(base, KEY).post('/v1/models/validate', smallMnistJob());
    assert.equal(a.status, 200, JSON.stringify(a.body));
    const f = apiAs(base, FILE_KEY);
    assert.equal((await f.get('/v1/jobs')).status, 200);
  });

  test('health stays open; docs follow DOCS_PUBLIC (false here: they need a key)', async () => {
    assert.equal((await fetch(`${base}/healthz`)).status, 200);
    assert.equal((await fetch(`${base}/readyz`)).status, 200);
    assert.equal((await fetch(`${base}/openapi.json`)).status, 401);
    assert.equal((await fetch(`${base}/docs/`)).status, 401);
    const spec = await apiAs(base, KEY).get('/openapi.json');
    assert.equal(spec.status, 200);
    assert.deepEqual(spec.body.components.securitySchemes.apiKey, {
      type: 'http',
      scheme: 'bearer',
      description: spec.body.components.securitySchemes.apiKey.description,
    });
    assert.equal((await fetch(`${base}/docs/`, { headers: { authorization: `Bearer ${KEY}` } })).status, 200);
  });

  test('request logs carry a request id and the tenant, never a key or dataset contents', async () => {
    const secretCell = 'SENTINEL_VALUE_7781';
    const tenant = apiAs(base, KEY);
    const bad = await tenant.post(
      '/v1/datasets?label=y',
      csv(
        ['x', 'y'],
        [
          [1, 0],
          [secretCell, 1],
        ],
      ),
      { 'content-type': 'text/csv' },
    );
    assert.equal(bad.status, 400, JSON.stringify(bad.body));
    const good = await tenant.post(
      '/v1/datasets?label=y',
      csv(
        ['x', 'y'],
        [
          [1, 0],
          [2, 1],
          [77123, 0],
        ],
      ),
      { 'content-type': 'text/csv' },
    );
    assert.equal(good.status, 201);
    const requestId = good.headers.get('x-request-id');
    assert.match(requestId ?? '', /^[0-9a-f-]{36}$/);
    await apiAs(base, `${KEY}-wrong`).get('/v1/jobs');
    const everything = logLines.map((l) => JSON.stringify(l)).join('\n');
    assert.doesNotMatch(everything, new RegExp(KEY.slice(0, 20)), 'no key in any log line');
    assert.doesNotMatch(everything, /SENTINEL_VALUE_7781|77123/, 'no dataset contents in any log line');
    const completed = logLines.filter((l) => l.reqId === requestId && l.msg === 'request completed');
    assert.equal(completed.length, 1);
    assert.equal(completed[0].tenant, 'tenant-a');
    assert.equal(completed[0].res.statusCode, 201);
  });
});

describe('without keys', () => {
  test('the service runs open as the local tenant and warns at start', async () => {
    const config = await testConfig();
    const lines: any[] = [];
    const stream = new Writable({
      write(chunk, _enc, done) {
        for (const line of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(line));
        done();
      },
    });
    const app = await buildApp(config, { logger: { level: 'info', stream } });
    try {
      assert.ok(
        lines.some((l) => l.level === 40 && /NO API KEYS CONFIGURED/.test(l.msg)),
        'a warning at start',
      );
      const response = await app.inject({ method: 'POST', url: '/v1/models/validate', payload: smallMnistJob() });
      assert.equal(response.statusCode, 200);
      const listed = await app.inject({ method: 'GET', url: '/v1/jobs' });
      assert.equal(listed.statusCode, 200);
    } finally {
      await app.close();
      await cleanup(config);
    }
  });
});

describe('key configuration', () => {
  test('identify maps each key to its tenant and nothing else to anything', () => {
    const keyring = Keyring.fromConfig({ API_KEYS: `${KEY}:a, ${FILE_KEY}:ops:admin`, API_KEYS_FILE: '' });
    assert.deepEqual(keyring.identify(KEY), { id: 'a', admin: false });
    assert.deepEqual(keyring.identify(FILE_KEY), { id: 'ops', admin: true });
    for (const other of ['', KEY.toUpperCase(), `${KEY} `, KEY.slice(1)])
      assert.equal(keyring.identify(other), undefined);
  });

  test('bad key lists stop start-up naming the entry, never the key', () => {
    const cases: [string, RegExp][] = [
      ['short:a', /entry 1: the key is shorter than 16/],
      [`${KEY}`, /entry 1: expected key:tenant/],
      [`${KEY}:a:root`, /expected key:tenant or key:tenant:admin/],
      [`${KEY}:a,${KEY}:b`, /entry 2: the same key is listed twice/],
      [`${KEY}:../etc`, /entry 1: the tenant must match/],
    ];
    for (const [API_KEYS, message] of cases) {
      assert.throws(
        () => Keyring.fromConfig({ API_KEYS, API_KEYS_FILE: '' }),
        (err: Error) => {
          assert.ok(err instanceof ConfigError);
          assert.match(err.message, message);
          assert.doesNotMatch(err.message, new RegExp(KEY.slice(0, 10)));
          return true;
        },
      );
    }
    assert.throws(
      () => Keyring.fromConfig({ API_KEYS: '', API_KEYS_FILE: '/nonexistent/keys' }),
      /API_KEYS_FILE=\/nonexistent\/keys cannot be read/,
    );
  });
});
