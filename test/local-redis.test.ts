import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { ensureLocalRedis, NoRedisError, redisAnswers } from '../src/local-redis.ts';
import { freePort } from './processes.ts';

test('npm start runs a local redis-server (AOF under DATA_DIR) when none answers, and leaves a running one alone', async () => {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'tts-start-'));
  const url = `redis://127.0.0.1:${await freePort()}`;
  try {
    assert.equal(await redisAnswers(url), false);
    const child = await ensureLocalRedis(url, dataDir);
    assert.ok(child, 'started one');
    assert.equal(await redisAnswers(url), true);
    assert.ok((await stat(path.join(dataDir, 'redis'))).isDirectory());
    assert.equal(await ensureLocalRedis(url, dataDir), undefined, 'one already answers');
    child.kill('SIGTERM');
    await once(child, 'exit');
    assert.equal(await redisAnswers(url), false);
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
});

test('without redis-server installed, start-up stops saying how to get Redis', async () => {
  const url = `redis://127.0.0.1:${await freePort()}`;
  const savedPath = process.env.PATH;
  process.env.PATH = '/nonexistent';
  try {
    await assert.rejects(
      ensureLocalRedis(url, tmpdir()),
      (err: Error) => err instanceof NoRedisError && /not installed/.test(err.message) && /REDIS_URL/.test(err.message),
    );
  } finally {
    process.env.PATH = savedPath;
  }
});
