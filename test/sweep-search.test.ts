import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { AppError } from '../src/errors.ts';
import { planTrials } from '../src/jobs/sweeps/plan-trials.ts';
import { applyParameters, checkSpace, gridValues } from '../src/jobs/sweeps/space.ts';
import { bestOf, haltAtRung, haltByMedian, rungs } from '../src/jobs/sweeps/stopping.ts';
import { SweepStore } from '../src/jobs/sweeps/sweep-store.ts';
import { Redis } from 'ioredis';
import { randomUUID } from 'node:crypto';
import { REDIS_URL } from './helpers.ts';

// The search itself, without the service: the trial plans and the stopping rules.

test('a grid is every combination in nested-loop order, the first maxTrials of them', () => {
  const parameters = { '/a': { values: ['x', 'y'] }, '/b': { min: 1, max: 3 } };
  const all = planTrials({ parameters, strategy: { type: 'grid' }, maxTrials: 100 });
  assert.deepEqual(
    all.map((p) => [p['/a'], p['/b']]),
    [
      ['x', 1],
      ['x', 2],
      ['x', 3],
      ['y', 1],
      ['y', 2],
      ['y', 3],
    ],
  );
  assert.deepEqual(planTrials({ parameters, strategy: { type: 'grid' }, maxTrials: 4 }), all.slice(0, 4));
  // Float domains give gridPoints points on their scale, ends exact.
  assert.deepEqual(gridValues({ min: 1e-4, max: 1e-2, scale: 'log' }, '/lr'), [1e-4, 0.001, 1e-2]);
  assert.deepEqual(
    gridValues({ min: 0, max: 0.5, scale: 'linear', gridPoints: 6 }, '/d'),
    [0, 0.1, 0.2, 0.3, 0.4, 0.5],
  );
  assert.deepEqual(gridValues({ min: 16, max: 64, step: 16 }, '/u'), [16, 32, 48, 64]);
  assert.throws(
    () => gridValues({ min: 0, max: 1000 }, '/u'),
    (e: AppError) => e.errors[0].path === '/parameters/~1u',
  );
});

test('random trials are reproducible from the seed and stay inside their domains', () => {
  const parameters = {
    '/lr': { min: 1e-5, max: 1e-1, scale: 'log' as const },
    '/units': { min: 8, max: 64, step: 8 },
    '/act': { values: ['relu', 'tanh'] },
  };
  const plan = (seed: number) => planTrials({ parameters, strategy: { type: 'random', seed }, maxTrials: 200 });
  assert.deepEqual(plan(3), plan(3));
  assert.notDeepEqual(plan(3), plan(4));
  const trials = plan(3);
  for (const t of trials) {
    assert.ok((t['/lr'] as number) >= 1e-5 && (t['/lr'] as number) <= 1e-1);
    assert.equal((t['/units'] as number) % 8, 0);
    assert.ok((t['/units'] as number) >= 8 && (t['/units'] as number) <= 64);
    assert.ok(['relu', 'tanh'].includes(t['/act'] as string));
  }
  // Log scale: about as many samples in each decade.
  const decades = [0, 0, 0, 0];
  for (const t of trials) decades[Math.min(3, Math.floor(Math.log10(t['/lr'] as number) + 5))]++;
  assert.ok(Math.min(...decades) > 25, `per decade: ${decades}`);
  assert.equal(new Set(trials.map((t) => t['/units'])).size, 8, 'every integer value is drawn');
});

test('a trial is the base job with its values written at the pointers; the base is untouched', () => {
  const job = { compile: { optimizer: { type: 'adam' } }, model: { layers: [{ units: 4 }, { units: 2 }] } };
  const trial = applyParameters(job, { '/compile/optimizer/learningRate': 0.1, '/model/layers/1/units': 8 });
  assert.deepEqual(trial, {
    compile: { optimizer: { type: 'adam', learningRate: 0.1 } },
    model: { layers: [{ units: 4 }, { units: 8 }] },
  });
  assert.equal(job.model.layers[1].units, 2);
  assert.throws(
    () => checkSpace(job, { '/model/layers/__proto__/x': { values: [1] } }),
    (e: AppError) => e.status === 400 && /__proto__/.test(e.message),
  );
});

test('successive halving: rungs at minEpochs·η^k, and only the top 1/η at a rung go on', () => {
  assert.deepEqual(rungs({ type: 'halving', minEpochs: 1, reductionFactor: 3 }, 27), [1, 3, 9]);
  assert.deepEqual(rungs({ type: 'halving', minEpochs: 2, reductionFactor: 2 }, 8), [2, 4]);
  // Alone at a rung: nothing to compare with, it goes on.
  assert.equal(haltAtRung('max', 3, 0.5, [0.5]), false);
  // Top third of five accuracies [0.9, 0.8, 0.7, 0.6, 0.5]: the 0.9 (and the interpolated cutoff) go on.
  const five = [0.9, 0.8, 0.7, 0.6, 0.5];
  assert.equal(haltAtRung('max', 3, 0.9, five), false);
  assert.equal(haltAtRung('max', 3, 0.7, five), true);
  // Losses: lower is better.
  assert.equal(haltAtRung('min', 2, 0.1, [0.1, 0.5]), false);
  assert.equal(haltAtRung('min', 2, 0.5, [0.1, 0.5]), true);
});

test('median stopping waits for its finished trials and its grace epochs, then stops a trial worse than the median', () => {
  const rule = { type: 'median' as const, minTrials: 2, graceEpochs: 2 };
  const finished = [
    [1.0, 0.5, 0.3],
    [1.2, 0.6, 0.4],
  ];
  // Medians of the running averages after 2 epochs: (0.75, 0.9) -> 0.825.
  assert.equal(haltByMedian('min', rule, [2.0], finished), false, 'within its grace epochs');
  assert.equal(haltByMedian('min', rule, [2.0, 0.9], finished), true);
  assert.equal(haltByMedian('min', rule, [2.0, 0.8], finished), false);
  assert.equal(haltByMedian('min', rule, [2.0, 2.0], finished.slice(0, 1)), false, 'one finished trial is not enough');
  assert.equal(bestOf('max', [null, 0.3, 0.7, 0.5]), 0.7);
});

test('a finished sweep expires with its keys, and the sweep of expired entries drops it from the indexes', async () => {
  const redis = new Redis(REDIS_URL);
  const prefix = `test-${randomUUID().slice(0, 8)}`;
  const store = new SweepStore(redis, prefix, 3600);
  try {
    const id = randomUUID();
    const record = {
      id,
      name: 's',
      tenant: 'alice',
      status: 'running' as const,
      createdAt: new Date().toISOString(),
      finishedAt: null,
      strategy: { type: 'grid' as const },
      objective: { metric: 'loss', goal: 'min' as const },
      maxTrials: 1,
      parallelism: 1,
      best: null,
      request: {} as never,
    };
    await store.create(record, [], []);
    await redis.sadd(store.keys.tenants, 'alice');
    await store.finish(id, { status: 'failed' }, { status: 'failed', best: null });
    assert.ok((await redis.ttl(store.keys.sweep(id).record)) > 3000, 'the record expires');
    assert.ok((await redis.ttl(store.keys.sweep(id).events)) > 3000, 'its events expire');
    assert.equal(await store.sweepExpired(), 0, 'nothing has expired yet');
    await redis.del(store.keys.sweep(id).record); // what its expiry does
    assert.equal(await store.sweepExpired(), 1);
    assert.deepEqual((await store.list({ tenant: 'alice', limit: 10 })).items, []);
    assert.equal(await redis.zcard(store.keys.tenantSweeps('alice')), 0);
  } finally {
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
  }
});
