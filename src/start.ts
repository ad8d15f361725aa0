import pino from 'pino';
import { loadConfig } from './config.ts';
import { ensureLocalRedis, NoRedisError } from './local-redis.ts';
import { startApi } from './server.ts';
import { startWorker } from '../workers/worker.ts';

/**
 * `npm start`: the whole service on one machine. The API and one worker share this process
 * (training itself runs in the worker's child processes); a local redis-server is started
 * when none answers and stopped on exit.
 */
const config = loadConfig();
const log = pino({ level: config.LOG_LEVEL });
let redis: Awaited<ReturnType<typeof ensureLocalRedis>>;
try {
  // Sentinels name the Redis to use; a local one is only for a plain REDIS_URL on this machine.
  redis = config.REDIS_SENTINELS === '' ? await ensureLocalRedis(config.REDIS_URL, config.DATA_DIR) : undefined;
  if (redis) log.info({ url: config.REDIS_URL, dir: `${config.DATA_DIR}/redis` }, 'started a local redis-server');
} catch (err) {
  if (!(err instanceof NoRedisError)) throw err;
  log.fatal(err.message);
  process.exit(1);
}
process.once('exit', () => redis?.kill('SIGTERM')); // never leave our redis-server behind
const worker = await startWorker(config, log);
const api = await startApi(config);

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, async () => {
    log.info({ signal }, 'shutting down');
    await api.close();
    await worker.close();
    redis?.kill('SIGTERM');
    process.exit(0);
  });
}
