import { assertProblem, rawRequest, type RawAnswer, type RawOptions } from './raw-http.ts';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { loadConfig, type Config } from '../src/config.ts';
import { startWorker, type TrainingWorker } from '../workers/worker.ts';
import { getJson, postJson, REDIS_URL, smallMnistJob, startService, waitForJob, type TestService } from './helpers.ts';

/**
 * Hostile and careless input, all sent to one API and one worker: every case gets its
 * documented 4xx as application/problem+json naming the field and the reason, nothing is
 * half-written, and afterwards the same API and worker still train a job and serve a predict.
 *
 * The worker runs with tighter limits than the API, as a worker would after an operator
 * tightened them while jobs were queued: jobs the API accepts but the worker's limits refuse
 * must fail with the limit's code (each of them would train harmlessly if the guard let it).
 */
const API_LIMITS = {
  MAX_MODEL_PARAMS: '200000',
  MAX_EPOCHS: '50',
  MAX_TRAINING_SAMPLES: '5000',
  MAX_BATCH_MEMORY_BYTES: String(16 * 1024 ** 2),
};
const WORKER_LIMITS = {
  MAX_MODEL_PARAMS: '100000',
  MAX_EPOCHS: '20',
  MAX_TRAINING_SAMPLES: '2000',
  MAX_BATCH_MEMORY_BYTES: String(4 * 1024 ** 2),
};
const SECRET = `secret-${randomUUID()}`;

describe('hostile inputs', () => {
  let root: string;
  let config: Config;
  let service: TestService;
  let worker: TrainingWorker;
  let modelId: string;
  let datasetId: string;
  const prototypeBefore = Object.getOwnPropertyNames(Object.prototype).sort();

  before(async () => {
    // DATA_DIR inside a directory of our own, beside a file nothing may ever read or replace.
    root = await mkdtemp(path.join(tmpdir(), 'tts-hostile-'));
    await writeFile(path.join(root, 'secret.txt'), SECRET);
    const env = {
      REDIS_URL,
      REDIS_PREFIX: `test-${randomUUID().slice(0, 8)}`,
      DATA_DIR: path.join(root, 'data'),
      LOG_LEVEL: 'silent',
      PORT: '0',
      TFJS_BACKEND: process.env.TFJS_BACKEND ?? 'auto',
      BODY_LIMIT_BYTES: String(2 * 1024 ** 2),
      PREDICT_BODY_LIMIT_BYTES: String(64 * 1024),
      DATASET_UPLOAD_LIMIT_BYTES: String(64 * 1024),
      // Hundreds of requests in seconds: the per-tenant rate limit has its own tests.
      RATE_LIMIT_PER_MINUTE: '0',
    };
    config = loadConfig({ ...env, ...API_LIMITS });
    service = await startService({ worker: false, config });
    worker = await startWorker(loadConfig({ ...env, ...WORKER_LIMITS }));
    // A trained model and an uploaded dataset for the routes that take their ids.
    const job = await postJson(`${service.url}/v1/jobs`, smallMnistJob());
    assert.equal(job.status, 202, JSON.stringify(job.body));
    const done = await waitForJob(service.url, job.body.id);
    assert.equal(done.status, 'completed', JSON.stringify(done.error));
    modelId = done.modelId;
    const dataset = await send('POST', '/v1/datasets?name=pets', {
      body: 'a,b,label\n1,2,0\n3,4,1\n',
      type: 'text/csv',
    });
    assert.equal(dataset.status, 201, dataset.text);
    datasetId = dataset.body.id;
  });
  after(async () => {
    await worker?.close();
    await service?.close();
    await rm(root, { recursive: true, force: true });
  });

  type Answer = Omit<RawAnswer, 'headers'>;

  /** Any method, path, body and content type; the path is sent as given (fetch would normalize `..`). */
  function send(method: string, urlPath: string, opts: RawOptions = {}): Promise<Answer> {
    return rawRequest(service.url, method, urlPath, opts);
  }
  const sendJson = (method: string, urlPath: string, body: unknown) =>
    send(method, urlPath, { body: typeof body === 'string' ? body : JSON.stringify(body), type: 'application/json' });

  const problem = assertProblem;

  /** What a refused request must not leave behind: jobs, queue entries, datasets, models, files. */
  async function snapshot() {
    const ids = async (route: string) =>
      (await getJson(`${service.url}/v1/${route}?limit=100`)).body.items.map((i: { id: string }) => i.id).sort();
    const counts = await service.app.services.queue().getJobCounts('waiting', 'active', 'delayed', 'prioritized');
    const files: string[] = [];
    const walk = async (dir: string, rel = ''): Promise<void> => {
      for (const entry of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
        files.push(path.join(rel, entry.name));
        if (entry.isDirectory()) await walk(path.join(dir, entry.name), path.join(rel, entry.name));
      }
    };
    await walk(root);
    return {
      jobs: await ids('jobs'),
      datasets: await ids('datasets'),
      models: await ids('models'),
      counts,
      files: files.sort(),
    };
  }
  /** Runs a refused request and checks that nothing changed. */
  async function refused(act: () => Promise<Answer>): Promise<Answer> {
    const before = await snapshot();
    const answer = await act();
    assert.deepEqual(await snapshot(), before, `something was written: ${answer.text.slice(0, 300)}`);
    return answer;
  }
  const submit = (body: unknown) => refused(() => sendJson('POST', '/v1/jobs', body));
  const predict = (body: unknown) => refused(() => sendJson('POST', `/v1/models/${modelId}/predict`, body));
  const job = smallMnistJob();
  /** A tiny regression job on inline data: trains in milliseconds whatever its limits say. */
  const tiny = (rows = 4, extra: Record<string, unknown> = {}) => ({
    model: {
      layers: [
        { type: 'dense', units: 8, activation: 'relu', inputShape: [4] },
        { type: 'dense', units: 1 },
      ],
    },
    compile: { optimizer: 'sgd', loss: 'meanSquaredError' },
    data: { x: Array.from({ length: rows }, (_, i) => [i, 1, 2, 3]), y: Array.from({ length: rows }, (_, i) => i % 2) },
    fit: { epochs: 1, batchSize: 4 },
    ...extra,
  });
  const deep = (open: string, close: string, levels: number, inner = '1') =>
    open.repeat(levels) + inner + close.repeat(levels);

  // ---- body size limits, per route ----

  test('a job submission over BODY_LIMIT_BYTES is a 413 naming the setting', async () => {
    const rows = Array.from({ length: 300_000 }, () => [1, 2, 3, 4]);
    const answer = await submit({ ...tiny(), data: { x: rows, y: rows.map(() => 1) } });
    problem(answer, 413, 'body_too_large', /BODY_LIMIT_BYTES/);
    assert.match(answer.body.detail, /2,097,152 bytes/);
  });

  test('a predict body over PREDICT_BODY_LIMIT_BYTES (but under BODY_LIMIT_BYTES) is a 413 naming that setting', async () => {
    const answer = await predict({ instances: Array.from({ length: 50 }, () => Array(784).fill(255)) });
    problem(answer, 413, 'body_too_large', /PREDICT_BODY_LIMIT_BYTES/);
    assert.match(answer.body.detail, /65,536 bytes/);
  });

  test('a raw dataset upload over DATASET_UPLOAD_LIMIT_BYTES is a 413; no draft is left', async () => {
    const csv = `a,b\n${'1,2\n'.repeat(40_000)}`;
    problem(
      await refused(() => send('POST', '/v1/datasets', { body: csv, type: 'text/csv' })),
      413,
      'upload_too_large',
      /DATASET_UPLOAD_LIMIT_BYTES/,
    );
  });

  test('a multipart dataset file over DATASET_UPLOAD_LIMIT_BYTES is a 413', async () => {
    const form = new FormData();
    form.append('file', new Blob([`a,b\n${'1,2\n'.repeat(40_000)}`]), 'big.csv');
    const before = await snapshot();
    const response = await fetch(`${service.url}/v1/datasets`, { method: 'POST', body: form });
    const text = await response.text();
    problem(
      { status: response.status, type: response.headers.get('content-type') ?? '', text, body: JSON.parse(text) },
      413,
      'upload_too_large',
      /DATASET_UPLOAD_LIMIT_BYTES/,
    );
    assert.deepEqual(await snapshot(), before);
  });

  // ---- deep and huge JSON ----

  test('100,000 levels of [ as a job body: 400 too_deep naming MAX_JSON_DEPTH, no stack overflow', async () => {
    const answer = problem(await submit(deep('[', ']', 100_000)), 400, 'too_deep', /MAX_JSON_DEPTH/);
    assert.match(answer.errors[0].path, /^(\/0){64}$/);
  });

  test('100,000 levels of {"a": inside a layer: 400 too_deep at /model/layers/0/...', async () => {
    const body = JSON.stringify({ ...job, model: { layers: [{ type: 'dense', units: 10, extra: 'HOLE' }] } }).replace(
      '"HOLE"',
      deep('{"a":', '}', 100_000),
    );
    const answer = problem(await submit(body), 400, 'too_deep', /deeper than 64 levels/);
    assert.match(answer.errors[0].path, /^\/model\/layers\/0\/extra(\/a)+$/);
  });

  test('Keras wrappers nested 20,000 deep (Bidirectional in Bidirectional ...): 400, the importer never recurses that far', async () => {
    const wrapper = '{"class_name":"Bidirectional","config":{"layer":';
    const body = JSON.stringify({ ...job, model: { class_name: 'Sequential', config: { layers: ['HOLE'] } } }).replace(
      '"HOLE"',
      deep(wrapper, '}}', 20_000, '{}'),
    );
    problem(await submit(body), 400, 'too_deep', /^\/model\/config\/layers\/0\/config\/layer\/config\/layer/);
  });

  test('deeply nested inline training data: 400 too_deep at /data/x/0/...', async () => {
    const body = JSON.stringify({ ...tiny(), data: { x: ['HOLE'], y: [1] } }).replace('"HOLE"', deep('[', ']', 10_000));
    problem(await submit(body), 400, 'too_deep', /^\/data\/x\/0\/0/);
  });

  test('deeply nested predict instances: 400 too_deep at /instances/0/...', async () => {
    problem(await predict(`{"instances":[${deep('[', ']', 30_000)}]}`), 400, 'too_deep', /^\/instances\/0\/0/);
  });

  test('a deeply nested JSON dataset upload: 400 naming MAX_JSON_DEPTH, nothing stored', async () => {
    const body = `{"x":[${deep('[', ']', 10_000)}],"y":[1]}`;
    problem(
      await refused(() => send('POST', '/v1/datasets', { body, type: 'application/json' })),
      400,
      'invalid_dataset',
      /MAX_JSON_DEPTH/,
    );
  });

  test('a 1 MB job name: 400 naming /name and its 200-character limit', async () => {
    const answer = problem(await submit({ ...job, name: 'n'.repeat(1024 * 1024) }), 400, 'validation_failed', '/name');
    assert.match(answer.detail, /more than 200 characters/);
  });

  test('a 10,000-character layer type and loss name: 400 naming both, without echoing them back', async () => {
    const answer = await submit({
      ...job,
      model: { layers: [{ type: 'd'.repeat(10_000), units: 10 }] },
      compile: { loss: 'l'.repeat(10_000) },
    });
    problem(answer, 400, 'validation_failed', '/model/layers/0/type');
    problem(answer, 400, 'validation_failed', '/compile/loss');
    assert.ok(answer.text.length < 5_000, `answer of ${answer.text.length} characters`);
  });

  test('a layer with 100,000 unknown options: 400 naming them, the answer lists at most 50', async () => {
    const layer = {
      type: 'dense',
      units: 10,
      inputShape: [784],
      ...Object.fromEntries(Array.from({ length: 100_000 }, (_, i) => [`o${i}`, i])),
    };
    const answer = problem(
      await submit({ ...job, model: { layers: [layer] } }),
      400,
      'invalid_model',
      '/model/layers/0/o0',
    );
    assert.equal(answer.errors.length, 50);
    assert.match(answer.detail, /and 99997 more/);
  });

  test('50,000 layers: 400 naming /model/layers and its 500-item limit', async () => {
    const answer = problem(
      await submit({ ...job, model: { layers: Array.from({ length: 50_000 }, () => ({ type: 'dense', units: 1 })) } }),
      400,
      'validation_failed',
      '/model/layers',
    );
    assert.match(answer.detail, /more than 500 items/);
  });

  test('100,000 metrics: 400 naming /compile/metrics', async () => {
    problem(
      await submit({ ...job, compile: { ...job.compile, metrics: Array(100_000).fill('accuracy') } }),
      400,
      'validation_failed',
      '/compile/metrics',
    );
  });

  test('10,001 predict instances: 400 naming /instances and its 10,000-item limit', async () => {
    const answer = problem(
      await predict({ instances: Array(10_001).fill([0]) }),
      400,
      'validation_failed',
      '/instances',
    );
    assert.match(answer.detail, /more than 10000 items/);
  });

  // ---- models too big for a worker, refused at submit with the numbers ----

  test('more parameters than MAX_MODEL_PARAMS: 422 model_too_large with the count and the limit', async () => {
    const model = {
      layers: [
        { type: 'dense', units: 1500, inputShape: [4] },
        { type: 'dense', units: 200 },
        { type: 'dense', units: 1 },
      ],
    };
    problem(await submit(tiny(4, { model })), 422, 'model_too_large', /307,901 parameters; the limit is 200,000/);
  });

  test('a training batch whose activations exceed MAX_BATCH_MEMORY_BYTES: 422 at /fit/batchSize with the estimate', async () => {
    const model = {
      layers: [
        { type: 'dense', units: 1024, activation: 'relu', inputShape: [4] },
        { type: 'dense', units: 1 },
      ],
    };
    const answer = problem(
      await submit(tiny(4, { model, fit: { epochs: 1, batchSize: 65_536 } })),
      422,
      'over_limit',
      '/fit/batchSize',
    );
    assert.match(answer.detail, /estimated memory per training batch is [\d,]+ bytes; the limit is 16,777,216 bytes/);
  });

  test('epochs × training rows over MAX_TRAINING_SAMPLES: 422 at /fit/epochs with the product', async () => {
    const answer = problem(await submit({ ...job, fit: { ...job.fit, epochs: 10 } }), 422, 'over_limit', '/fit/epochs');
    assert.match(answer.detail, /10 × 512 = 5,120 samples; the limit is 5,000 \(MAX_TRAINING_SAMPLES\)/);
  });

  test('more epochs than MAX_EPOCHS: 422 at /fit/epochs', async () => {
    problem(
      await submit(tiny(1, { fit: { epochs: 51, batchSize: 1 } })),
      422,
      'over_limit',
      /epochs is 51; the limit is 50/,
    );
  });

  test('the dry run (/v1/models/validate) refuses the same limits', async () => {
    const model = {
      layers: [
        { type: 'dense', units: 1500, inputShape: [4] },
        { type: 'dense', units: 200 },
        { type: 'dense', units: 1 },
      ],
    };
    problem(
      await refused(() => sendJson('POST', '/v1/models/validate', tiny(4, { model }))),
      422,
      'model_too_large',
      /the limit is 200,000/,
    );
  });

  // ---- the worker checks every limit again, with its own config ----

  const workerRefusals: [string, unknown, string, RegExp][] = [
    [
      'more epochs than its MAX_EPOCHS',
      tiny(4, { fit: { epochs: 30, batchSize: 4 } }),
      'over_limit',
      /epochs is 30; the limit is 20/,
    ],
    [
      'more epochs × rows than its MAX_TRAINING_SAMPLES',
      tiny(150, { fit: { epochs: 20, batchSize: 150 } }),
      'over_limit',
      /20 × 150 = 3,000 samples; the limit is 2,000/,
    ],
    [
      'a batch estimate over its MAX_BATCH_MEMORY_BYTES',
      tiny(4, { fit: { epochs: 1, batchSize: 65_536 } }),
      'over_limit',
      /the limit is 4,194,304 bytes/,
    ],
    [
      'more parameters than its MAX_MODEL_PARAMS',
      tiny(4, {
        model: {
          layers: [
            { type: 'dense', units: 1500, inputShape: [4] },
            { type: 'dense', units: 100 },
            { type: 'dense', units: 1 },
          ],
        },
      }),
      'model_too_large',
      /157,701 parameters; the limit is 100,000/,
    ],
  ];
  for (const [what, body, code, message] of workerRefusals) {
    test(`a job the API accepts with ${what} fails in the worker with ${code}, and stores nothing`, async () => {
      const accepted = await postJson(`${service.url}/v1/jobs`, body);
      assert.equal(accepted.status, 202, JSON.stringify(accepted.body));
      const failed = await waitForJob(service.url, accepted.body.id);
      assert.equal(failed.status, 'failed', JSON.stringify(failed));
      assert.equal(failed.error.code, code);
      assert.match(failed.error.message, message);
      assert.equal(failed.modelId, null);
      assert.equal(failed.attempts, 1, 'a deterministic refusal is not retried');
      // The job record says failed a moment before BullMQ moves the job out of active;
      // the next test's nothing-was-written snapshot counts active jobs.
      const queue = service.app.services.queue();
      for (let i = 0; (await queue.getJobState(accepted.body.id)) === 'active'; i++) {
        assert.ok(i < 200, 'the failed job stays active in the queue');
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
      assert.equal(await queue.getJobState(accepted.body.id), 'failed');
    });
  }

  // ---- wrong types, non-numbers, bad sizes, nulls ----

  const typeCases: [string, unknown, number, string][] = [
    [
      'a string in place of a number (fit.batchSize "64")',
      { ...job, fit: { ...job.fit, batchSize: '64' } },
      400,
      '/fit/batchSize',
    ],
    [
      'a number in place of a string (compile.loss 5)',
      { ...job, compile: { ...job.compile, loss: 5 } },
      400,
      '/compile/loss',
    ],
    ['"Infinity" as epochs', { ...job, fit: { ...job.fit, epochs: 'Infinity' } }, 400, '/fit/epochs'],
    [
      '"NaN" as a layer\'s units',
      { ...job, model: { layers: [{ type: 'dense', units: 'NaN', inputShape: [784] }] } },
      400,
      '/model/layers/0/units',
    ],
    [
      '1e400 (Infinity once parsed) as units',
      JSON.stringify({ ...job, model: { layers: [{ type: 'dense', units: 7, inputShape: [784] }] } }).replace(
        '"units":7',
        '"units":1e400',
      ),
      400,
      '/model/layers/0/units',
    ],
    ['a zero batch size', { ...job, fit: { ...job.fit, batchSize: 0 } }, 400, '/fit/batchSize'],
    ['negative epochs', { ...job, fit: { ...job.fit, epochs: -1 } }, 400, '/fit/epochs'],
    [
      'fractional units',
      { ...job, model: { layers: [{ type: 'dense', units: 1.5, inputShape: [784] }] } },
      400,
      '/model/layers/0/units',
    ],
    [
      'a negative inputShape',
      { ...job, model: { layers: [{ type: 'dense', units: 10, inputShape: [-784] }] } },
      400,
      '/model/layers/0/inputShape/0',
    ],
    [
      'a zero reshape dimension',
      { ...job, data: { ...job.data, inputs: { reshape: [0] } } },
      400,
      '/data/inputs/reshape/0',
    ],
    ['an array where the model object belongs', { ...job, model: [] }, 400, '/model'],
    ['an array where compile belongs', { ...job, compile: ['rmsprop'] }, 400, '/compile'],
    ['null as compile', { ...job, compile: null }, 400, '/compile'],
    ['null as a layer', { ...job, model: { layers: [null] } }, 400, '/model/layers/0'],
    [
      'null as the training data',
      { ...job, data: { ...job.data, dataset: undefined, x: null, y: [1] } },
      400,
      '/data/x',
    ],
    [
      '"NaN" text inside inline data',
      tiny(2, {
        data: {
          x: [
            [1, 2, 3, 4],
            [1, 'NaN', 3, 4],
          ],
          y: [0, 1],
        },
      }),
      400,
      '/data/x/1/1',
    ],
    ['a JSON array as the whole body', [], 400, '/'],
  ];
  for (const [what, body, status, field] of typeCases) {
    test(`${what}: ${status} naming ${field}`, async () => {
      problem(await submit(body), status, undefined, field);
    });
  }

  test('predict instances of text and nulls where numbers belong: 400 naming each instance', async () => {
    const answer = problem(
      await predict({ instances: [Array(784).fill('Infinity'), null] }),
      400,
      'invalid_instances',
      '/instances/0',
    );
    assert.ok(
      answer.errors.some((e: { path: string }) => e.path === '/instances/1'),
      JSON.stringify(answer.errors),
    );
    assert.match(answer.detail, /not a finite number/);
  });

  test('predict with an object where the instances array belongs: 400 naming /instances', async () => {
    problem(await predict({ instances: { 0: [1] } }), 400, 'validation_failed', '/instances');
  });

  // ---- prototype pollution ----

  const pollution: [string, () => Promise<Answer>, string, string][] = [
    [
      'top-level __proto__ in a job',
      () => submit(`{"__proto__":{"polluted":true},${JSON.stringify(job).slice(1)}`),
      '/__proto__',
      'forbidden_key',
    ],
    [
      'constructor.prototype in a layer',
      () =>
        submit(
          JSON.stringify({ ...job, model: { layers: [{ type: 'dense', units: 10, c: 1 }] } }).replace(
            '"c":1',
            '"constructor":{"prototype":{"polluted":true}}',
          ),
        ),
      '/model/layers/0/constructor',
      'forbidden_key',
    ],
    [
      'prototype in a Keras layer config',
      () =>
        submit({
          ...job,
          model: {
            class_name: 'Sequential',
            config: { layers: [{ class_name: 'Dense', config: { units: 10, prototype: { polluted: true } } }] },
          },
        }),
      '/model/config/layers/0/config/prototype',
      'forbidden_key',
    ],
    [
      '__proto__ in an inline data sample',
      () => submit(JSON.stringify(tiny(2)).replace('[0,1,2,3]', '{"__proto__":{"polluted":true}}')),
      '/data/x/0/__proto__',
      'forbidden_key',
    ],
    [
      '__proto__ in a predict instance',
      () => predict('{"instances":[{"__proto__":{"polluted":true}}]}'),
      '/instances/0/__proto__',
      'forbidden_key',
    ],
    [
      'constructor in a cancel body',
      () =>
        refused(() =>
          sendJson('POST', `/v1/jobs/${randomUUID()}/cancel`, '{"constructor":{"prototype":{"polluted":true}}}'),
        ),
      '/constructor',
      'forbidden_key',
    ],
    [
      '__proto__ in a JSON dataset record',
      () =>
        refused(() =>
          send('POST', '/v1/datasets', {
            body: '[{"a":1,"b":2},{"a":1,"__proto__":{"polluted":true}}]',
            type: 'application/json',
          }),
        ),
      '/1/__proto__',
      'invalid_dataset',
    ],
    [
      '__proto__ beside x and y in a JSON dataset',
      () =>
        refused(() =>
          send('POST', '/v1/datasets', {
            body: '{"x":[[1]],"__proto__":{"polluted":true},"y":[1]}',
            type: 'application/json',
          }),
        ),
      '/__proto__',
      'invalid_dataset',
    ],
    [
      'a CSV column named __proto__',
      () => refused(() => send('POST', '/v1/datasets', { body: '__proto__,y\n1,2\n', type: 'text/csv' })),
      '/columns/0',
      'invalid_dataset',
    ],
  ];
  for (const [what, act, field, code] of pollution) {
    test(`${what}: 400 naming ${field}`, async () => {
      const answer = problem(await act(), 400, code, field);
      assert.match(
        answer.detail,
        /"(__proto__|constructor|prototype)" is not allowed as a key anywhere|"__proto__" is reserved/,
      );
      assert.equal(({} as Record<string, unknown>).polluted, undefined);
    });
  }

  test('multipart fields named __proto__ or prototype: 400, nothing stored', async () => {
    for (const [field, message] of [
      ['__proto__', /prototype property is not allowed/],
      ['prototype', /not a known field/],
    ] as const) {
      const form = new FormData();
      form.append(field, 'x');
      form.append('file', new Blob(['a,b\n1,2\n']), 'ok.csv');
      const before = await snapshot();
      const response = await fetch(`${service.url}/v1/datasets`, { method: 'POST', body: form });
      const text = await response.text();
      problem(
        { status: response.status, type: response.headers.get('content-type') ?? '', text, body: JSON.parse(text) },
        400,
        undefined,
        message,
      );
      assert.deepEqual(await snapshot(), before);
    }
  });

  test('prototype keys in query strings: 400 naming the unknown parameter', async () => {
    problem(
      await refused(() => send('POST', '/v1/datasets?__proto__=x', { body: 'a,b\n1,2\n', type: 'text/csv' })),
      400,
      'validation_failed',
      '/querystring/__proto__',
    );
    problem(await send('GET', '/v1/jobs?constructor=x'), 400, 'validation_failed', '/querystring/constructor');
  });

  // ---- path-like ids and file names ----

  const badIds = ['..%2F..%2Fsecret.txt', '..', '%2Fetc%2Fpasswd', `${randomUUID()}%00`, 'x'.repeat(5000), '__proto__'];
  const idRoutes: [string, (id: string) => string, string?][] = [
    ['GET', (id) => `/v1/jobs/${id}`],
    ['GET', (id) => `/v1/jobs/${id}/events`],
    ['POST', (id) => `/v1/jobs/${id}/cancel`, '{}'],
    ['GET', (id) => `/v1/models/${id}`],
    ['GET', (id) => `/v1/models/${id}/model.json`],
    ['GET', (id) => `/v1/models/${id}/weights.bin`],
    ['POST', (id) => `/v1/models/${id}/predict`, '{"instances":[[0]]}'],
    ['DELETE', (id) => `/v1/models/${id}`],
    ['GET', (id) => `/v1/datasets/${id}`],
    ['DELETE', (id) => `/v1/datasets/${id}`],
  ];
  for (const [method, route, body] of idRoutes) {
    test(`path-like ids on ${method} ${route(':id')}: 404 problems, no file read`, async () => {
      for (const id of badIds) {
        const answer = await refused(() =>
          body
            ? send(method, route(id), { body, type: 'application/json' })
            : send(method, route(id), { headers: { accept: 'text/event-stream' } }),
        );
        problem(answer, 404, 'not_found', /does not exist|no resource|no route/);
        assert.ok(!answer.text.includes(SECRET) && !answer.text.includes('root:'), answer.text.slice(0, 200));
      }
    });
  }

  test('unnormalized ../ in API and dashboard URLs, and undecodable URLs: 404/403/400 problems, never a file outside', async () => {
    const cases: [string, number, string][] = [
      ['/v1/models/../../secret.txt/model.json', 404, 'not_found'],
      [`/v1/datasets/${datasetId}/../../../secret.txt`, 404, 'not_found'],
      ['/ui/..%2F..%2Fpackage.json', 404, 'not_found'],
      ['/ui/../../../../etc/passwd', 403, 'fst_static_forbidden_path'],
      ['/v1/jobs/%E0%A4%A', 400, 'bad_url'],
    ];
    for (const [p, status, code] of cases) {
      const answer = await send('GET', p);
      problem(answer, status, code, /./);
      assert.ok(
        !answer.text.includes(SECRET) && !answer.text.includes('"dependencies"') && !answer.text.includes('root:'),
        `${p}: ${answer.text.slice(0, 200)}`,
      );
    }
    assert.equal(
      (await getJson(`${service.url}/v1/datasets/${datasetId}`)).status,
      200,
      'the real dataset is still there',
    );
  });

  test('upload file names are ignored: ../../ and control characters never reach the filesystem', async () => {
    for (const filename of ['../../evil.csv', '/tmp/evil.csv', 'e\u0001v\u007fil\u0000.csv']) {
      const form = new FormData();
      form.append('file', new Blob(['a,b\n1,2\n']), filename);
      const response = await fetch(`${service.url}/v1/datasets`, { method: 'POST', body: form });
      const dataset = (await response.json()) as { id: string; name: string };
      assert.equal(response.status, 201, JSON.stringify(dataset));
      assert.equal(dataset.name, 'csv-dataset', 'the file name is not the dataset name');
      assert.deepEqual((await readdir(path.join(config.DATA_DIR, 'datasets', dataset.id))).sort(), [
        'c0.bin',
        'c1.bin',
        'meta.json',
      ]);
      assert.equal((await fetch(`${service.url}/v1/datasets/${dataset.id}`, { method: 'DELETE' })).status, 204);
    }
    assert.deepEqual((await readdir(root)).sort(), ['data', 'secret.txt']);
    assert.equal(await readFile(path.join(root, 'secret.txt'), 'utf8'), SECRET);
  });

  test('dataset names with control characters or over 200 characters: 400 naming /name, by query or form field', async () => {
    problem(
      await refused(() => send('POST', '/v1/datasets?name=a%00b', { body: 'a,b\n1,2\n', type: 'text/csv' })),
      400,
      'validation_failed',
      '/querystring/name',
    );
    for (const name of ['bell\u0007', 'n'.repeat(201)]) {
      const form = new FormData();
      form.append('name', name);
      form.append('file', new Blob(['a,b\n1,2\n']), 'ok.csv');
      const before = await snapshot();
      const response = await fetch(`${service.url}/v1/datasets`, { method: 'POST', body: form });
      const text = await response.text();
      problem(
        { status: response.status, type: response.headers.get('content-type') ?? '', text, body: JSON.parse(text) },
        400,
        'invalid_dataset',
        '/name',
      );
      assert.deepEqual(await snapshot(), before);
    }
  });

  test('a job name with a control character: 400 naming /name', async () => {
    const answer = problem(await submit({ ...job, name: 'line\nbreak' }), 400, 'validation_failed', '/name');
    assert.match(answer.detail, /no control characters/);
  });

  // ---- Keras documents outside the allow-list ----

  const keras = (layer: Record<string, unknown>) => ({
    ...job,
    model: {
      class_name: 'Sequential',
      config: {
        layers: [
          { class_name: 'InputLayer', config: { batch_input_shape: [null, 784] } },
          layer,
          { class_name: 'Dense', config: { units: 10, activation: 'softmax' } },
        ],
      },
    },
  });
  const kerasRefusals: [string, Record<string, unknown>, string, RegExp][] = [
    [
      'a Lambda',
      { class_name: 'Lambda', config: { name: 'evil', function: ['4wEAAAAA', null, null] } },
      '/model/config/layers/1/className',
      /"evil" \(Lambda\) holds Python code/,
    ],
    [
      'a layer from module os',
      { module: 'os', class_name: 'Dense', config: { name: 'sys', units: 10 } },
      '/model/config/layers/1/module',
      /"sys" \(Dense\) comes from module "os"/,
    ],
    [
      'a custom registered_name',
      {
        module: 'keras.layers',
        class_name: 'Dense',
        registered_name: 'Custom>Dense',
        config: { name: 'mine', units: 10 },
      },
      '/model/config/layers/1/registeredName',
      /"mine" \(Dense\) is a custom registered class/,
    ],
    [
      'a Python function as activation',
      {
        class_name: 'Dense',
        config: {
          name: 'fn',
          units: 10,
          activation: { module: 'builtins', class_name: 'function', config: 'os.system', registered_name: 'function' },
        },
      },
      '/model/config/layers/1/config/activation',
      /"fn" \(Dense\): activation is a Python function/,
    ],
    [
      'a class outside the allow-list',
      { class_name: 'ConvLSTM3D', config: { name: 'c3' } },
      '/model/config/layers/1/className',
      /"c3" \(ConvLSTM3D\) is not a supported layer/,
    ],
    [
      'a Lambda inside a Bidirectional wrapper',
      {
        class_name: 'Bidirectional',
        config: { name: 'bi', layer: { class_name: 'Lambda', config: { name: 'inner' } } },
      },
      '/model/config/layers/1/config/layer/className',
      /"inner" \(Lambda\)/,
    ],
  ];
  for (const [what, layer, field, message] of kerasRefusals) {
    test(`a Keras document with ${what}: 422 layer_not_allowed naming the layer`, async () => {
      const answer = problem(await submit(keras(layer)), 422, 'layer_not_allowed', field);
      assert.match(answer.detail, message);
    });
  }

  // ---- content types, malformed and empty bodies, query strings ----

  test('text/plain and form-encoded job bodies: 415 naming the content type', async () => {
    for (const type of ['text/plain', 'application/x-www-form-urlencoded']) {
      const answer = await refused(() => send('POST', '/v1/jobs', { body: JSON.stringify(job), type }));
      problem(answer, 415, 'unsupported_media_type', new RegExp(`send the body as application/json, not "${type}"`));
    }
  });

  test('a dataset upload as application/xml: 415', async () => {
    problem(
      await refused(() => send('POST', '/v1/datasets', { body: '<x/>', type: 'application/xml' })),
      415,
      'unsupported_media_type',
      /multipart\/form-data, text\/csv, application\/json, not "application\/xml"/,
    );
  });

  test("malformed JSON: 400 malformed_json with the parser's reason", async () => {
    problem(await submit('{"model": {"layers": [}'), 400, 'malformed_json', /not valid JSON: .*Unexpected/);
  });

  test('an empty JSON body, and no body at all: 400 saying so', async () => {
    problem(await submit(''), 400, 'malformed_json', /the body is empty/);
    problem(await refused(() => send('POST', '/v1/jobs')), 400, 'validation_failed', '/');
  });

  const queries: [string, string][] = [
    ['/v1/jobs?limit=-1', '/querystring/limit'],
    ['/v1/jobs?limit=abc', '/querystring/limit'],
    ['/v1/jobs?limit=1e999', '/querystring/limit'],
    ['/v1/jobs?status=bogus', '/querystring/status'],
    ['/v1/jobs?cursor=..%2F..%2Fetc', '/querystring/cursor'],
    ['/v1/models?cursor=%00%FF%5B', '/querystring/cursor'],
    ['/v1/datasets?cursor=((((', '/querystring/cursor'],
    ['/v1/datasets?limit=100000', '/querystring/limit'],
  ];
  for (const [url, field] of queries) {
    test(`GET ${url}: 400 naming ${field}`, async () => {
      problem(await send('GET', url), 400, 'validation_failed', field);
    });
  }

  test("a garbage lastEventId on a real job's event stream: 400 naming it", async () => {
    const { body } = await getJson(`${service.url}/v1/jobs?limit=1`);
    problem(
      await send('GET', `/v1/jobs/${body.items[0].id}/events?lastEventId=..%2F1`, {
        headers: { accept: 'text/event-stream' },
      }),
      400,
      'validation_failed',
      '/querystring/lastEventId',
    );
  });

  // ---- and afterwards ----

  test('after all of it: nothing polluted, nothing outside DATA_DIR, and the same API and worker train and serve a job', async () => {
    assert.deepEqual(Object.getOwnPropertyNames(Object.prototype).sort(), prototypeBefore);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    assert.deepEqual((await readdir(root)).sort(), ['data', 'secret.txt']);
    assert.equal(await readFile(path.join(root, 'secret.txt'), 'utf8'), SECRET);
    assert.deepEqual(
      (await readdir(path.join(config.DATA_DIR, 'datasets'))).filter((n) => n.startsWith('.tmp-')),
      [],
      'no half-written upload',
    );

    assert.equal((await getJson(`${service.url}/healthz`)).status, 200);
    const submitted = await postJson(`${service.url}/v1/jobs`, { ...smallMnistJob(), name: 'after-the-storm' });
    assert.equal(submitted.status, 202, JSON.stringify(submitted.body));
    const done = await waitForJob(service.url, submitted.body.id);
    assert.equal(done.status, 'completed', JSON.stringify(done.error));
    assert.ok(done.evaluation, 'evaluated on the test split');
    const predicted = await postJson(`${service.url}/v1/models/${done.modelId}/predict`, {
      instances: [Array(784).fill(0), Array(784).fill(255)],
    });
    assert.equal(predicted.status, 200, JSON.stringify(predicted.body));
    assert.equal(predicted.body.predictions.length, 2);
    assert.equal(predicted.body.classes.length, 2);
  });
});
