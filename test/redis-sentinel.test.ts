import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { loadConfig } from '../src/config.ts';
import { redisAnswers } from '../src/local-redis.ts';
import { parseSentinels, redisConnection } from '../src/redis-connection.ts';
import { freePort, startRedis } from './processes.ts';

const NAME = 'tts-test-primary';

/**
 * A Redis Sentinel of the test's own, watching `primaryPort` under NAME. Debian's redis-server
 * runs as one with `--sentinel` (the redis-sentinel package only adds a service around it).
 */
async function startSentinel(primaryPort: number) {
  const port = await freePort();
  const dir = await mkdtemp(path.join(tmpdir(), 'tts-sentinel-'));
  const file = path.join(dir, 'sentinel.conf'); // sentinels rewrite their config file: it must be writable
  await writeFile(
    file,
    [
      `port ${port}`,
      'bind 127.0.0.1',
      `dir ${dir}`,
      `sentinel monitor ${NAME} 127.0.0.1 ${primaryPort} 1`,
      // A primary silent this long is down, and (quorum 1) this sentinel alone promotes a replica.
      `sentinel down-after-milliseconds ${NAME} 1000`,
      '',
    ].join('\n'),
  );
  const child = spawn('redis-server', [file, '--sentinel'], { stdio: 'ignore' });
  const url = `redis://127.0.0.1:${port}`;
  for (let i = 0; i < 100 && !(await redisAnswers(url)); i++) await new Promise((r) => setTimeout(r, 50));
  if (!(await redisAnswers(url))) throw new Error(`redis sentinel on port ${port} never answered`);
  return {
    port,
    remove: async () => {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await once(child, 'exit');
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** The port of the server a connection talks to, as that server reports it. */
async function serverPort(redis: Redis): Promise<number> {
  return Number(/tcp_port:(\d+)/.exec(await redis.info('server'))![1]);
}

/** Polls `check` until it holds (a condition that another process brings about, not a timer). */
async function until(what: string, check: () => Promise<boolean>, attempts = 600) {
  for (let i = 0; i < attempts; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`never happened: ${what}`);
}

test('REDIS_SENTINELS: host:port lists (spaces, IPv6, default port); a bad one stops start-up', () => {
  assert.deepEqual(parseSentinels(''), []);
  assert.deepEqual(parseSentinels('a.example:26380, 10.0.0.2 ,[::1]:26381'), [
    { host: 'a.example', port: 26380 },
    { host: '10.0.0.2', port: 26379 },
    { host: '::1', port: 26381 },
  ]);
  assert.equal(
    loadConfig({ REDIS_SENTINELS: 'a.example:26380, 10.0.0.2 ,[::1]:26381' }).REDIS_SENTINEL_NAME,
    'mymaster',
  );
  assert.throws(() => loadConfig({ REDIS_SENTINELS: 'redis://a:26379' }), /REDIS_SENTINELS/);
  assert.throws(() => loadConfig({ REDIS_SENTINELS: 'a:26379;b:26379' }), /REDIS_SENTINELS/);
});

test('with sentinels, REDIS_URL gives only user, password, database and TLS', () => {
  const config = {
    REDIS_URL: 'rediss://svc:p%40ss@ignored.example:6390/3',
    REDIS_SENTINELS: 's1:26379,s2:26379',
    REDIS_SENTINEL_NAME: 'prod',
  };
  const redis = redisConnection(config, { lazyConnect: true, maxRetriesPerRequest: null });
  try {
    const { options } = redis;
    assert.deepEqual(options.sentinels, [
      { host: 's1', port: 26379 },
      { host: 's2', port: 26379 },
    ]);
    assert.equal(options.name, 'prod');
    assert.equal(options.username, 'svc');
    assert.equal(options.password, 'p@ss');
    assert.equal(options.db, 3);
    assert.ok(options.tls && options.enableTLSForSentinelMode, 'rediss:// means TLS to the Redis servers');
    assert.equal(options.maxRetriesPerRequest, null, "the caller's options are kept");
    assert.equal(options.sentinelPassword ?? undefined, undefined, 'sentinels are reached without a password');
  } finally {
    redis.disconnect();
  }
  const plain = redisConnection({ ...config, REDIS_SENTINELS: '' }, { lazyConnect: true });
  try {
    assert.ok(!plain.options.sentinels);
    assert.equal(plain.options.host, 'ignored.example', 'without sentinels REDIS_URL is used as it is');
  } finally {
    plain.disconnect();
  }
});

describe('through a real Redis Sentinel', () => {
  let primary: Awaited<ReturnType<typeof startRedis>>;
  let replica: Awaited<ReturnType<typeof startRedis>>;
  let sentinel: Awaited<ReturnType<typeof startSentinel>>;
  let config: { REDIS_URL: string; REDIS_SENTINELS: string; REDIS_SENTINEL_NAME: string };

  before(async () => {
    primary = await startRedis();
    replica = await startRedis();
    // The replica is in sync before the sentinel starts: its first look at the primary then
    // lists the replica, which a failover needs.
    const toReplica = new Redis(replica.url);
    // Full sync at once, not after the default 5 s wait for more replicas to join it.
    const toPrimary = new Redis(primary.url);
    await toPrimary.config('SET', 'repl-diskless-sync-delay', '0');
    toPrimary.disconnect();
    await toReplica.replicaof('127.0.0.1', primary.port);
    await until('the replica is in sync', async () =>
      /master_link_status:up/.test(await toReplica.info('replication')),
    );
    toReplica.disconnect();
    sentinel = await startSentinel(primary.port);
    // Nothing listens on REDIS_URL's port: the connection can only have come through the sentinel.
    config = {
      REDIS_URL: 'redis://127.0.0.1:1/0',
      REDIS_SENTINELS: `127.0.0.1:${sentinel.port}`,
      REDIS_SENTINEL_NAME: NAME,
    };
  });
  after(async () => {
    await sentinel?.remove();
    await replica?.remove();
    await primary?.remove();
  });

  test('SET/GET and a BullMQ job reach the primary the sentinel names', async () => {
    const redis = redisConnection(config, { maxRetriesPerRequest: null });
    const prefix = `test-${randomUUID().slice(0, 8)}`;
    const queue = new Queue('sentinel-check', { connection: redis, prefix });
    const worker = new Worker('sentinel-check', async (job) => job.data.n * 2, { connection: redis, prefix });
    try {
      await redis.set(`${prefix}:k`, 'v');
      assert.equal(await redis.get(`${prefix}:k`), 'v');
      assert.equal(await serverPort(redis), primary.port);

      const done = new Promise<unknown>((resolve, reject) => {
        worker.on('completed', (_job, result) => resolve(result));
        worker.on('failed', (_job, err) => reject(err));
      });
      await queue.add('double', { n: 21 });
      assert.equal(await done, 42);
    } finally {
      await worker.close();
      await queue.close();
      redis.disconnect();
    }
  });

  test('the primary dies: the sentinel promotes the replica and the same connection goes on there', async () => {
    const redis = redisConnection(config, { maxRetriesPerRequest: null });
    // Until the sentinel names the new primary, reconnecting fails (the old one is gone): ioredis reports and retries.
    redis.on('error', () => undefined);
    const toSentinel = new Redis(sentinel.port, '127.0.0.1');
    try {
      await redis.set('before', '1');
      assert.equal(await serverPort(redis), primary.port);
      await redis.call('WAIT', '1', '0'); // the replica has it
      // A replica is a candidate once the sentinel has a link to it and its INFO (flags just `slave`).
      await until('the sentinel can promote the replica', async () => {
        const replicas = (await toSentinel.call('SENTINEL', 'REPLICAS', NAME)) as string[][];
        const fields = Object.fromEntries((replicas[0] ?? []).flatMap((v, i, all) => (i % 2 ? [] : [[v, all[i + 1]]])));
        return (
          fields.flags === 'slave' && fields['master-link-status'] === 'ok' && Number(fields['info-refresh']) < 5_000
        );
      });
      await primary.stop();
      // No retry limit on this connection: the command waits for the reconnection to the promoted replica.
      await redis.set('after', '2');
      assert.equal(await serverPort(redis), replica.port);
      assert.match(await redis.info('replication'), /role:master/);
      assert.equal(await redis.get('before'), '1', 'what was written before the failover is still there');
    } finally {
      redis.disconnect();
      toSentinel.disconnect();
    }
  });
});
