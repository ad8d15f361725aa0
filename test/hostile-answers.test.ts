import { assertProblem, rawRequest, type RawAnswer, type RawOptions } from './raw-http.ts';
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { csv, upload, uploadForm } from './dataset-fixtures.ts';
import { readEvents, startService, testConfig, waitForJob, type TestService } from './helpers.ts';

/**
 * Answers that used to be wrong for a bad input (a 200 of nulls, a 500, an empty 200 retried
 * forever, a 404 in every console): each case gets its documented answer, and the fix is
 * checked on every member of its class we know, not only the example that was reported.
 *
 * `service` has a worker (jobs there finish); `idle` has none, so a job submitted there stays
 * queued for as long as a test needs it to (a live job's stream, cancellable jobs).
 */
describe('hostile answers', () => {
  let service: TestService;
  let idle: TestService;
  let linearModel: string;
  let namesDataset: string;
  let namesJob: any;
  let finishedJob: any;

  type Answer = RawAnswer;

  /** Any method, path, body, content type and headers, sent as given (fetch would add or normalize some). */
  function send(base: string, method: string, urlPath: string, opts: RawOptions = {}): Promise<Answer> {
    return rawRequest(base, method, urlPath, opts);
  }
  const json = (base: string, method: string, urlPath: string, body: unknown) =>
    send(base, method, urlPath, {
      body: typeof body === 'string' ? body : JSON.stringify(body),
      type: 'application/json',
    });
  const post = (urlPath: string, body: unknown) => json(service.url, 'POST', urlPath, body);

  const problem = assertProblem;

  /** A tiny regression job on inline data: trains in milliseconds. */
  const tiny = (extra: { data?: Record<string, unknown>; [k: string]: unknown } = {}) => ({
    name: 'tiny',
    model: { layers: [{ type: 'dense', units: 1, inputShape: [4] }] },
    compile: { optimizer: 'sgd', loss: 'meanSquaredError' },
    ...extra,
    data: {
      x: Array.from({ length: 8 }, (_, i) => [i, 1, 2, 3]),
      y: Array.from({ length: 8 }, (_, i) => i % 2),
      ...extra.data,
    },
    fit: { epochs: 1, batchSize: 8 },
  });
  const jobIds = async (base: string) =>
    (await json(base, 'GET', '/v1/jobs?limit=100', undefined)).body.items.map((j: { id: string }) => j.id).sort();

  /** Columns and class names a plain object has as inherited properties. */
  const PROTOTYPE_NAMES = [
    'toString',
    'hasOwnProperty',
    'valueOf',
    '__defineGetter__',
    'isPrototypeOf',
    'toLocaleString',
    'propertyIsEnumerable',
    '__lookupSetter__',
  ];

  before(async () => {
    const env = { RATE_LIMIT_PER_MINUTE: '0' };
    service = await startService({ config: await testConfig(env) });
    idle = await startService({ worker: false, config: await testConfig(env) });

    // A linear model whose inputs are scaled by 10: 3e38 fits float32, 3e39 does not.
    const linear = await post('/v1/jobs', tiny({ data: { inputs: { scale: 10 } } }));
    assert.equal(linear.status, 202, linear.text);

    // Feature columns named like Object.prototype's methods, beside a text column, and class names like them too.
    const header = ['toString', 'hasOwnProperty', 'valueOf', '__defineGetter__', 'colour', 'label'];
    const classes = ['toString', 'valueOf', 'constructor'];
    const rows = Array.from({ length: 40 }, (_, i) => [
      i % 5,
      (i * 7) % 3,
      i % 2,
      (i * 3) % 4,
      ['red', 'hasOwnProperty'][i % 2],
      classes[i % 3],
    ]);
    const dataset = await upload(service.url, csv(header, rows), 'text/csv', '?name=prototype-names');
    assert.equal(dataset.status, 201, JSON.stringify(dataset.body));
    namesDataset = dataset.body.id;
    const named = await post('/v1/jobs', {
      name: 'prototype names',
      model: {
        layers: [
          { type: 'dense', units: 8, activation: 'relu' },
          { type: 'dense', units: 3, activation: 'softmax' },
        ],
      },
      compile: { optimizer: 'adam', loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] },
      // The text column first: its one-hot group shifts every later column's values.
      data: {
        dataset: namesDataset,
        features: ['colour', 'toString', 'hasOwnProperty', 'valueOf', '__defineGetter__'],
        testSplit: 0.25,
        inputs: { standardize: true },
      },
      fit: {
        epochs: 2,
        batchSize: 8,
        validationSplit: 0.2,
        callbacks: [{ type: 'earlyStopping', monitor: 'val_loss', patience: 5 }],
      },
      evaluate: true,
    });
    assert.equal(named.status, 202, named.text);

    const done = await waitForJob(service.url, linear.body.id);
    assert.equal(done.status, 'completed', JSON.stringify(done.error));
    linearModel = done.modelId;
    finishedJob = done;
    namesJob = await waitForJob(service.url, named.body.id);
    assert.equal(namesJob.status, 'completed', JSON.stringify(namesJob.error));
  });
  after(async () => {
    await service?.close();
    await idle?.close();
  });

  // ---- numbers JSON parses to Infinity, and numbers float32 cannot hold ----

  const overflows: [string, string, string][] = [
    [
      'a learning rate of 1e999',
      '/v1/jobs',
      JSON.stringify({
        ...tiny(),
        compile: { optimizer: { type: 'sgd', learningRate: 'HOLE' }, loss: 'meanSquaredError' },
      }),
    ],
    ['inputs.scale of 1e999', '/v1/jobs', JSON.stringify(tiny({ data: { inputs: { scale: 'HOLE' } } }))],
    ['-1e999 in inline training data', '/v1/jobs', JSON.stringify(tiny()).replace('[1,1,2,3]', '[1,1,"HOLE",3]')],
    [
      'an epsilon of 1e999 in a dry run',
      '/v1/models/validate',
      JSON.stringify({
        ...tiny(),
        compile: { optimizer: { type: 'adam', epsilon: 'HOLE' }, loss: 'meanSquaredError' },
      }),
    ],
    [
      'a Keras layer option of 1e999',
      '/v1/models/validate',
      JSON.stringify({
        ...tiny(),
        model: {
          class_name: 'Sequential',
          config: {
            layers: [
              {
                class_name: 'Dense',
                config: {
                  units: 1,
                  batch_input_shape: [null, 4],
                  bias_initializer: { class_name: 'Constant', config: { value: 'HOLE' } },
                },
              },
            ],
          },
        },
      }),
    ],
  ];
  const overflowPaths = [
    '/compile/optimizer/learningRate',
    '/data/inputs/scale',
    '/data/x/1/2',
    '/compile/optimizer/epsilon',
    '/model/config/layers/0/config/bias_initializer/config/value',
  ];
  overflows.forEach(([what, route, body], i) => {
    test(`${what}: 400 non_finite_number at ${overflowPaths[i]}, nothing queued`, async () => {
      const before = await jobIds(service.url);
      const value = i === 2 ? '-1e999' : '1e999';
      const answer = problem(
        await json(service.url, 'POST', route, body.replace('"HOLE"', value)),
        400,
        'non_finite_number',
        overflowPaths[i],
      );
      assert.match(answer.detail, /parses as ±Infinity/);
      assert.deepEqual(await jobIds(service.url), before);
    });
  });

  test('a body that is only 1e999, and 1e999 in predict instances (arrays and records): 400 naming the path', async () => {
    problem(await json(service.url, 'POST', '/v1/models/validate', '1e999'), 400, 'non_finite_number', '/');
    problem(
      await post(`/v1/models/${linearModel}/predict`, '{"instances":[[1,2,3,1e999]]}'),
      400,
      'non_finite_number',
      '/instances/0/3',
    );
    problem(
      await post(`/v1/models/${linearModel}/predict`, '{"instances":[[1,2,3,4],{"a":-1e400}]}'),
      400,
      'non_finite_number',
      '/instances/1/a',
    );
  });

  test('a JSON dataset upload holding 1e999: 400 invalid_dataset naming the value, nothing stored', async () => {
    const before = (await json(service.url, 'GET', '/v1/datasets?limit=100', undefined)).body.items.length;
    problem(
      await send(service.url, 'POST', '/v1/datasets', {
        body: '{"x":[[1,2],[3,1e999]],"y":[0,1]}',
        type: 'application/json',
      }),
      400,
      'invalid_dataset',
      /finite number/,
    );
    assert.equal((await json(service.url, 'GET', '/v1/datasets?limit=100', undefined)).body.items.length, before);
  });

  const beyond: [string, string][] = [
    ['[[1,2,3,1e39]]', '/instances/0/3'],
    ['[[1,2,3,4],[-3.5e38,0,0,0]]', '/instances/1/0'],
    ['[[[1,2],[3,4e38]]]', '/instances/0/1/1'],
    ['[{"x":5e38}]', '/instances/0/x'],
  ];
  for (const [instances, path] of beyond) {
    test(`predict with ${instances}, beyond float32: 422 beyond_float32 at ${path}`, async () => {
      const answer = problem(
        await post(`/v1/models/${linearModel}/predict`, `{"instances":${instances}}`),
        422,
        'beyond_float32',
        path,
      );
      assert.match(answer.detail, /float32/);
    });
  }

  test('predict at the edge of float32 (±3.4028234663852886e38, 1e-45) is not refused for its range', async () => {
    const answer = await post(`/v1/models/${linearModel}/predict`, {
      instances: [[3.4028234663852886e38, -3.4028234663852886e38, 1e-45, 0]],
    });
    // Scaled by 10 they overflow inside the model: a non-finite output, not a range error on the input.
    problem(answer, 422, 'non_finite_output', '/instances/0');
  });

  test('outputs that come out NaN or Infinity: 422 non_finite_output naming each such instance, never a 200 of nulls', async () => {
    const answer = problem(
      await post(`/v1/models/${linearModel}/predict`, {
        instances: [
          [1, 2, 3, 4],
          [3e38, 3e38, 3e38, 3e38],
          [0, 0, 0, 0],
          [-3e38, 1, 1, 1],
        ],
      }),
      422,
      'non_finite_output',
      '/instances/1',
    );
    assert.deepEqual(
      answer.errors.map((e: { path: string }) => e.path),
      ['/instances/1', '/instances/3'],
    );
    assert.ok(!answer.text?.includes('null'));
  });

  test('a request with finite outputs batched with one whose outputs overflow still gets its 200 of numbers', async () => {
    const [bad, good] = await Promise.all([
      post(`/v1/models/${linearModel}/predict`, { instances: [[3e38, 3e38, 3e38, 3e38]] }),
      post(`/v1/models/${linearModel}/predict`, {
        instances: [
          [1, 2, 3, 4],
          [4, 3, 2, 1],
        ],
      }),
    ]);
    problem(bad, 422, 'non_finite_output', '/instances/0');
    assert.equal(good.status, 200, good.text);
    assert.equal(good.body.predictions.length, 2);
    for (const p of good.body.predictions.flat()) assert.ok(Number.isFinite(p), good.text);
  });

  // ---- names people choose, used as keys ----

  test('columns and classes named toString, valueOf, hasOwnProperty, __defineGetter__, constructor: the job record, the model and the dataset', async () => {
    const job = await json(service.url, 'GET', `/v1/jobs/${namesJob.id}`, undefined);
    assert.equal(job.status, 200, job.text);
    assert.deepEqual([...job.body.evaluation.classes].sort(), ['constructor', 'toString', 'valueOf']);
    assert.deepEqual(job.body.evaluation.perClass.map((c: { class: string }) => c.class).sort(), [
      'constructor',
      'toString',
      'valueOf',
    ]);
    assert.ok(job.body.history.val_loss.length >= 1);
    const model = await json(service.url, 'GET', `/v1/models/${namesJob.modelId}`, undefined);
    assert.equal(model.status, 200, model.text);
    assert.deepEqual(model.body.transforms.features, [
      'colour',
      'toString',
      'hasOwnProperty',
      'valueOf',
      '__defineGetter__',
    ]);
    assert.deepEqual(Object.keys(model.body.transforms.categories), ['colour']);
    assert.deepEqual([...model.body.transforms.categories.colour].sort(), ['hasOwnProperty', 'red']);
    assert.deepEqual([...model.body.transforms.classNames].sort(), ['constructor', 'toString', 'valueOf']);
    const listed = await json(service.url, 'GET', '/v1/jobs?limit=100', undefined);
    assert.equal(listed.status, 200, listed.text);
    assert.equal((await json(service.url, 'GET', `/v1/datasets/${namesDataset}`, undefined)).status, 200);
  });

  test('predict on those columns, as records and as rows: 200 with a class name per instance', async () => {
    const record = { toString: 1, hasOwnProperty: 2, valueOf: 0, __defineGetter__: 3, colour: 'hasOwnProperty' };
    const answer = await post(`/v1/models/${namesJob.modelId}/predict`, {
      instances: [record, ['red', 4, 0, 1, 2], { ...record, colour: 'red' }],
    });
    assert.equal(answer.status, 200, answer.text);
    assert.equal(answer.body.labels.length, 3);
    for (const label of answer.body.labels)
      assert.ok(['toString', 'valueOf', 'constructor'].includes(label), answer.text);
  });

  test('a record without the column toString (or valueOf, ...) is a 400 saying that column is missing, not Object.prototype.toString', async () => {
    for (const missing of ['toString', 'valueOf', 'hasOwnProperty', '__defineGetter__']) {
      const record: Record<string, unknown> = {
        toString: 1,
        hasOwnProperty: 2,
        valueOf: 0,
        __defineGetter__: 3,
        colour: 'red',
      };
      delete record[missing];
      const answer = problem(
        await post(`/v1/models/${namesJob.modelId}/predict`, { instances: [record] }),
        400,
        'invalid_instances',
        '/instances/0',
      );
      assert.match(answer.detail, new RegExp(`column "${missing}" is missing`));
    }
  });

  test('a text value named like a prototype method that the model does not know: 400 listing the known ones', async () => {
    for (const colour of ['toString', 'constructor', '__proto__', 'valueOf']) {
      const answer = problem(
        await post(`/v1/models/${namesJob.modelId}/predict`, { instances: [[colour, 1, 2, 0, 3]] }),
        400,
        'invalid_instances',
        '/instances/0',
      );
      assert.match(answer.detail, /the model knows (red, hasOwnProperty|hasOwnProperty, red)$/);
    }
  });

  test('JSON records whose keys are prototype method names upload and describe like any other', async () => {
    const records = Array.from({ length: 6 }, (_, i) => ({
      valueOf: i,
      toLocaleString: i * 2,
      isPrototypeOf: ['a', 'b'][i % 2],
    }));
    const answer = await upload(service.url, JSON.stringify(records), 'application/json', '?name=records');
    assert.equal(answer.status, 201, JSON.stringify(answer.body));
    assert.deepEqual(
      answer.body.columns.map((c: { name: string }) => c.name),
      ['valueOf', 'toLocaleString', 'isPrototypeOf'],
    );
  });

  /** Every request field whose value a service looks up by name in a table of its own. */
  const namedFields: [string, (name: string) => unknown][] = [
    [
      '/compile/metrics/0',
      (n) => ({ ...tiny(), compile: { optimizer: 'sgd', loss: 'meanSquaredError', metrics: [n] } }),
    ],
    ['/compile/loss', (n) => ({ ...tiny(), compile: { optimizer: 'sgd', loss: n } })],
    ['/compile/optimizer', (n) => ({ ...tiny(), compile: { optimizer: n, loss: 'meanSquaredError' } })],
    ['/compile/optimizer/type', (n) => ({ ...tiny(), compile: { optimizer: { type: n }, loss: 'meanSquaredError' } })],
    [
      '/model/layers/0/activation',
      (n) => ({ ...tiny(), model: { layers: [{ type: 'dense', units: 1, inputShape: [4], activation: n }] } }),
    ],
    ['/model/layers/0/type', (n) => ({ ...tiny(), model: { layers: [{ type: n, units: 1, inputShape: [4] }] } })],
    [
      '/model/layers/0/kernelInitializer',
      (n) => ({ ...tiny(), model: { layers: [{ type: 'dense', units: 1, inputShape: [4], kernelInitializer: n }] } }),
    ],
    [
      '/model/layers/0/kernelConstraint',
      (n) => ({
        ...tiny(),
        model: { layers: [{ type: 'dense', units: 1, inputShape: [4], kernelConstraint: { type: n } }] },
      }),
    ],
    ['/data/dataset', (n) => ({ ...tiny(), data: { dataset: n } })],
    [
      '/fit/callbacks/0/monitor',
      (n) => ({ ...tiny(), fit: { epochs: 1, callbacks: [{ type: 'earlyStopping', monitor: n }] } }),
    ],
    ['/fit/callbacks/0/type', (n) => ({ ...tiny(), fit: { epochs: 1, callbacks: [{ type: n }] } })],
    [
      '/model/config/layers/0/className',
      (n) => ({ ...tiny(), model: { class_name: 'Sequential', config: { layers: [{ class_name: n, config: {} }] } } }),
    ],
    [
      'Keras compile_config',
      (n) => ({
        ...tiny(),
        compile: undefined,
        model: {
          class_name: 'Sequential',
          config: { layers: [{ class_name: 'Dense', config: { units: 1, batch_input_shape: [null, 4] } }] },
          compile_config: { optimizer: { class_name: n, config: { [n]: 1 } }, loss: n, metrics: [n] },
        },
      }),
    ],
    [
      'a Keras layer option',
      (n) => ({
        ...tiny(),
        model: {
          class_name: 'Sequential',
          config: { layers: [{ class_name: 'Dense', config: { units: 1, batch_input_shape: [null, 4], [n]: 1 } }] },
        },
      }),
    ],
  ];
  for (const [field, body] of namedFields) {
    test(`${field} named toString, constructor, __proto__, ...: a 4xx naming what is wrong, never a 500`, async () => {
      for (const name of [...PROTOTYPE_NAMES, 'constructor', '__proto__', 'prototype']) {
        const answer = await post('/v1/models/validate', body(name));
        assert.ok(
          answer.status === 200 || (answer.status >= 400 && answer.status < 500),
          `${name}: ${answer.status} ${answer.text.slice(0, 300)}`,
        );
        if (answer.status !== 200) assert.match(answer.type, /^application\/problem\+json/, `${name}: ${answer.text}`);
      }
    });
  }

  // ---- text shown back to people ----

  const hidden: [string, string][] = [
    ['NEL (C1)', 'job\u0085name'],
    ['CSI (C1)', 'job\u009B31mred'],
    ['a right-to-left override', 'invoice\u202Efdp.exe'],
    ['a left-to-right isolate', 'a\u2066b\u2069'],
    ['a zero-width space', 'ad\u200Bmin'],
    ['a byte-order mark', '\uFEFFname'],
    ['a line separator', 'line\u2028break'],
    ['DEL', 'rub\u007Fout'],
    ['a right-to-left mark', 'abc\u200F'],
    ['an unpaired surrogate', 'half\uD800'],
  ];
  for (const [what, name] of hidden) {
    test(`a job name with ${what}: 400 naming /name, nothing queued`, async () => {
      const before = await jobIds(service.url);
      const answer = problem(await post('/v1/jobs', { ...tiny(), name }), 400, 'validation_failed', '/name');
      assert.match(
        answer.detail,
        /no control characters \(C0, C1, DEL\), bidi controls or invisible format characters/,
      );
      assert.deepEqual(await jobIds(service.url), before);
    });
  }

  test('names in other scripts, with accents, emoji and punctuation are still fine', async () => {
    for (const name of ['données 2024', '日本語のモデル', 'نموذج', 'run #3 (retry) — final', '😀 happy']) {
      const answer = await post('/v1/models/validate', { ...tiny(), name });
      assert.equal(answer.status, 200, `${name}: ${answer.text}`);
    }
  });

  test('dataset names with hidden characters: 400 by query string and by form field', async () => {
    for (const [, name] of hidden.slice(0, 6)) {
      problem(
        await send(service.url, 'POST', `/v1/datasets?name=${encodeURIComponent(name)}`, {
          body: 'a,b\n1,2\n',
          type: 'text/csv',
        }),
        400,
        'validation_failed',
        '/querystring/name',
      );
      const form = await uploadForm(service.url, { name, file: { data: 'a,b\n1,2\n', filename: 'x.csv' } });
      assert.equal(form.status, 400, JSON.stringify(form.body));
      assert.equal(form.body.code, 'invalid_dataset');
      assert.equal(form.body.errors[0].path, '/name');
    }
  });

  test('CSV column names and text values with hidden characters: 400 naming the column, the message showing them escaped', async () => {
    const cases: [string, RegExp][] = [
      ['a,ev\u202Eil,label\n1,2,x\n', /column name "ev\\u202Eil" holds U\+202E/],
      ['a,b\u0085,label\n1,2,x\n', /U\+0085/],
      ['a,b,label\n1,2,ok\n3,4,no\u200Bpe\n', /value "no\\u200Bpe", which holds U\+200B/],
      ['a,b,label\n1,2,\u2066x\u2069\n', /U\+2066/],
    ];
    for (const [body, message] of cases) {
      const answer = await send(service.url, 'POST', '/v1/datasets', { body, type: 'text/csv' });
      const parsed = problem(answer, 400, 'invalid_dataset', message);
      assert.match(parsed.errors[0].path, /^\/columns\/\d$/);
      assert.ok(
        !/[\u0085\u200B\u202E\u2066]/.test(answer.text),
        `the answer echoes a hidden character: ${answer.text}`,
      );
    }
  });

  test('a graph model input named with a bidi override: 400 naming it', async () => {
    const body = {
      ...tiny(),
      model: {
        inputs: [{ name: 'in\u202Eput', shape: [4] }],
        layers: [{ type: 'dense', units: 1, name: 'd', inputs: ['in\u202Eput'] }],
        outputs: ['d'],
      },
    };
    problem(await post('/v1/models/validate', body), 400, 'validation_failed', '/model/inputs/0/name');
  });

  // ---- the event stream's Last-Event-ID and Accept ----

  const events = (base: string, id: string, headers: Record<string, string> = {}, query = '') =>
    send(base, 'GET', `/v1/jobs/${id}/events${query}`, { headers: { accept: 'text/event-stream', ...headers } });

  for (const bad of ['abc', '1-2-3', '-1-0', '12', '99999999999999999999999-0', '1-18446744073709551616', '1 -0']) {
    test(`Last-Event-ID ${JSON.stringify(bad)}: 400 invalid_last_event_id naming the header`, async () => {
      problem(
        await events(service.url, finishedJob.id, { 'last-event-id': bad }),
        400,
        'invalid_last_event_id',
        '/headers/last-event-id',
      );
    });
  }

  test('a lastEventId query beyond 64 bits: 400 naming it', async () => {
    problem(
      await events(service.url, finishedJob.id, {}, '?lastEventId=99999999999999999999999-0'),
      400,
      'invalid_last_event_id',
      '/querystring/lastEventId',
    );
  });

  test('a finished job with nothing after Last-Event-ID (its end event, or far in the future): 204, so EventSource stops', async () => {
    const { events: all } = await readEvents(`${service.url}/v1/jobs/${finishedJob.id}/events`);
    const end = all.at(-1)!;
    assert.equal(end.event, 'end');
    for (const [headers, query] of [
      [{ 'last-event-id': end.id! }, ''],
      [{ 'last-event-id': '99999999999999-0' }, ''],
      [{ 'last-event-id': '18446744073709551615-18446744073709551615' }, ''],
      [{}, '?lastEventId=99999999999999-0'],
    ] as const) {
      const answer = await events(service.url, finishedJob.id, headers, query);
      assert.equal(answer.status, 204, `${JSON.stringify(headers)}${query}: ${answer.status} ${answer.text}`);
      assert.equal(answer.text, '');
    }
  });

  test('a finished job resumed from the middle: the rest of its events, ending with end', async () => {
    const { events: all } = await readEvents(`${service.url}/v1/jobs/${finishedJob.id}/events`);
    assert.ok(all.length >= 3, JSON.stringify(all));
    const { events: rest } = await readEvents(`${service.url}/v1/jobs/${finishedJob.id}/events`, {
      lastEventId: all[0].id,
    });
    assert.deepEqual(
      rest.map((e) => e.id),
      all.slice(1).map((e) => e.id),
    );
    assert.equal(rest.at(-1)!.event, 'end');
  });

  test('a job still going, with a Last-Event-ID after its last event: 400 (no stream sent it), not an empty 200', async () => {
    const queued = await json(idle.url, 'POST', '/v1/jobs', tiny());
    assert.equal(queued.status, 202, queued.text);
    const answer = problem(
      await events(idle.url, queued.body.id, { 'last-event-id': '99999999999999-0' }),
      400,
      'invalid_last_event_id',
      '/headers/last-event-id',
    );
    assert.match(answer.detail, /still going/);
    // Its own last event is a fine place to resume from: the stream opens and waits.
    const { events: seen } = await readEvents(`${idle.url}/v1/jobs/${queued.body.id}/events`, {
      stopAfter: () => true,
    });
    const controller = new AbortController();
    const response = await fetch(`${idle.url}/v1/jobs/${queued.body.id}/events`, {
      headers: { accept: 'text/event-stream', 'last-event-id': seen[0].id! },
      signal: controller.signal,
    });
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /text\/event-stream/);
    controller.abort();
    await response.body?.cancel().catch(() => undefined);
  });

  test('Accept: application/json (or anything refusing event streams): 406 problem+json, not a 500', async () => {
    for (const accept of ['application/json', 'text/html', 'text/event-stream;q=0, application/json']) {
      problem(await events(service.url, finishedJob.id, { accept }), 406, 'not_acceptable', /text\/event-stream/);
    }
  });

  // ---- cancel's optional body ----

  test('cancel with no body, an empty JSON body, {} and {"keepModel": true}: each cancels a queued job (200)', async () => {
    const bodies: [string, { body?: string; type?: string }][] = [
      ['no body', {}],
      ['an empty JSON body', { body: '', type: 'application/json' }],
      ['a blank JSON body', { body: '  \n', type: 'application/json' }],
      ['{}', { body: '{}', type: 'application/json' }],
      ['keepModel true', { body: '{"keepModel":true}', type: 'application/json' }],
    ];
    for (const [what, opts] of bodies) {
      const queued = await json(idle.url, 'POST', '/v1/jobs', tiny());
      assert.equal(queued.status, 202, queued.text);
      const answer = await send(idle.url, 'POST', `/v1/jobs/${queued.body.id}/cancel`, opts);
      assert.equal(answer.status, 200, `${what}: ${answer.text}`);
      assert.equal(answer.body.status, 'cancelled', what);
    }
  });

  test('cancel with a wrong keepModel, an unknown field, a non-object or malformed JSON: 400, and the job stays queued', async () => {
    const queued = await json(idle.url, 'POST', '/v1/jobs', tiny());
    const cancel = (body: string) =>
      send(idle.url, 'POST', `/v1/jobs/${queued.body.id}/cancel`, { body, type: 'application/json' });
    problem(await cancel('{"keepModel":"yes"}'), 400, 'validation_failed', '/keepModel');
    problem(await cancel('{"keepModel":true,"force":1}'), 400, 'validation_failed', '/force');
    problem(await cancel('[]'), 400, 'validation_failed', '/');
    problem(await cancel('{"keepModel":'), 400, 'malformed_json', /not valid JSON/);
    problem(
      await send(idle.url, 'POST', `/v1/jobs/${queued.body.id}/cancel`, { body: 'yes', type: 'text/plain' }),
      415,
      'unsupported_media_type',
      /application\/json/,
    );
    assert.equal((await json(idle.url, 'GET', `/v1/jobs/${queued.body.id}`, undefined)).body.status, 'queued');
  });

  test('the OpenAPI document: cancel takes an optional body; events documents 204, 400 and 406; predict 422', async () => {
    const spec = (await json(service.url, 'GET', '/openapi.json', undefined)).body;
    assert.equal(spec.paths['/v1/jobs/{id}/cancel'].post.requestBody.required, false);
    assert.equal(spec.paths['/v1/jobs'].post.requestBody.required, true);
    for (const code of ['204', '400', '406'])
      assert.ok(spec.paths['/v1/jobs/{id}/events'].get.responses[code], `events ${code}`);
    assert.ok(spec.paths['/v1/models/{id}/predict'].post.responses['422']);
  });

  // ---- the dashboard's icon ----

  test('/favicon.ico and the icon the dashboard links: 200 SVG, no 404 in any console', async () => {
    const icon = await send(service.url, 'GET', '/favicon.ico');
    assert.equal(icon.status, 200);
    assert.match(icon.type, /^image\/svg\+xml/);
    assert.match(icon.text, /^<svg /);
    const page = await send(service.url, 'GET', '/ui/');
    const href = /<link rel="icon" href="([^"]+)"/.exec(page.text)?.[1];
    assert.ok(href, 'the dashboard links an icon');
    const linked = await send(service.url, 'GET', `/ui/${href}`);
    assert.equal(linked.status, 200);
    assert.match(linked.type, /^image\/svg\+xml/);
  });
});
