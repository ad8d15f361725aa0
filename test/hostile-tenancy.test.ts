import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { buildApp, type App } from '../src/app.ts';
import { AuthFailures } from '../src/http/auth-failures.ts';
import { sharedRateStore } from '../src/http/rate-limit-store.ts';
import { deleteKeys } from '../bench/service.ts';
import { JobStore } from '../src/jobs/job-store.ts';
import { CheckpointStore } from '../src/storage/checkpoint-store.ts';
import { FileObjectStore } from '../src/storage/file-object-store.ts';
import { OwnedIndex } from '../src/storage/owned-index.ts';
import { csv, binaryRows } from './dataset-fixtures.ts';
import {
  apiAs,
  cleanup,
  REDIS_URL,
  slowJob,
  smallMnistJob,
  startService,
  testConfig,
  type TestService,
  workerFinished,
} from './helpers.ts';
import { watchRedis } from './redis-monitor.ts';

const ALICE = 'alice-key-0123456789abcdef';
const BOB = 'bob-key-0123456789abcdef00';
const ADMIN = 'admin-key-0123456789abcdef';
const KEYS = `${ALICE}:alice,${BOB}:bob,${ADMIN}:ops:admin`;
const ALICE_T = { id: 'alice', admin: false };
const BOB_T = { id: 'bob', admin: false };
const ADMIN_T = { id: 'ops', admin: true };
const pixels = () => [new Array(784).fill(0)];

/** The commands that name `id`, with it replaced, and without script loading (EVAL/EVALSHA): what a request cost Redis for that id. */
const costOf = (commands: string[][], id: string) =>
  commands
    .filter((args) => args.some((a) => a.includes(id)) && !/^eval/i.test(args[0]))
    .map((args) =>
      args
        .map((a) => a.replaceAll(id, '<id>'))
        .join(' ')
        .toLowerCase(),
    );

/** Waits for a condition that another party makes true (a timer in another process's store); polls, with a deadline. */
async function until(condition: () => Promise<boolean>, what: string, timeoutMs = 5_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('a foreign id costs what a missing one does: ownership is read from a small index first', () => {
  let service: TestService;
  let redis: Awaited<ReturnType<typeof watchRedis>>;
  let alice: ReturnType<typeof apiAs>;
  let bob: ReturnType<typeof apiAs>;
  let admin: ReturnType<typeof apiAs>;
  let jobId: string;
  let hot: string; // alice's model the predictor holds
  let cold: string; // alice's other model
  let datasetId: string;
  const missing = () => randomUUID();

  before(async () => {
    service = await startService({ config: await testConfig({ API_KEYS: KEYS, MODEL_CACHE_SIZE: '1' }) });
    alice = apiAs(service.url, ALICE);
    bob = apiAs(service.url, BOB);
    admin = apiAs(service.url, ADMIN);
    const ids = [];
    for (const name of ['first', 'second']) {
      const submitted = await alice.post('/v1/jobs', { ...smallMnistJob(), name });
      assert.equal(submitted.status, 202, JSON.stringify(submitted.body));
      ids.push(submitted.body.id);
    }
    const done = [await alice.waitFor(ids[0]), await alice.waitFor(ids[1])];
    for (const job of done) assert.equal(job.status, 'completed', JSON.stringify(job.error));
    jobId = ids[0];
    [hot, cold] = done.map((j) => j.modelId);
    const uploaded = await alice.post('/v1/datasets?label=label', csv(['a', 'b', 'label'], binaryRows(40)), {
      'content-type': 'text/csv',
    });
    assert.equal(uploaded.status, 201, JSON.stringify(uploaded.body));
    datasetId = uploaded.body.id;
    redis = await watchRedis();
  });
  after(async () => {
    redis?.close();
    await service.close();
  });

  /** Bob asks for alice's id and for a missing one: both 404, and Redis ran the same commands for each. */
  async function sameAsMissing(call: (id: string) => Promise<{ status: number; body: any }>, id: string, what: string) {
    let foreign: { status: number; body: any } | undefined;
    const foreignCost = costOf(await redis.during(async () => (foreign = await call(id))), id);
    const other = missing();
    let absent: { status: number; body: any } | undefined;
    const absentCost = costOf(await redis.during(async () => (absent = await call(other))), other);
    assert.equal(foreign!.status, 404, `${what}: ${JSON.stringify(foreign!.body)}`);
    assert.equal(absent!.status, 404, what);
    assert.deepEqual(foreign!.body.detail.replace(id, '<id>'), absent!.body.detail.replace(other, '<id>'), what);
    assert.deepEqual(
      foreignCost,
      absentCost,
      `${what}: Redis ran ${JSON.stringify(foreignCost)} for a foreign id, ${JSON.stringify(absentCost)} for a missing one`,
    );
    return foreignCost;
  }

  test("a job's routes: another tenant's id never reads its record", async () => {
    for (const [what, call] of [
      ['GET job', (id: string) => bob.get(`/v1/jobs/${id}`)],
      ['cancel', (id: string) => bob.post(`/v1/jobs/${id}/cancel`, {})],
      ['events', (id: string) => bob.get(`/v1/jobs/${id}/events`)],
    ] as const) {
      const cost = await sameAsMissing(call, jobId, what);
      assert.ok(
        !cost.some((c) => c.startsWith('hgetall') || c.includes('request')),
        `${what} read the record: ${cost}`,
      );
    }
    // The owner and the admin do read it (so the check above can see a read).
    for (const who of [alice, admin]) {
      const commands = costOf(await redis.during(() => who.get(`/v1/jobs/${jobId}`)), jobId);
      assert.ok(
        commands.some((c) => c.startsWith('hgetall')),
        `the owner's read: ${commands}`,
      );
    }
    assert.equal((await alice.get(`/v1/jobs/${jobId}`)).body.request.name, 'first');
  });

  test("a model's routes: another tenant's id never reads its metadata", async () => {
    for (const [what, call] of [
      ['GET model', (id: string) => bob.get(`/v1/models/${id}`)],
      ['model.json', (id: string) => bob.get(`/v1/models/${id}/model.json`)],
      ['weights.bin', (id: string) => bob.get(`/v1/models/${id}/weights.bin`)],
      ['DELETE model', (id: string) => bob.delete(`/v1/models/${id}`)],
    ] as const) {
      const cost = await sameAsMissing(call, cold, what);
      assert.ok(!cost.some((c) => c.startsWith('get ')), `${what} read the metadata: ${cost}`);
    }
    assert.equal((await alice.get(`/v1/models/${cold}`)).status, 200, 'bob deleted nothing');
    assert.equal((await admin.get(`/v1/models/${cold}`)).body.tenant, 'alice');
  });

  test("predict on another tenant's model loads nothing and evicts nobody's model", async () => {
    const own = await alice.post(`/v1/models/${hot}/predict`, { instances: pixels() });
    assert.equal(own.status, 200, JSON.stringify(own.body));
    const stats = service.app.services.predictor.stats();
    const cost = await sameAsMissing(
      (id) => bob.post(`/v1/models/${id}/predict`, { instances: pixels() }),
      cold,
      'predict',
    );
    assert.ok(!cost.some((c) => c.startsWith('get ')), `bob's predict read the model: ${cost}`);
    assert.deepEqual(service.app.services.predictor.stats(), stats, 'no forward pass ran for bob');
    // The cache holds one model: alice's is still the one loaded (no metadata read to reload it).
    const again = costOf(
      await redis.during(() => alice.post(`/v1/models/${hot}/predict`, { instances: pixels() })),
      hot,
    );
    assert.ok(!again.some((c) => c.startsWith('get ')), `alice's model was reloaded: ${again}`);
    // Alice loading her other model does read it (and takes the one cache place): the check above can fail.
    const load = costOf(
      await redis.during(() => alice.post(`/v1/models/${cold}/predict`, { instances: pixels() })),
      cold,
    );
    assert.ok(
      load.some((c) => c.startsWith('get ')),
      `a load reads the metadata: ${load}`,
    );
    // Repeated by the owner, the index is not asked again.
    const repeat = costOf(
      await redis.during(() => alice.post(`/v1/models/${cold}/predict`, { instances: pixels() })),
      cold,
    );
    assert.deepEqual(repeat, []);
    assert.equal((await admin.post(`/v1/models/${cold}/predict`, { instances: pixels() })).status, 200);
  });

  test("a dataset's routes: another tenant's id never reads its metadata, and delete removes nothing", async () => {
    for (const [what, call] of [
      ['GET dataset', (id: string) => bob.get(`/v1/datasets/${id}`)],
      ['DELETE dataset', (id: string) => bob.delete(`/v1/datasets/${id}`)],
    ] as const) {
      const cost = await sameAsMissing(call, datasetId, what);
      assert.ok(!cost.some((c) => c.startsWith('get ')), `${what} read the metadata: ${cost}`);
    }
    assert.equal((await alice.get(`/v1/datasets/${datasetId}`)).body.rows, 40);
  });

  test('the job store reads a large record only for a tenant that may see it', async () => {
    const prefix = `test-${randomUUID().slice(0, 8)}`;
    const store = new JobStore(new Redis(REDIS_URL), prefix);
    try {
      const big = { data: { x: Array.from({ length: 200_000 }, (_, i) => i % 97) } };
      const created = await store.create({ tenant: 'alice', request: big, epochs: 1, summary: undefined });
      assert.notEqual(created, 'exists');
      const { record } = created as Exclude<typeof created, 'exists'>;
      let found: unknown = 'unset';
      const cost = costOf(await redis.during(async () => (found = await store.getFor(record.id, BOB_T))), record.id);
      assert.equal(found, undefined);
      assert.deepEqual(cost, [`hmget ${store.keys.job('<id>')} id tenant`]);
      assert.deepEqual((await store.getFor(record.id, ALICE_T))?.request, big);
      assert.deepEqual((await store.getFor(record.id, ADMIN_T))?.request, big);
      let lightRecord: Awaited<ReturnType<JobStore['getFor']>>;
      const light = costOf(
        await redis.during(async () => (lightRecord = await store.getFor(record.id, ALICE_T, false))),
        record.id,
      );
      assert.equal(lightRecord!.request, undefined);
      assert.equal(lightRecord!.tenant, 'alice');
      assert.ok(!light.some((c) => c.includes('request') || c.startsWith('hgetall')), `without the request: ${light}`);
      assert.equal(await store.getFor(randomUUID(), ADMIN_T), undefined);
      await store.remove(record.id);
    } finally {
      store.redis.disconnect();
      await deleteKeys(REDIS_URL, prefix); // remove() leaves the set of tenants with jobs, as it should
    }
  });

  test('the owned index answers a tenant from its own index, an admin from the metadata', async () => {
    const prefix = `test-${randomUUID().slice(0, 8)}`;
    const connection = new Redis(REDIS_URL);
    const index = new OwnedIndex<{ id: string; tenant: string; bytes: number; note: string }>(connection, {
      meta: (id) => `${prefix}:thing:${id}`,
      all: `${prefix}:things`,
      tenantPrefix: `${prefix}:tenant:`,
      kind: 'models',
    });
    try {
      const id = randomUUID();
      await index.register({ id, tenant: 'alice', bytes: 10, note: 'x'.repeat(100_000) });
      assert.equal(await index.getFor(id, BOB_T), undefined);
      assert.equal(await index.visibleTo(id, BOB_T), false);
      assert.equal((await index.getFor(id, ALICE_T))?.note.length, 100_000);
      assert.equal(await index.visibleTo(id, ALICE_T), true);
      assert.equal((await index.getFor(id, ADMIN_T))?.tenant, 'alice');
      assert.equal(await index.visibleTo(id, ADMIN_T), true);
      assert.equal(await index.visibleTo(randomUUID(), ADMIN_T), false);
      const cost = costOf(await redis.during(() => index.getFor(id, BOB_T)), id);
      assert.deepEqual(cost, [`zscore ${prefix}:tenant:bob:models <id>`]);
      await index.unregister(id);
      assert.equal(await index.getFor(id, ALICE_T), undefined);
    } finally {
      const keys = await connection.keys(`${prefix}:*`);
      if (keys.length > 0) await connection.del(...keys);
      connection.disconnect();
    }
  });

  test('a capture holds what ran during its step: nothing awaited just before it, all of it, nothing after it', async () => {
    // The cost assertions above stand on this. A large write's MONITOR line is still on its way
    // when its answer is in: a capture started then must not hold it.
    const key = `test-${randomUUID().slice(0, 8)}:monitor-capture`;
    const connection = new Redis(REDIS_URL);
    try {
      for (let round = 0; round < 10; round++) {
        await connection.set(key, String(round % 10).repeat(500_000));
        assert.deepEqual(
          costOf(await redis.during(() => connection.strlen(key)), key),
          ['strlen <id>'],
          `round ${round}`,
        );
      }
      const many = costOf(
        await redis.during(() => Promise.all(Array.from({ length: 50 }, (_, i) => connection.getrange(key, i, i)))),
        key,
      );
      assert.deepEqual(
        many,
        Array.from({ length: 50 }, (_, i) => `getrange <id> ${i} ${i}`),
        'every command of the step, in order',
      );
      const step = redis.during(() => connection.strlen(key));
      await step;
      await connection.del(key);
      assert.deepEqual(costOf(await step, key), ['strlen <id>'], 'a command after the step is not in it');
    } finally {
      await connection.del(key);
      connection.disconnect();
    }
  });
});

describe('failed authentication is limited per client address', () => {
  const apps: App[] = [];
  let config: Awaited<ReturnType<typeof testConfig>>;
  before(async () => {
    config = await testConfig({ API_KEYS: KEYS, AUTH_FAILURES_PER_MINUTE: '5' });
  });
  after(async () => {
    for (const app of apps) await app.close();
    await cleanup(config);
  });
  const open = async (overrides: Partial<typeof config> = {}) => {
    const app = await buildApp({ ...config, ...overrides }, { logger: false });
    apps.push(app);
    return app;
  };
  const call = (app: App, address: string, key?: string) =>
    app.inject({
      method: 'GET',
      url: '/v1/models',
      remoteAddress: address,
      headers: key ? { authorization: `Bearer ${key}` } : {},
    });

  test('over the limit, an address gets 429 with Retry-After for any key, right or wrong; tenants already at work there go on', async () => {
    const app = await open();
    const address = '10.0.0.1';
    assert.equal((await call(app, address, ALICE)).statusCode, 200);
    for (let i = 0; i < 5; i++)
      assert.equal((await call(app, address, `wrong-key-${i}-0123456789abcdef`)).statusCode, 401);
    const refused = await call(app, address, 'wrong-key-x-0123456789abcdef');
    assert.equal(refused.statusCode, 429);
    assert.match(refused.headers['content-type'] as string, /application\/problem\+json/);
    assert.equal(refused.json().code, 'too_many_auth_failures');
    assert.match(refused.json().detail, /AUTH_FAILURES_PER_MINUTE/);
    const retryAfter = Number(refused.headers['retry-after']);
    assert.ok(retryAfter >= 1 && retryAfter <= 60, `Retry-After ${retryAfter}`);
    assert.equal((await call(app, address)).statusCode, 429, 'no key at all');
    // Bob's right key from this address answers exactly as a wrong one: guessing learns nothing.
    const right = await call(app, address, BOB);
    assert.equal(right.statusCode, 429);
    assert.equal(right.json().code, 'too_many_auth_failures');
    // Alice authenticated here before the block: a guesser beside her does not lock her out.
    assert.equal((await call(app, address, ALICE)).statusCode, 200);
    // Other addresses are not concerned.
    assert.equal((await call(app, '10.0.0.2', 'wrong-key-y-0123456789abcdef')).statusCode, 401);
    assert.equal((await call(app, '10.0.0.2', BOB)).statusCode, 200);
  });

  test('the count is shared by every API process, in Redis, and ends with its minute', async () => {
    const [one, two] = [await open(), await open()];
    const address = '10.0.1.1';
    for (let i = 0; i < 5; i++)
      assert.equal((await call(i % 2 ? one : two, address, `wrong-${i}-0123456789abcdef`)).statusCode, 401);
    // The other process has not seen this address fail since: its first failure finds the shared count over.
    assert.equal((await call(one, address, 'wrong-5-0123456789abcdef')).statusCode, 429);
    assert.equal((await call(two, address, 'wrong-6-0123456789abcdef')).statusCode, 429);
    const redis = new Redis(REDIS_URL);
    try {
      const ttl = await redis.pttl(`${config.REDIS_PREFIX}:authfail:${address}`);
      assert.ok(ttl > 0 && ttl <= 60_000, `the count expires with its window: ${ttl}`);
    } finally {
      redis.disconnect();
    }
  });

  test('a process forgets a block when its window ends; 0 turns the limit off', async () => {
    const redis = new Redis(REDIS_URL);
    let clock = 1_000_000;
    const failures = new AuthFailures(redis, `${config.REDIS_PREFIX}:authfail-unit:`, 2, () => clock);
    try {
      assert.equal(await failures.failed('10.0.2.1'), 0);
      assert.equal(await failures.failed('10.0.2.1'), 0);
      const blocked = await failures.failed('10.0.2.1');
      assert.ok(blocked >= 59 && blocked <= 60, `blocked for ${blocked} s`);
      assert.equal(failures.blockedFor('10.0.2.1'), blocked);
      assert.equal(failures.blockedFor('10.0.2.2'), 0);
      clock += 61_000;
      assert.equal(failures.blockedFor('10.0.2.1'), 0);
    } finally {
      redis.disconnect();
    }
    const unlimited = await open({ AUTH_FAILURES_PER_MINUTE: 0 });
    for (let i = 0; i < 20; i++)
      assert.equal((await call(unlimited, '10.0.3.1', `wrong-${i}-0123456789abcdef`)).statusCode, 401);
  });

  test('with Redis away a failure is still a 401, answered at once', async () => {
    const away = new Redis('redis://127.0.0.1:1', {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    away.on('error', () => undefined);
    const failures = new AuthFailures(away, 'x:', 1);
    await assert.rejects(failures.failed('10.0.4.1'));
    assert.equal(failures.blockedFor('10.0.4.1'), 0);
    away.disconnect();
  });
});

describe('the rate limit refuses nobody under it, whatever the pace, across API processes', () => {
  const prefix = `test-${randomUUID().slice(0, 8)}:ratelimit:`;
  const connections: Redis[] = [];
  let clock = Date.now();
  /** One API process's store, on its own connection, on a clock the test moves. */
  const processStore = (leaseMs?: number) => {
    const redis = new Redis(REDIS_URL);
    connections.push(redis);
    const Store = sharedRateStore(redis, prefix, { now: () => clock, leaseMs });
    const store = new Store();
    return (key: string, max: number) =>
      new Promise<number>((resolve, reject) =>
        store.incr(key, (err, result) => (err ? reject(err) : resolve(result!.current)), 60_000, max),
      );
  };
  const counted = (key: string) => connections[0].get(`${prefix}${key}`).then(Number);
  after(async () => {
    const keys = (await connections[0]?.keys(`${prefix}*`)) ?? [];
    if (keys.length > 0) await connections[0].del(...keys);
    for (const c of connections) c.disconnect();
  });

  test('one request a second on one process: all of the limit, then a refusal', async () => {
    const a = processStore();
    const allowed = [];
    for (let i = 0; i < 201; i++) {
      allowed.push((await a('sparse-one', 200)) <= 200);
      clock += 1_000;
    }
    assert.equal(allowed.indexOf(false), 200, 'the 201st is the first refused');
  });

  test('one request a second spread over three processes: all of the limit, then a refusal', async () => {
    const stores = [processStore(), processStore(), processStore()];
    const allowed = [];
    for (let i = 0; i < 61; i++) {
      allowed.push((await stores[(i * 7) % 3]('sparse-three', 60)) <= 60);
      clock += 1_000;
    }
    assert.equal(allowed.indexOf(false), 60);
    assert.equal(
      await counted('sparse-three'),
      60,
      'each request let through took one count, the refused one none: nothing was held back',
    );
  });

  test('bursts on one process with pauses between: all of the limit', async () => {
    const a = processStore();
    let allowed = 0;
    for (let burst = 0; burst < 6; burst++) {
      const answers = await Promise.all(Array.from({ length: 40 }, () => a('bursty-one', 200)));
      allowed += answers.filter((c) => c <= 200).length;
      clock += 5_000;
    }
    assert.equal(allowed, 200);
  });

  test('bursts alternating between processes, each quiet after its burst: all of the limit', async () => {
    const stores = [processStore(20), processStore(20)];
    let allowed = 0;
    for (let burst = 0; burst < 8; burst++) {
      const answers = await Promise.all(Array.from({ length: 30 }, () => stores[burst % 2]('bursty-two', 200)));
      allowed += answers.filter((c) => c <= 200).length;
      // Its lease ends: what it did not use goes back (on its own timer; this process sends nothing more).
      const expected = allowed;
      await until(async () => (await counted('bursty-two')) === expected, `the count to come back to ${expected}`);
      clock += 5_000;
    }
    assert.equal(allowed, 200);
  });

  test('bursts on three processes at once never let more than the limit through, and the rest is not lost', async () => {
    const stores = [processStore(20), processStore(20), processStore(20)];
    const answers = await Promise.all(stores.flatMap((s) => Array.from({ length: 60 }, () => s('together', 150))));
    let allowed = answers.filter((c) => c <= 150).length;
    assert.ok(allowed <= 150, `${allowed} let through`);
    // Counts held by the other processes come back: the limit is reached exactly, never passed.
    await until(async () => (await counted('together')) === allowed, 'every unused count to come back');
    clock += 1_000; // a process that found the window full asks Redis again
    for (let i = 0; i < 200 && allowed < 150; i++) if ((await stores[i % 3]('together', 150)) <= 150) allowed++;
    assert.equal(allowed, 150);
    assert.ok((await stores[0]('together', 150)) > 150);
  });

  test('a count given back never lands in a later window', async () => {
    processStore(); // defines the command on a connection of its own
    type Answer = [number, number, number, number];
    const rate = connections.at(-1) as Redis & {
      rateCount(
        key: string,
        take: number,
        windowMs: number,
        giveBack: number,
        windowEnd: number,
        max: number,
      ): Promise<Answer>;
    };
    const key = `${prefix}windows`;
    const [, , end] = await rate.rateCount(key, 10, 60_000, 0, 0, 100);
    assert.equal((await rate.rateCount(key, 1, 60_000, 4, end, 100))[0], 7, 'same window: 10 - 4 + 1');
    assert.equal(
      (await rate.rateCount(key, 1, 60_000, 4, end - 60_000, 100))[0],
      8,
      'an earlier window: nothing given back',
    );
    assert.deepEqual(
      [await rate.rateCount(key, 5, 60_000, 0, 0, 10)].map(([count, , , taken]) => [count, taken]),
      [[10, 2]],
      'never past the limit',
    );
    assert.deepEqual(
      [await rate.rateCount(key, 5, 60_000, 0, 0, 10)].map(([count, , , taken]) => [count, taken]),
      [[10, 0]],
      'a refusal takes nothing',
    );
    assert.equal((await rate.rateCount(`${prefix}gone`, 0, 60_000, 4, end, 100))[0], 0, 'no window: nothing created');
    assert.equal(await rate.exists(`${prefix}gone`), 0);
  });

  test('two API instances on one Redis: the limit is shared and answered with 429 and Retry-After', async () => {
    const config = await testConfig({ RATE_LIMIT_PER_MINUTE: '20' });
    const apps = [await buildApp(config, { logger: false }), await buildApp(config, { logger: false })];
    try {
      for (let i = 0; i < 20; i++)
        assert.equal(
          (await apps[i % 2].inject({ method: 'GET', url: '/v1/models' })).statusCode,
          200,
          `request ${i + 1}`,
        );
      const refused = await apps[0].inject({ method: 'GET', url: '/v1/models' });
      assert.equal(refused.statusCode, 429);
      assert.equal(refused.json().code, 'rate_limited');
      assert.ok(Number(refused.headers['retry-after']) >= 1);
    } finally {
      for (const app of apps) await app.close();
      await cleanup(config);
    }
  });
});

/**
 * A TCP proxy in front of the shared Redis that can black-hole (connections stay open, nothing
 * passes: a partition) or cut (every connection reset, new ones dropped: Redis gone).
 */
function redisProxy(target = new URL(REDIS_URL)) {
  let mode: 'pass' | 'blackhole' | 'cut' = 'pass';
  const sockets = new Set<net.Socket>();
  const track = (s: net.Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => undefined);
  };
  const server = net.createServer((client) => {
    track(client);
    if (mode === 'cut') return void client.destroy();
    if (mode === 'blackhole') return;
    const upstream = net.connect(Number(target.port || 6379), target.hostname);
    track(upstream);
    client.on('data', (chunk) => mode === 'pass' && upstream.write(chunk));
    upstream.on('data', (chunk) => mode === 'pass' && client.write(chunk));
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  const dropAll = () => {
    for (const s of sockets) s.destroy();
  };
  return {
    async listen() {
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      return `redis://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
    },
    blackhole: () => {
      mode = 'blackhole';
    },
    cut: () => {
      mode = 'cut';
      dropAll();
    },
    /** Back to normal; connections held in a black hole are reset, as when a partition heals. */
    restore: () => {
      mode = 'pass';
      dropAll();
    },
    async close() {
      dropAll();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

describe('Redis outages: every route answers 503 with Retry-After in time, then recovers', () => {
  const proxy = redisProxy();
  let service: TestService;
  let alice: ReturnType<typeof apiAs>;
  let jobId: string;
  before(async () => {
    const url = await proxy.listen();
    service = await startService({
      worker: false,
      config: await testConfig({ REDIS_URL: url, API_KEYS: KEYS, AUTH_FAILURES_PER_MINUTE: '3' }),
    });
    alice = apiAs(service.url, ALICE);
    const submitted = await alice.post('/v1/jobs', smallMnistJob());
    assert.equal(submitted.status, 202, JSON.stringify(submitted.body));
    jobId = submitted.body.id;
  });
  after(async () => {
    proxy.restore();
    await service.close();
    await proxy.close();
  });

  /** Every request must be answered before the client's own 5 s abort. */
  const ask = async (method: string, route: string, body?: unknown, key = ALICE) => {
    const response = await fetch(`${service.url}${route}`, {
      method,
      headers: {
        authorization: `Bearer ${key}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(5_000),
    });
    return {
      status: response.status,
      retryAfter: response.headers.get('retry-after'),
      body: (await response.json().catch(() => null)) as any,
    };
  };

  async function allUnavailable(how: string) {
    const requests: [string, string, unknown?][] = [
      ['POST', '/v1/jobs', smallMnistJob()],
      ['GET', `/v1/jobs/${jobId}`],
      ['GET', '/v1/jobs'],
      ['POST', `/v1/jobs/${jobId}/cancel`, {}],
      ['GET', `/v1/jobs/${jobId}/events`],
      ['GET', `/v1/models/${randomUUID()}`],
      ['POST', `/v1/models/${randomUUID()}/predict`, { instances: pixels() }],
      ['GET', `/v1/datasets/${randomUUID()}`],
      ['GET', '/v1/datasets'],
    ];
    for (const [method, route, body] of requests) {
      const answer = await ask(method, route, body);
      assert.equal(answer.status, 503, `${how}: ${method} ${route}: ${answer.status} ${JSON.stringify(answer.body)}`);
      assert.equal(answer.body.code, 'unavailable', `${how}: ${method} ${route}`);
      assert.ok(Number(answer.retryAfter) >= 1, `${how}: ${method} ${route} Retry-After ${answer.retryAfter}`);
    }
    assert.equal((await ask('GET', '/readyz')).status, 503);
    // A wrong key: its failure cannot be counted, and the 401 stands.
    assert.equal((await ask('GET', '/v1/jobs', undefined, 'wrong-key-0123456789abcdef')).status, 401);
  }

  async function recovers() {
    proxy.restore();
    await until(async () => (await ask('GET', '/readyz')).status === 200, 'readiness', 20_000);
    await until(async () => (await ask('GET', `/v1/jobs/${jobId}`)).status === 200, 'the job to be readable', 20_000);
    assert.equal((await ask('GET', `/v1/jobs/${jobId}`)).body.status, 'queued');
  }

  test('a partition (connections open, nothing answers)', async () => {
    proxy.blackhole();
    await allUnavailable('partition');
    await recovers();
  });

  test('Redis gone (connections reset and refused)', async () => {
    proxy.cut();
    await allUnavailable('gone');
    await recovers();
    const submitted = await ask('POST', '/v1/jobs', smallMnistJob());
    assert.equal(submitted.status, 202, JSON.stringify(submitted.body));
  });
});

describe('checkpoint leftovers of dead writers are cleared', () => {
  let root: string;
  let store: CheckpointStore;
  const job = () => randomUUID();
  const files = (id: string) =>
    readdir(path.join(root, 'checkpoints', id)).then(
      (n) => n.sort(),
      () => [],
    );
  /** What a writer leaves in a job's folder: a manifest or (killed before its manifest) a weights object. */
  const plant = async (id: string, file: string, body = 'half') => {
    await mkdir(path.join(root, 'checkpoints', id), { recursive: true });
    await writeFile(path.join(root, 'checkpoints', id, file), body);
  };
  before(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'tts-checkpoints-'));
    store = new CheckpointStore(new FileObjectStore(root));
  });
  after(() => rm(root, { recursive: true, force: true }));

  test("a resumed job's unreferenced weights go; the ones its manifest names stay", async () => {
    const [a, b, legacy] = [job(), job(), job()];
    await plant(a, 'checkpoint.json', JSON.stringify({ epoch: 1, history: {}, weights: 'weights-kept.bin' }));
    await plant(a, 'weights-kept.bin');
    await plant(a, 'weights-killed-save.bin');
    await plant(b, 'weights-other-job.bin');
    // A checkpoint written before manifests named their weights.
    await plant(legacy, 'checkpoint.json', JSON.stringify({ epoch: 1, history: {} }));
    await plant(legacy, 'weights.bin');
    await store.recover(a);
    await store.recover(legacy);
    assert.deepEqual(await files(a), ['checkpoint.json', 'weights-kept.bin']);
    assert.deepEqual(await files(b), ['weights-other-job.bin'], "another job's writer is left alone");
    assert.deepEqual(await files(legacy), ['checkpoint.json', 'weights.bin']);
    for (const id of [a, b, legacy]) await store.remove(id);
  });

  test("a job's end removes its checkpoint, its inline data and everything its writers left", async () => {
    const [a, b] = [job(), job()];
    await plant(a, 'checkpoint.json');
    await plant(a, 'weights-x.bin');
    await store.saveInline(a, '{"x":[[1]]}');
    await plant(b, 'checkpoint.json');
    await store.remove(a);
    assert.deepEqual(
      (await readdir(path.join(root, 'checkpoints'))).filter((n) => n.includes(a)),
      [],
    );
    assert.deepEqual(await files(b), ['checkpoint.json']);
    await store.remove(b);
  });

  test('the sweep removes old checkpoints of jobs that ended, and nothing else', async () => {
    const [fresh, ended, running] = [job(), job(), job()];
    const old = new Date(Date.now() - 2 * 3600_000);
    for (const id of [ended, running]) {
      await plant(id, 'weights-a.bin');
      await utimes(path.join(root, 'checkpoints', id, 'weights-a.bin'), old, old);
    }
    await plant(fresh, 'weights-b.bin');
    const removed = await store.sweep(3600_000, async (id) => id !== running);
    assert.equal(removed, 1);
    assert.deepEqual((await readdir(path.join(root, 'checkpoints'))).sort(), [fresh, running].sort());
    await store.remove(fresh);
    await store.remove(running);
  });

  test('a job resumed after its writer died leaves no temp directory behind, nor a checkpoint', async () => {
    const service = await startService();
    try {
      const api = apiAs(service.url);
      // The worker (one job at a time) is busy with a first job while the second waits.
      const first = await api.post('/v1/jobs', slowJob(2));
      const submitted = await api.post('/v1/jobs', smallMnistJob());
      assert.equal(submitted.status, 202);
      const id = submitted.body.id;
      // What a worker killed (kill -9) in the middle of saving this job's checkpoint leaves.
      const leftover = path.join(service.config.DATA_DIR, 'checkpoints', id);
      await mkdir(leftover, { recursive: true });
      await writeFile(path.join(leftover, `weights-${randomUUID()}.bin`), 'half a checkpoint');
      assert.equal(
        (await api.get(`/v1/jobs/${id}`)).body.status,
        'queued',
        'the leftover is there before the job runs',
      );
      assert.equal((await api.waitFor(first.body.id)).status, 'completed');
      const done = await api.waitFor(id);
      assert.equal(done.status, 'completed', JSON.stringify(done.error));
      // The record says completed before the worker clears the checkpoint; BullMQ's job completes after.
      await workerFinished(service, id);
      const left = await readdir(path.join(service.config.DATA_DIR, 'checkpoints')).catch(() => [] as string[]);
      assert.deepEqual(
        left.filter((n) => n.includes(id)),
        [],
      );
    } finally {
      await service.close();
    }
  });

  test('cancelling a queued job that has a checkpoint (from a crashed attempt) removes it', async () => {
    const service = await startService({ worker: false });
    try {
      const api = apiAs(service.url);
      const submitted = await api.post('/v1/jobs', smallMnistJob());
      const id = submitted.body.id;
      const checkpoint = path.join(service.config.DATA_DIR, 'checkpoints', id);
      await mkdir(checkpoint, { recursive: true });
      await writeFile(path.join(checkpoint, 'checkpoint.json'), '{}');
      await writeFile(path.join(checkpoint, `weights-${randomUUID()}.bin`), 'weights');
      const cancelled = await api.post(`/v1/jobs/${id}/cancel`, {});
      assert.equal(cancelled.status, 200, JSON.stringify(cancelled.body));
      const left = await readdir(path.join(service.config.DATA_DIR, 'checkpoints'));
      assert.deepEqual(
        left.filter((n) => n.includes(id)),
        [],
      );
    } finally {
      await service.close();
    }
  });
});
