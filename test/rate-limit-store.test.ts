import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { MAX_LEASE, sharedRateStore, type RateStoreOptions } from '../src/http/rate-limit-store.ts';
import { REDIS_URL } from './helpers.ts';
import { watchRedis } from './redis-monitor.ts';

/** One API process's store, on its own Redis connection, as in the service. */
function processStore(prefix: string, options?: RateStoreOptions) {
  const redis = new Redis(REDIS_URL);
  const Store = sharedRateStore(redis, prefix, options);
  const store = new Store();
  const incr = (key: string, max: number, timeWindow = 60_000) =>
    new Promise<{ current: number; ttl: number }>((resolve, reject) =>
      store.incr(key, (err, result) => (err ? reject(err) : resolve(result!)), timeWindow, max),
    );
  return { redis, incr };
}

describe('the shared rate-limit store', () => {
  const prefix = `test-${randomUUID().slice(0, 8)}:ratelimit:`;
  const connections: Redis[] = [];
  const open = (options?: RateStoreOptions) => {
    const p = processStore(prefix, options);
    connections.push(p.redis);
    return p;
  };
  after(async () => {
    const keys = await connections[0].keys(`${prefix}*`);
    if (keys.length > 0) await connections[0].del(...keys);
    for (const c of connections) c.disconnect();
  });

  test('two processes on one budget let exactly the limit through, whatever the interleaving', async () => {
    const a = open();
    const b = open();
    let allowed = 0;
    for (let i = 0; i < 300; i++) {
      // Bursts of a few requests on one process, then the other, some of them concurrent.
      const store = i % 7 < 4 ? a : b;
      const answers = await Promise.all([
        store.incr('tenant:t1', 100),
        ...(i % 5 === 0 ? [store.incr('tenant:t1', 100)] : []),
      ]);
      allowed += answers.filter((r) => r.current <= 100).length;
    }
    assert.equal(allowed, 100);
    const counted = Number(await a.redis.get(`${prefix}tenant:t1`));
    assert.equal(counted, 100, 'refused requests take no count: the shared count stops at the limit');
  });

  test('far from the limit, Redis hears of requests a lease at a time, not once per request', async () => {
    // Leases as long as the window: none ends (and gives back) during the loop however slow the machine, so the count of leases is exact.
    const a = open({ leaseMs: 60_000 });
    const redis = await watchRedis();
    const currents: number[] = [];
    try {
      const seen = await redis.during(async () => {
        for (let i = 0; i < 1_000; i++) currents.push((await a.incr('tenant:t2', 1_000_000)).current);
      });
      // MONITOR also lists the commands the script runs inside; count the script calls.
      const commands = seen.filter((args) => /^eval/i.test(args[0]) && args.includes(`${prefix}tenant:t2`)).length;
      assert.deepEqual(
        currents,
        Array.from({ length: 1_000 }, (_, i) => i + 1),
        'each request gets the next count',
      );
      assert.ok(
        commands >= 1_000 / MAX_LEASE && commands <= 1_000 / MAX_LEASE + 2,
        `Redis saw ${commands} counting commands for 1,000 requests`,
      );
    } finally {
      redis.close();
    }
  });

  test('the window ends on time and a new one starts at one', async () => {
    const a = open();
    for (let i = 1; i <= 5; i++) assert.equal((await a.incr('tenant:t3', 5, 300)).current, i);
    const refused = await a.incr('tenant:t3', 5, 300);
    assert.ok(refused.current > 5);
    assert.ok(refused.ttl > 0 && refused.ttl <= 300, `ttl ${refused.ttl}`);
    // Waits for time itself: the 300 ms window has to run out.
    await new Promise((resolve) => setTimeout(resolve, 400));
    assert.equal((await a.incr('tenant:t3', 5, 300)).current, 1);
  });

  test('tenants have budgets of their own', async () => {
    const a = open();
    for (let i = 0; i < 3; i++) await a.incr('tenant:t4', 3);
    assert.ok((await a.incr('tenant:t4', 3)).current > 3);
    assert.equal((await a.incr('tenant:t5', 3)).current, 1);
  });

  test('with Redis away the store answers an error (the plugin then lets the request through)', async () => {
    const away = new Redis('redis://127.0.0.1:1', {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    away.on('error', () => undefined);
    connections.push(away);
    const Store = sharedRateStore(away, prefix);
    const store = new Store();
    const answer = await new Promise<Error | null>((resolve) =>
      store.incr('tenant:t6', (err) => resolve(err), 60_000, 10),
    );
    assert.ok(answer instanceof Error);
  });
});
