import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { ConfigError, loadConfig } from '../src/config.ts';

test('every setting has a default', () => {
  const config = loadConfig({});
  assert.equal(config.PORT, 3000);
  assert.equal(config.HOST, '127.0.0.1');
  assert.equal(config.REDIS_URL, 'redis://127.0.0.1:6379');
  assert.equal(config.DATA_DIR, path.resolve('./data'));
  assert.equal(config.WORKER_CONCURRENCY, 1);
  assert.equal(config.TFJS_BACKEND, 'auto');
  assert.equal(config.TFJS_ACCELERATION, 'auto');
  assert.equal(config.LOG_LEVEL, 'info');
});

test('values are read from the environment and converted', () => {
  const config = loadConfig({ PORT: '8080', WORKER_CONCURRENCY: '3', TFJS_BACKEND: 'cpu', LOG_LEVEL: 'debug' });
  assert.equal(config.PORT, 8080);
  assert.equal(config.WORKER_CONCURRENCY, 3);
  assert.equal(config.TFJS_BACKEND, 'cpu');
  assert.equal(loadConfig({ TFJS_ACCELERATION: 'off' }).TFJS_ACCELERATION, 'off');
});

test('a bad value stops start-up naming the variable', () => {
  assert.throws(
    () => loadConfig({ PORT: 'eighty' }),
    (err: Error) => err instanceof ConfigError && /PORT="eighty"/.test(err.message),
  );
  assert.throws(() => loadConfig({ TFJS_BACKEND: 'gpu' }), /TFJS_BACKEND/);
  assert.throws(() => loadConfig({ TFJS_ACCELERATION: 'on' }), /TFJS_ACCELERATION/);
  assert.throws(() => loadConfig({ REDIS_URL: 'localhost:6379' }), /REDIS_URL/);
  assert.throws(() => loadConfig({ WORKER_CONCURRENCY: '0' }), /WORKER_CONCURRENCY/);
});
