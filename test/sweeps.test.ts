import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { planTrials } from '../src/jobs/sweeps/plan-trials.ts';
import { apiAs, readEvents, startService, sweepBaseJob, testConfig, type TestService } from './helpers.ts';

const ALICE = 'alice-key-0123456789abcdef';
const BOB = 'bob-key-0123456789abcdef00';

const baseJob = sweepBaseJob; // test/helpers.ts: 256 digits, a small dense net, a validation split

/** A learning rate that trains, and one so small the loss stays where it starts: the search can tell them apart. */
const GOOD_LR = 0.01;
const BAD_LR = 1e-7;
const LR = '/compile/optimizer/learningRate';

/** The first seed whose random plan starts with the good rate and has the bad one later, so a bad trial meets a good one's record. */
function seedWithGoodFirst(maxTrials: number) {
  for (let seed = 0; seed < 1000; seed++) {
    const trials = planTrials({
      parameters: { [LR]: { values: [GOOD_LR, BAD_LR] } },
      strategy: { type: 'random', seed },
      maxTrials,
    });
    const lrs = trials.map((t) => t[LR]);
    if (lrs[0] === GOOD_LR && lrs.slice(1).includes(BAD_LR) && lrs.slice(1).includes(GOOD_LR)) return seed;
  }
  throw new Error('no seed found');
}

describe('sweeps', () => {
  let service: TestService;
  let alice: ReturnType<typeof apiAs>;
  let bob: ReturnType<typeof apiAs>;

  before(async () => {
    service = await startService({
      config: await testConfig({
        API_KEYS: `${ALICE}:alice,${BOB}:bob`,
        SWEEP_RECONCILE_MS: '500',
        MAX_SWEEP_TRIALS: '12',
      }),
    });
    alice = apiAs(service.url, ALICE);
    bob = apiAs(service.url, BOB);
  });
  after(() => service?.close());

  /** Follows a sweep (bounded) until it ends; answers it. */
  async function waitForSweep(id: string, timeoutMs = 240_000) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const { body } = await alice.get(`/v1/sweeps/${id}`);
      if (['completed', 'failed', 'cancelled'].includes(body.status)) return body;
      if (Date.now() > deadline) throw new Error(`sweep ${id} still ${body.status}: ${JSON.stringify(body.trials)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  test('a random sweep runs every trial as a job, streams them, finds and registers the best', async () => {
    const submitted = await alice.post('/v1/sweeps', {
      name: 'lr-width',
      job: baseJob(),
      parameters: { [LR]: { min: 1e-3, max: 0.05, scale: 'log' }, '/model/layers/0/units': { values: [8, 32] } },
      strategy: { type: 'random', seed: 7 },
      objective: { metric: 'val_acc', goal: 'max' },
      maxTrials: 3,
      parallelism: 2,
      register: { name: 'lr-width-best' },
    });
    assert.equal(submitted.status, 202, JSON.stringify(submitted.body));
    const id = submitted.body.id;
    assert.equal(submitted.body.trials.length, 3);
    // The first `parallelism` trials are queued at once; the third waits for a slot.
    assert.deepEqual(
      submitted.body.trials.map((t: any) => t.status),
      ['queued', 'queued', 'pending'],
    );
    const sweep = await waitForSweep(id);
    assert.equal(sweep.status, 'completed', JSON.stringify(sweep));
    const expected = planTrials({
      parameters: { [LR]: { min: 1e-3, max: 0.05, scale: 'log' }, '/model/layers/0/units': { values: [8, 32] } },
      strategy: { type: 'random', seed: 7 },
      maxTrials: 3,
    });
    for (const trial of sweep.trials) {
      assert.equal(trial.status, 'completed');
      assert.deepEqual(trial.parameters, expected[trial.index]);
      // Each trial is an ordinary job of the tenant, with the parameters written into its request.
      const { body: job } = await alice.get(`/v1/jobs/${trial.jobId}`);
      assert.deepEqual(job.sweep, { id, trial: trial.index });
      assert.equal(job.request.compile.optimizer.learningRate, trial.parameters[LR]);
      assert.equal(job.request.model.layers[0].units, trial.parameters['/model/layers/0/units']);
      assert.equal(trial.objective, Math.max(...job.history.val_acc));
      assert.equal(trial.modelId, job.modelId);
    }
    const best = sweep.trials.reduce((a: any, b: any) => (b.objective > a.objective ? b : a));
    assert.equal(sweep.best.objective, best.objective);
    assert.equal(sweep.best.modelId, sweep.trials[sweep.best.index].modelId);
    assert.deepEqual(sweep.registered, { name: 'lr-width-best', version: 1 });
    const { body: version } = await alice.get('/v1/registry/lr-width-best/versions/1');
    assert.equal(version.modelId, sweep.best.modelId);

    // The stream replays everything: every trial transition, every epoch, the best, the end.
    const { events } = await readEvents(`${service.url}/v1/sweeps/${id}/events`, { headers: alice.headers });
    const trialEvents = events.filter((e) => e.event === 'trial');
    for (const index of [0, 1, 2]) {
      assert.deepEqual(
        trialEvents.filter((e) => e.data.index === index).map((e) => e.data.status),
        ['pending', 'queued', 'running', 'completed'],
        `trial ${index}`,
      );
    }
    const epochs = events.filter((e) => e.event === 'epoch');
    assert.equal(epochs.length, 6);
    assert.ok(epochs.every((e) => typeof e.data.metrics.val_acc === 'number'));
    assert.ok(events.some((e) => e.event === 'best'));
    assert.deepEqual(events.at(-1)?.event, 'end');
    assert.equal(events.at(-1)?.data.status, 'completed');
    assert.equal(events.at(-1)?.data.best.index, sweep.best.index);
    // Resuming after the third event gives exactly the rest.
    const rest = await readEvents(`${service.url}/v1/sweeps/${id}/events`, {
      headers: alice.headers,
      lastEventId: events[2].id,
    });
    assert.deepEqual(
      rest.events.map((e) => e.id),
      events.slice(3).map((e) => e.id),
    );

    // Another tenant sees none of it.
    assert.equal((await bob.get(`/v1/sweeps/${id}`)).status, 404);
    assert.equal((await bob.post(`/v1/sweeps/${id}/cancel`)).status, 404);
    assert.ok(!(await bob.get('/v1/sweeps')).body.items.some((s: any) => s.id === id));
    assert.ok((await alice.get('/v1/sweeps')).body.items.some((s: any) => s.id === id));
  });

  test('a grid runs every combination once, in order', async () => {
    const submitted = await alice.post('/v1/sweeps', {
      job: baseJob(1),
      parameters: { '/model/layers/0/units': { values: [4, 8] }, '/fit/batchSize': { min: 32, max: 64, step: 32 } },
      strategy: { type: 'grid' },
      objective: { metric: 'loss', goal: 'min' },
      maxTrials: 10,
      parallelism: 3,
    });
    assert.equal(submitted.status, 202, JSON.stringify(submitted.body));
    const sweep = await waitForSweep(submitted.body.id);
    assert.equal(sweep.status, 'completed');
    assert.deepEqual(
      sweep.trials.map((t: any) => t.parameters),
      [
        { '/model/layers/0/units': 4, '/fit/batchSize': 32 },
        { '/model/layers/0/units': 4, '/fit/batchSize': 64 },
        { '/model/layers/0/units': 8, '/fit/batchSize': 32 },
        { '/model/layers/0/units': 8, '/fit/batchSize': 64 },
      ],
    );
    const objectives = sweep.trials.map((t: any) => t.objective);
    assert.equal(sweep.best.objective, Math.min(...objectives));
  });

  test('successive halving stops a trial that is not in the top 1/η at a rung', async () => {
    const seed = seedWithGoodFirst(4);
    const submitted = await alice.post('/v1/sweeps', {
      job: baseJob(3),
      parameters: { [LR]: { values: [GOOD_LR, BAD_LR] } },
      strategy: { type: 'halving', seed, minEpochs: 1, reductionFactor: 2 },
      objective: { metric: 'loss', goal: 'min' },
      maxTrials: 4,
      parallelism: 1,
    });
    assert.equal(submitted.status, 202, JSON.stringify(submitted.body));
    const sweep = await waitForSweep(submitted.body.id);
    assert.equal(sweep.status, 'completed');
    // The first trial is alone at its rungs and goes on; every bad trial meets it and stops at the first rung.
    assert.equal(sweep.trials[0].status, 'completed');
    assert.equal(sweep.trials[0].epochs, 3);
    for (const trial of sweep.trials.filter((t: any) => t.parameters[LR] === BAD_LR)) {
      assert.equal(trial.status, 'stopped', JSON.stringify(trial));
      assert.equal(trial.epochs, 1);
      // A stopped trial's job completed early, with its model.
      const { body: job } = await alice.get(`/v1/jobs/${trial.jobId}`);
      assert.equal(job.status, 'completed');
      assert.equal(job.history.loss.length, 1);
    }
    assert.equal(sweep.trials[sweep.best.index].parameters[LR], GOOD_LR);
  });

  test('median early stopping stops a trial worse than the finished ones', async () => {
    const seed = seedWithGoodFirst(3);
    const submitted = await alice.post('/v1/sweeps', {
      job: baseJob(3),
      parameters: { [LR]: { values: [GOOD_LR, BAD_LR] } },
      strategy: { type: 'random', seed },
      objective: { metric: 'loss', goal: 'min' },
      earlyStopping: { type: 'median', minTrials: 1, graceEpochs: 1 },
      maxTrials: 3,
      parallelism: 1,
    });
    assert.equal(submitted.status, 202, JSON.stringify(submitted.body));
    const sweep = await waitForSweep(submitted.body.id);
    assert.equal(sweep.trials[0].status, 'completed');
    for (const trial of sweep.trials.filter((t: any) => t.parameters[LR] === BAD_LR)) {
      assert.equal(trial.status, 'stopped', JSON.stringify(trial));
      assert.equal(trial.epochs, 1);
    }
  });

  test('cancelling a sweep cancels its running and waiting trials', async () => {
    const job = { ...baseJob(50), data: { ...baseJob().data, limit: { train: 1024, test: 64 } } };
    job.fit = { ...job.fit!, batchSize: 16 };
    const submitted = await alice.post('/v1/sweeps', {
      job,
      parameters: { '/model/layers/0/units': { values: [8, 16, 32] } },
      strategy: { type: 'grid' },
      objective: { metric: 'loss', goal: 'min' },
      maxTrials: 3,
      parallelism: 1,
    });
    assert.equal(submitted.status, 202, JSON.stringify(submitted.body));
    const id = submitted.body.id;
    await readEvents(`${service.url}/v1/sweeps/${id}/events`, {
      headers: alice.headers,
      stopAfter: (e) => e.event === 'epoch',
    });
    const cancelled = await alice.post(`/v1/sweeps/${id}/cancel`);
    assert.ok([200, 202].includes(cancelled.status), JSON.stringify(cancelled.body));
    const sweep = await waitForSweep(id);
    assert.equal(sweep.status, 'cancelled');
    assert.deepEqual(
      sweep.trials.map((t: any) => t.status),
      ['cancelled', 'cancelled', 'cancelled'],
    );
    assert.equal(sweep.trials[0].jobId !== null, true);
    assert.equal((await alice.get(`/v1/jobs/${sweep.trials[0].jobId}`)).body.status, 'cancelled');
    // The waiting trials never became jobs.
    assert.deepEqual(
      sweep.trials.slice(1).map((t: any) => t.jobId),
      [null, null],
    );
    assert.equal((await alice.post(`/v1/sweeps/${id}/cancel`)).status, 409);
  });

  test('a sweep whose trials never log its objective fails, saying so', async () => {
    const submitted = await alice.post('/v1/sweeps', {
      job: baseJob(1),
      parameters: { '/model/layers/0/units': { values: [4] } },
      strategy: { type: 'grid' },
      objective: { metric: 'mae', goal: 'min' },
      maxTrials: 1,
    });
    assert.equal(submitted.status, 202, JSON.stringify(submitted.body));
    const sweep = await waitForSweep(submitted.body.id);
    assert.equal(sweep.status, 'failed');
    assert.equal(sweep.best, null);
    assert.equal(sweep.trials[0].status, 'completed');
    assert.equal(sweep.error.code, 'no_trial_succeeded');
    assert.match(sweep.error.message, /mae/);
  });

  test('a bad space, trial or objective is a 4xx naming the field, and stores nothing', async () => {
    const before = (await alice.get('/v1/sweeps')).body.items.length;
    const jobsBefore = (await alice.get('/v1/jobs?limit=100')).body.items.length;
    const base = {
      job: baseJob(1),
      strategy: { type: 'grid' },
      objective: { metric: 'loss', goal: 'min' },
      maxTrials: 4,
    };
    const cases: [unknown, number, string, RegExp][] = [
      [{ ...base, parameters: { '/name': { values: ['a'] } } }, 400, '/parameters/~1name', /varies only/],
      [
        {
          ...base,
          job: { ...baseJob(1), compile: { ...baseJob().compile, optimizer: 'adam' } },
          parameters: { [LR]: { values: [0.1] } },
        },
        400,
        '/parameters/~1compile~1optimizer~1learningRate',
        /not an object/,
      ],
      [
        { ...base, parameters: { [LR]: { min: 0, max: 1, scale: 'log' } } },
        400,
        '/parameters/~1compile~1optimizer~1learningRate',
        /above 0/,
      ],
      [
        { ...base, parameters: { '/model/layers/0/units': { values: [4, 0] } } },
        400,
        '/parameters/~1model~1layers~10~1units',
        /trial 1/,
      ],
      [
        { ...base, parameters: { '/model/layers/9/units': { values: [4] } } },
        400,
        '/parameters/~1model~1layers~19~1units',
        /2 items/,
      ],
      [{ ...base, parameters: {} }, 400, '/parameters', /at least one/],
      [{ ...base, maxTrials: 13, parameters: { [LR]: { values: [0.1] } } }, 400, '/maxTrials', /MAX_SWEEP_TRIALS/],
      [
        {
          ...base,
          job: { ...baseJob(1), fit: { ...baseJob().fit!, validationSplit: 0 } },
          objective: { metric: 'val_loss', goal: 'min' },
          parameters: { [LR]: { values: [0.1] } },
        },
        400,
        '/objective/metric',
        /validationSplit/,
      ],
    ];
    for (const [body, status, path, message] of cases) {
      const response = await alice.post('/v1/sweeps', body);
      assert.equal(response.status, status, `${path}: ${JSON.stringify(response.body)}`);
      assert.ok(
        response.body.errors.some((e: any) => e.path === path && message.test(e.message)),
        `${path}: ${JSON.stringify(response.body.errors)}`,
      );
    }
    assert.equal((await alice.get('/v1/sweeps')).body.items.length, before);
    assert.equal((await alice.get('/v1/jobs?limit=100')).body.items.length, jobsBefore);
  });
});

describe('sweeps under a tenant quota', () => {
  let service: TestService;
  before(async () => {
    service = await startService({
      config: await testConfig({ TENANT_MAX_QUEUED_JOBS: '1', SWEEP_RECONCILE_MS: '300' }),
    });
  });
  after(() => service?.close());

  test("trials are the tenant's jobs: a full queue holds them back, and the sweep still runs them all", async () => {
    const api = apiAs(service.url);
    const submitted = await api.post('/v1/sweeps', {
      job: baseJob(1),
      parameters: { '/model/layers/0/units': { values: [4, 8, 12] } },
      strategy: { type: 'grid' },
      objective: { metric: 'loss', goal: 'min' },
      maxTrials: 3,
      parallelism: 3,
    });
    assert.equal(submitted.status, 202, JSON.stringify(submitted.body));
    // TENANT_MAX_QUEUED_JOBS=1: one trial queued at submit, the others wait as pending.
    assert.deepEqual(
      submitted.body.trials.map((t: any) => t.status),
      ['queued', 'pending', 'pending'],
    );
    const { events } = await readEvents(`${service.url}/v1/sweeps/${submitted.body.id}/events`);
    assert.equal(events.at(-1)?.data.status, 'completed');
    // Each held-back trial was queued once, later, and ran to its end. (The stream is the sweep's
    // view, taken by reconciles: a trial's job can leave the queue before the view shows it
    // running, so "one queued at a time" holds for the jobs, not for the view's events.)
    for (const index of [0, 1, 2]) {
      const own = events.filter((e) => e.event === 'trial' && e.data.index === index).map((e) => e.data.status);
      assert.deepEqual(
        own.filter((status: string) => status !== 'pending'),
        ['queued', 'running', 'completed'],
        `trial ${index}: ${own}`,
      );
    }
  });
});

describe('sweep checks are bounded', () => {
  let service: TestService;
  before(async () => {
    service = await startService({ worker: false, config: await testConfig({ SWEEP_CHECK_BUDGET_MS: '1' }) });
  });
  after(() => service?.close());

  test('checking the trials past SWEEP_CHECK_BUDGET_MS is a 422, and nothing is stored', async () => {
    const api = apiAs(service.url);
    const response = await api.post('/v1/sweeps', {
      job: baseJob(1),
      parameters: { '/model/layers/0/units': { values: [4, 8, 12, 16] } },
      strategy: { type: 'grid' },
      objective: { metric: 'loss', goal: 'min' },
      maxTrials: 4,
    });
    assert.equal(response.status, 422, JSON.stringify(response.body));
    assert.equal(response.body.code, 'sweep_check_budget');
    assert.match(response.body.detail, /SWEEP_CHECK_BUDGET_MS/);
    assert.deepEqual((await api.get('/v1/sweeps')).body.items, []);
    assert.deepEqual((await api.get('/v1/jobs')).body.items, []);
  });
});
