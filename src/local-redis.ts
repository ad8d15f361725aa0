import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { Redis } from 'ioredis';

/** True when a Redis server answers PING at `url` within a second. */
export async function redisAnswers(url: string): Promise<boolean> {
  const client = new Redis(url, {
    lazyConnect: true,
    connectTimeout: 1_000,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return (await client.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    client.disconnect();
  }
}

export class NoRedisError extends Error {}

/**
 * For `npm start` on a fresh machine: if nothing answers at a local REDIS_URL and
 * `redis-server` is installed, run one (AOF on, data under DATA_DIR/redis) for as long as we
 * run. Returns the child to stop on exit, or undefined when a Redis was already there.
 */
export async function ensureLocalRedis(url: string, dataDir: string): Promise<ChildProcess | undefined> {
  if (await redisAnswers(url)) return undefined;
  const { hostname, port } = new URL(url);
  const local = ['127.0.0.1', 'localhost', '::1', '[::1]'].includes(hostname);
  const installed = spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0;
  if (!local || !installed) {
    throw new NoRedisError(
      `no Redis answers at ${url}${local ? ' and redis-server is not installed' : ''}. ` +
        'Start one (e.g. `apt-get install redis-server`, `brew install redis`, or `docker run -p 6379:6379 redis:7`) ' +
        'or point REDIS_URL at yours.',
    );
  }
  const dir = path.join(dataDir, 'redis');
  await mkdir(dir, { recursive: true });
  const child = spawn(
    'redis-server',
    [
      '--port',
      port || '6379',
      '--bind',
      hostname.replace(/[[\]]/g, ''),
      '--dir',
      dir,
      '--appendonly',
      'yes',
      '--save',
      '',
      '--maxmemory-policy',
      'noeviction',
    ],
    { stdio: 'ignore' },
  );
  for (let i = 0; i < 50; i++) {
    if (child.exitCode !== null) throw new NoRedisError(`redis-server exited with code ${child.exitCode}`);
    if (await redisAnswers(url)) return child;
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill();
  throw new NoRedisError('redis-server did not answer within 5 s');
}
