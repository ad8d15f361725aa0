import type { Redis } from 'ioredis';
import { keys, type Keys } from '../storage/keys.ts';

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
  }

  async requestCancel(jobId: string, keepModel: boolean) {
    await this.redis.hset(this.keys.job(jobId), 'control', 'cancel', 'keepModel', keepModel ? '1' : '0');
  }

  /** Only a running job yields: one its worker deferred (still queued) must not find a stale flag when it starts. */
  async requestYield(jobId: string) {
    await this.redis.eval(
      "if redis.call('HGET', KEYS[1], 'control') ~= 'cancel' and redis.call('HGET', KEYS[1], 'status') == 'running' then redis.call('HSET', KEYS[1], 'control', 'yield') end",
      1,
      this.keys.job(jobId),
    );
  }

  /** Clears a yield once the job is handed back, so the next worker trains it. */
  async clearYield(jobId: string) {
    await this.redis.eval("if redis.call('HGET', KEYS[1], 'control') == 'yield' then redis.call('HDEL', KEYS[1], 'control') end", 1, this.keys.job(jobId));
  }

  async read(jobId: string): Promise<ControlState> {
    const [request, keepModel] = await this.redis.hmget(this.keys.job(jobId), 'control', 'keepModel');
    return { request: (request as ControlRequest | null) ?? null, keepModel: keepModel === '1' };
  }
}
