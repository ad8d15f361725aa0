import type { Redis } from 'ioredis';
import { LRUCache } from 'lru-cache';

/** Failures are counted per minute. */
const WINDOW_MS = 60_000;
/** How long a tenant that authenticated from an address is remembered there. */
const KNOWN_MS = 10 * 60_000;

/**
 * Failed authentications per client address, counted in Redis so that every API process
 * shares one count. An address that fails more than `limit` times in a minute is blocked until
 * that minute ends: its requests get 429 whatever key they carry, so guessing gets no answer
 * at all, right or wrong. Tenants that authenticated from the address before the block are
 * let through: a guesser behind the same NAT or proxy does not lock out the clients beside it.
 *
 * Each process learns of a block from its own next failure of that address (one Redis round
 * trip per failure, none per success): a block holds everywhere after at most one more
 * attempt per API process.
 */
export class AuthFailures {
  /** Addresses this process knows are blocked, and until when (ms, `now`'s clock). */
  private readonly blocked = new LRUCache<string, number>({ max: 100_000 });
  /** Tenants that authenticated from an address, by address. */
  private readonly known = new LRUCache<string, Set<string>>({ max: 100_000, ttl: KNOWN_MS });

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    readonly limit: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Seconds until `address` may try again (0: not blocked, as far as this process knows). */
  blockedFor(address: string): number {
    const until = this.blocked.get(address);
    if (until === undefined) return 0;
    const left = until - this.now();
    if (left > 0) return Math.ceil(left / 1000);
    this.blocked.delete(address);
    return 0;
  }

  /** Whether `tenant` authenticated from `address` recently (it passes a block of that address). */
  isKnown(address: string, tenant: string): boolean {
    return this.known.get(address)?.has(tenant) ?? false;
  }

  succeeded(address: string, tenant: string) {
    const tenants = this.known.get(address);
    if (!tenants) this.known.set(address, new Set([tenant]));
    else if (!tenants.has(tenant)) tenants.add(tenant);
  }

  /**
   * Counts a failure of `address`; answers the seconds it is now blocked for (0: still under
   * the limit). Throws when Redis does not answer: the caller then answers as if unlimited.
   */
  async failed(address: string): Promise<number> {
    const key = `${this.prefix}${address}`;
    const replies = await this.redis.multi().incr(key).pexpire(key, WINDOW_MS, 'NX').pttl(key).exec();
    if (!replies || replies.some(([err]) => err))
      throw replies?.find(([err]) => err)?.[0] ?? new Error('the failure count was not answered');
    const count = Number(replies[0][1]);
    const ttl = Math.max(1, Number(replies[2][1]));
    if (count <= this.limit) return 0;
    this.blocked.set(address, this.now() + ttl);
    return Math.ceil(ttl / 1000);
  }
}
