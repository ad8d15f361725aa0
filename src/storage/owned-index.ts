import type { Redis, RedisKey, Result } from 'ioredis';
import { LOCAL_TENANT, type Tenant } from '../tenant.ts';
import { defineScript } from './redis-scripts.ts';

declare module 'ioredis' {
  interface RedisCommander<Context> {
    /** owned-for-tenant.lua */
    ownedForTenant(meta: RedisKey, tenantIndex: RedisKey, id: string): Result<string | null, Context>;
    /** owned-register.lua */
    ownedRegister(
      meta: RedisKey,
      all: RedisKey,
      tenantIndex: RedisKey,
      usage: RedisKey,
      id: string,
      json: string,
      bytes: string,
      maxBytes: string,
    ): Result<number, Context>;
    /** owned-unregister.lua */
    ownedUnregister(
      meta: RedisKey,
      all: RedisKey,
      holds: RedisKey,
      id: string,
      tenantPrefix: string,
      legacyTenant: string,
      kind: string,
    ): Result<string | string[] | null, Context>;
  }
}

/** What every stored resource's metadata carries for the index. */
export interface Owned {
  id: string;
  tenant?: string;
  bytes: number;
}

export interface OwnedIndexKeys {
  meta: (id: string) => string;
  all: string;
  tenantPrefix: string;
  /** The tenant index's name after `<tenantPrefix><tenant>:` ("models", "datasets"). */
  kind: 'models' | 'datasets';
  /** The set of what holds a resource (see HeldError); default `<meta>:holds`. */
  holds?: (id: string) => string;
}

/** A resource that something holds (a registry version points at the model, a job fine-tunes it) is not unregistered. */
export class HeldError extends Error {
  constructor(
    readonly id: string,
    /** Up to 10 members of the resource's holds set. */
    readonly holders: string[],
  ) {
    super(`${id} is held by ${holders.join(', ')}`);
    this.name = 'HeldError';
  }
}

/**
 * The Redis side of a store of owned resources (models, datasets): metadata by id, a global
 * and a per-tenant index (score 0, UUIDv7 members: lexicographic order is creation order),
 * and the tenant's stored bytes, kept in step atomically.
 */
export class OwnedIndex<Meta extends Owned> {
  constructor(
    private readonly redis: Redis,
    private readonly keys: OwnedIndexKeys,
  ) {
    defineScript(redis, 'ownedForTenant', new URL('./owned-for-tenant.lua', import.meta.url), 2);
    defineScript(redis, 'ownedRegister', new URL('./owned-register.lua', import.meta.url), 4);
    defineScript(redis, 'ownedUnregister', new URL('./owned-unregister.lua', import.meta.url), 3);
  }

  private tenantIndex = (tenant: string) => `${this.keys.tenantPrefix}${tenant}:${this.keys.kind}`;
  usageKey = (tenant: string) => `${this.keys.tenantPrefix}${tenant}:usage`;

  /** False when `maxBytes` (0: no limit) would be exceeded; nothing is written then. */
  async register(meta: Meta, maxBytes = 0): Promise<boolean> {
    const tenant = meta.tenant ?? LOCAL_TENANT.id;
    const done = await this.redis.ownedRegister(
      this.keys.meta(meta.id),
      this.keys.all,
      this.tenantIndex(tenant),
      this.usageKey(tenant),
      meta.id,
      JSON.stringify(meta),
      String(meta.bytes),
      String(maxBytes),
    );
    return done === 1;
  }

  /** The metadata removed, or undefined when there was none; a HeldError (nothing removed) while something holds it. */
  async unregister(id: string): Promise<Meta | undefined> {
    const raw = await this.redis.ownedUnregister(
      this.keys.meta(id),
      this.keys.all,
      this.keys.holds?.(id) ?? `${this.keys.meta(id)}:holds`,
      id,
      this.keys.tenantPrefix,
      LOCAL_TENANT.id,
      this.keys.kind,
    );
    if (Array.isArray(raw)) throw new HeldError(id, raw);
    return raw ? (JSON.parse(raw) as Meta) : undefined;
  }

  async get(id: string): Promise<Meta | undefined> {
    const raw = await this.redis.get(this.keys.meta(id));
    return raw ? (JSON.parse(raw) as Meta) : undefined;
  }

  /**
   * The metadata if `tenant` may see it; undefined for another tenant's as for a missing one.
   * A tenant's own index is asked first (owned-for-tenant.lua), so both cost the same.
   */
  async getFor(id: string, tenant: Tenant): Promise<Meta | undefined> {
    if (tenant.admin) return this.get(id);
    const raw = await this.redis.ownedForTenant(this.keys.meta(id), this.tenantIndex(tenant.id), id);
    return raw ? (JSON.parse(raw) as Meta) : undefined;
  }

  /** Whether `tenant` owns the id (admins: whether it exists); one small index read, nothing else. */
  async visibleTo(id: string, tenant: Tenant): Promise<boolean> {
    if (tenant.admin) return (await this.redis.exists(this.keys.meta(id))) === 1;
    return (await this.redis.zscore(this.tenantIndex(tenant.id), id)) !== null;
  }

  /**
   * Newest first; `cursor` is the last id of the previous page; `tenant` limits it to one
   * tenant's. With `maxBytes`, the page stops before the item whose stored metadata would take
   * it over that many bytes (sizes are asked first, so nothing beyond is read or parsed); it
   * always holds one item, and `nextCursor` goes on after the last.
   */
  async list(opts: {
    tenant?: string;
    limit: number;
    cursor?: string;
    maxBytes?: number;
  }): Promise<{ items: Meta[]; nextCursor: string | null }> {
    const index = opts.tenant ? this.tenantIndex(opts.tenant) : this.keys.all;
    const max = opts.cursor ? `(${opts.cursor}` : '+';
    const ids = await this.redis.zrange(index, max, '-', 'BYLEX', 'REV', 'LIMIT', 0, opts.limit + 1);
    let page = ids.slice(0, opts.limit);
    let more = ids.length > opts.limit;
    if (opts.maxBytes !== undefined && page.length > 1) {
      const sizes = await Promise.all(page.map((id) => this.redis.strlen(this.keys.meta(id))));
      let total = sizes[0];
      let fit = 1;
      while (fit < page.length && total + sizes[fit] <= opts.maxBytes) total += sizes[fit++];
      if (fit < page.length) [page, more] = [page.slice(0, fit), true];
    }
    const raws = page.length > 0 ? await this.redis.mget(page.map((id) => this.keys.meta(id))) : [];
    const items = raws.filter((r): r is string => r !== null).map((r) => JSON.parse(r) as Meta);
    return { items, nextCursor: more ? page[page.length - 1] : null };
  }

  /** Bytes a tenant stores in this and every other OwnedIndex (they share the usage hash). */
  async usage(tenant: string): Promise<number> {
    return Number((await this.redis.hget(this.usageKey(tenant), 'bytes')) ?? 0);
  }
}
