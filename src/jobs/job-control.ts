import type { Redis, RedisKey, Result } from 'ioredis';
import { keys, type Keys } from '../storage/keys.ts';
import { defineScript } from '../storage/redis-scripts.ts';

declare module 'ioredis' {
  interface RedisCommander<Context> {
    /** request-yield.lua */
    requestYield(job: RedisKey): Result<null, Context>;
    /** clear-yield.lua */
    clearYield(job: RedisKey): Result<null, Context>;
  }
}

/** Requests to a running job from outside its worker: carried through Redis, so any API reaches any worker. */
export type ControlRequest = 'cancel' | 'yield';

export interface ControlState {
  request: ControlRequest | null;
  keepModel: boolean;
}

/**
 * `cancel` comes from a user; `yield` from a worker shutting down (checkpoint, then hand the
 * job back to the queue). A cancel overrides a yield, never the other way round.
 */
export class JobControl {
  private readonly keys: Keys;

  constructor(
    private readonly redis: Redis,
    prefix: string,
  ) {
    this.keys = keys(prefix);
    defineScript(redis, 'requestYield', new URL('./request-yield.lua', import.meta.url), 1);
    defineScript(redis, 'clearYield', new URL('./clear-yield.lua', import.meta.url), 1);
  }

  async requestCancel(jobId: string, keepModel: boolean) {
    await this.redis.hset(this.keys.job(jobId), 'control', 'cancel', 'keepModel', keepModel ? '1' : '0');
  }

  /** Only a running job yields: one its worker deferred (still queued) must not find a stale flag when it starts. */
  async requestYield(jobId: string) {
    await this.redis.requestYield(this.keys.job(jobId));
  }

  /** Clears a yield once the job is handed back, so the next worker trains it. */
  async clearYield(jobId: string) {
    await this.redis.clearYield(this.keys.job(jobId));
  }

  async read(jobId: string): Promise<ControlState> {
    const [request, keepModel] = await this.redis.hmget(this.keys.job(jobId), 'control', 'keepModel');
    return { request: (request as ControlRequest | null) ?? null, keepModel: keepModel === '1' };
  }
}
