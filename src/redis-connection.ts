import { Redis, type RedisOptions } from 'ioredis';

/** The settings that say how to reach Redis (a structural slice of Config, so this stays a leaf module). */
export interface RedisConnectionConfig {
  REDIS_URL: string;
  REDIS_SENTINELS: string;
  REDIS_SENTINEL_NAME: string;
}

/** Sentinels' default port, for an entry of REDIS_SENTINELS that names none. */
const SENTINEL_PORT = 26379;

/** `host:port,[v6]:port,...` as ioredis's sentinel list; empty means no sentinels. */
export function parseSentinels(list: string): { host: string; port: number }[] {
  return list
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '')
    .map((entry) => {
      const { hostname, port } = new URL(`redis://${entry}`);
      return { host: hostname.replace(/^\[|\]$/g, ''), port: port === '' ? SENTINEL_PORT : Number(port) };
    });
}

/**
 * A Redis connection with `options` (timeouts, retries), to REDIS_URL or, when REDIS_SENTINELS
 * is set, to whichever server the sentinels name as the primary of REDIS_SENTINEL_NAME: ioredis
 * asks them again after a failover. REDIS_URL then gives only the user, password, database and
 * TLS (`rediss://`) of the Redis servers; its host and port are not used, and the sentinels
 * themselves are reached without a password or TLS.
 */
export function redisConnection(config: RedisConnectionConfig, options: RedisOptions = {}): Redis {
  const sentinels = parseSentinels(config.REDIS_SENTINELS);
  if (sentinels.length === 0) return new Redis(config.REDIS_URL, options);
  const url = new URL(config.REDIS_URL);
  const tls = url.protocol === 'rediss:';
  return new Redis({
    ...options,
    sentinels,
    name: config.REDIS_SENTINEL_NAME,
    username: decodeURIComponent(url.username) || undefined,
    password: decodeURIComponent(url.password) || undefined,
    db: url.pathname.length > 1 ? Number(url.pathname.slice(1)) : 0,
    ...(tls ? { tls: {}, enableTLSForSentinelMode: true } : {}),
  });
}
