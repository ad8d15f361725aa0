import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';

/** Each script's source, read once per process however many connections define it. */
const sources = new Map<string, string>();

/**
 * Defines the Lua script in `file` (a `.lua` file beside its module: `npm run build` copies
 * it into dist/) as the command `name` on this connection, unless it is defined already.
 * ioredis then sends it by its SHA and loads it on first use, and the command works in
 * pipelines and transactions too. The module that uses a script declares its signature on
 * ioredis's `RedisCommander` (module augmentation), which is what makes `name` a valid one here.
 */
export function defineScript(redis: Redis, name: keyof Redis & string, file: URL, numberOfKeys: number): void {
  if (name in redis) return;
  let lua = sources.get(file.href);
  if (lua === undefined) {
    lua = readFileSync(file, 'utf8');
    sources.set(file.href, lua);
  }
  redis.defineCommand(name, { numberOfKeys, lua });
}
