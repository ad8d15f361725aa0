import type { FastifyRateLimitStore } from '@fastify/rate-limit';
import type { Redis, RedisKey, Result } from 'ioredis';
import { defineScript } from '../storage/redis-scripts.ts';

/** At most this many requests are counted ahead in one lease. */
export const MAX_LEASE = 100;
/** A lease ends this long after it was taken; what it did not use goes back to the shared count. */
const LEASE_MS = 1_000;
/** A lease used up before it ended is followed by one this many times larger (up to MAX_LEASE). */
const GROWTH = 10;

type Callback = Parameters<FastifyRateLimitStore['incr']>[1];

/** Counts this process took from the shared count, handed out one per request. */
interface Lease {
  /** The first count of the lease, the one the next request gets, and the last. */
  first: number;
  next: number;
  last: number;
  /** When the lease, and its window, end (on the store's clock). */
  endsAt: number;
  windowEndsAt: number;
  /** When the window ends on Redis's clock: counts go back only into the window they came from. */
  windowEnd: number;
  /** The window's length (ms). */
  window: number;
  /** Redis had no count left: requests are refused here until the lease ends, then Redis is asked again. */
  full: boolean;
  /** A lease being taken from Redis: requests meanwhile wait for it rather than take their own. */
  taking?: Promise<unknown>;
  /** Requests waiting for `taking`: the next lease is at least this large. */
  waiting: number;
  /** Gives the unused counts back when the lease ends, if no request came to take the next one. */
  timer?: NodeJS.Timeout;
}

declare module 'ioredis' {
  interface RedisCommander<Context> {
    /** rate-count.lua */
    rateCount(
      key: RedisKey,
      take: number,
      windowMs: number,
      giveBack: number,
      windowEnd: number,
      max: number,
    ): Result<[number, number, number, number], Context>;
  }
}

export interface RateStoreOptions {
  /** The clock leases are timed by (tests move it on instead of waiting). */
  now?: () => number;
  leaseMs?: number;
}

/**
 * A store for @fastify/rate-limit that keeps each tenant's count in Redis, shared by every
 * API process, without a round trip per request: a process takes a lease of counts at once
 * and hands them out locally. The shared count so never falls behind what was let through,
 * and the limit is never overshot.
 *
 * Counts a lease did not use go back to the shared count when it ends (within LEASE_MS), so
 * they are never lost: a client under its limit is not refused, whatever its pace. A refused
 * request takes no count (the shared count stops at the limit), so counts given back make room
 * again; a process that found the window full refuses locally until its lease time is up. Leases
 * follow demand: the first after a quiet spell is one count (a client sending one request a
 * second takes exactly what it uses); a lease used up before it ends is followed by a larger
 * one, up to MAX_LEASE and never more than a tenth of what is left of the limit. So unused
 * counts exist only during a burst, and only then can another process serving the same
 * tenant at that very moment find the limit reached a little early (by at most a tenth of
 * what was left, until that lease ends: then they can be used).
 *
 * The stock RedisStore's round trip per request cost a fifth to a third of single-instance
 * predict throughput on a 2-core machine (bench/run.ts, predict case).
 */
export function sharedRateStore(
  redis: Redis,
  prefix: string,
  options: RateStoreOptions = {},
): new (
  params?: unknown,
) => FastifyRateLimitStore {
  defineScript(redis, 'rateCount', new URL('./rate-count.lua', import.meta.url), 1);
  const now = options.now ?? Date.now;
  const leaseMs = options.leaseMs ?? LEASE_MS;

  return class SharedRateStore implements FastifyRateLimitStore {
    private readonly leases = new Map<string, Lease>();

    constructor(
      _params?: unknown,
      private readonly keyPrefix = prefix,
    ) {}

    incr(key: string, cb: Callback, timeWindow: number, max: number) {
      const lease = this.leases.get(key);
      const at = now();
      if (lease && !lease.taking && at < lease.endsAt && (lease.next <= lease.last || lease.full)) {
        // A full window refuses with the count after the limit, without asking Redis each time.
        const current = lease.full ? lease.last + 1 : lease.next++;
        return cb(null, { current, ttl: lease.windowEndsAt - at });
      }
      if (lease?.taking) {
        lease.waiting++;
        lease.taking.then(
          () => {
            lease.waiting--;
            this.incr(key, cb, timeWindow, max);
          },
          (err: Error) => {
            lease.waiting--;
            cb(err);
          },
        );
        return;
      }
      this.take(key, timeWindow, max).then(
        (answer) => cb(null, answer),
        (err: Error) => cb(err), // Redis is away: the plugin lets the request through (skipOnError) and the route answers 503
      );
    }

    /**
     * Gives back what the ended lease did not use and takes the next one, in one round trip,
     * with its first count for the request that asked: at once, before requests that waited
     * for the lease can take them all.
     */
    private async take(key: string, timeWindow: number, max: number): Promise<{ current: number; ttl: number }> {
      const at = now();
      const lease: Lease = this.leases.get(key) ?? {
        first: 1,
        next: 1,
        last: 0,
        endsAt: 0,
        windowEndsAt: 0,
        windowEnd: 0,
        window: timeWindow,
        full: false,
        waiting: 0,
      };
      this.leases.set(key, lease);
      clearTimeout(lease.timer);
      const sameWindow = at < lease.windowEndsAt;
      const unused = sameWindow ? Math.max(0, lease.last - lease.next + 1) : 0;
      const handedOut = lease.next - lease.first;
      const usedUpInTime = handedOut > 0 && handedOut === lease.last - lease.first + 1 && at < lease.endsAt;
      const demand = Math.max(usedUpInTime ? handedOut * GROWTH : handedOut, lease.waiting + 1);
      const known = sameWindow ? lease.last - unused : 0;
      const size = Math.min(demand, MAX_LEASE, Math.max(1, Math.floor((max - known) / 10)));
      lease.next = lease.last + 1; // nothing more from the old lease: it is being given back
      const taking = redis.rateCount(
        this.keyPrefix + key,
        size,
        timeWindow,
        unused,
        unused > 0 ? lease.windowEnd : 0,
        max,
      );
      lease.taking = taking;
      try {
        const [counted, ttl, windowEnd, taken] = await taking;
        const end = now();
        const length = Math.min(ttl, leaseMs);
        // Nothing taken: the limit is reached, and this request gets the count after it.
        const first = taken > 0 ? counted - taken + 1 : counted + 1;
        const next = taken > 0 ? first + 1 : first;
        Object.assign(lease, {
          first,
          next,
          last: counted,
          full: taken === 0,
          endsAt: end + length,
          windowEndsAt: end + ttl,
          windowEnd,
          window: timeWindow,
        });
        if (taken > 1)
          lease.timer = setTimeout(() => void this.giveBack(key, lease).catch(() => undefined), length).unref();
        this.forgetEnded(); // keeps this lease: it is still `taking`
        return { current: first, ttl };
      } finally {
        lease.taking = undefined;
      }
    }

    /** A lease's end with no request to take the next one: its unused counts go back now. */
    private async giveBack(key: string, lease: Lease) {
      if (lease.taking || this.leases.get(key) !== lease || now() >= lease.windowEndsAt) return;
      const unused = lease.last - lease.next + 1;
      if (unused <= 0) return;
      // The lease ends here, as if it had been this size: the next one is sized by what was used.
      lease.last -= unused;
      lease.endsAt = Math.min(lease.endsAt, now());
      const giving = redis.rateCount(this.keyPrefix + key, 0, lease.window, unused, lease.windowEnd, 0);
      lease.taking = giving;
      try {
        await giving;
      } finally {
        lease.taking = undefined;
      }
    }

    /** Drops leases whose windows have ended, so quiet tenants cost no memory. */
    private forgetEnded() {
      const at = now();
      for (const [key, lease] of this.leases) {
        if (at >= lease.windowEndsAt && !lease.taking) {
          clearTimeout(lease.timer);
          this.leases.delete(key);
        }
      }
    }

    /** Per-route limits (`config.rateLimit` on a route) count under their own keys. */
    child(routeOptions: Parameters<FastifyRateLimitStore['child']>[0]): FastifyRateLimitStore {
      // At run time the plugin passes its merged options, with the route under `routeInfo`.
      const route =
        (routeOptions as unknown as { routeInfo?: { method?: unknown; url?: string } }).routeInfo ?? routeOptions;
      return new SharedRateStore(undefined, `${this.keyPrefix}${String(route.method)}${route.url}-`);
    }
  };
}
