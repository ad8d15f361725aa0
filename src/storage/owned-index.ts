import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';
import { LOCAL_TENANT, type Tenant } from '../tenant.ts';

const OWNED_FOR_TENANT = readFileSync(new URL('./owned-for-tenant.lua', import.meta.url), 'utf8');

interface OwnedRedis extends Redis {
  ownedForTenant(meta: string, tenantIndex: string, id: string): Promise<string | null>;
}

/** What every stored resource's metadata carries for the index. */
export interface Owned {
  id: string;
  tenant?: string;
  bytes: number;
}

/**
 * Registers metadata with the global and tenant indexes and adds its bytes to the tenant's
 * usage, replacing (and un-counting) an earlier registration under the same id. With a limit
 * (ARGV[4] > 0), refuses (-1) when the tenant's usage would go over it.
 */
const REGISTER = `
local old = redis.call('GET', KEYS[1])
local oldBytes = old and (cjson.decode(old).bytes or 0) or 0
local used = tonumber(redis.call('HGET', KEYS[4], 'bytes') or '0')
if tonumber(ARGV[4]) > 0 and used - oldBytes + tonumber(ARGV[3]) > tonumber(ARGV[4]) then return -1 end
redis.call('SET', KEYS[1], ARGV[2])
redis.call('ZADD', KEYS[2], 0, ARGV[1])
redis.call('ZADD', KEYS[3], 0, ARGV[1])
redis.call('HINCRBY', KEYS[4], 'bytes', tonumber(ARGV[3]) - oldBytes)
return 1
`;

/** Unregisters metadata and un-counts its bytes from its tenant's usage; returns the metadata, or nil. */
const UNREGISTER = `
local raw = redis.call('GET', KEYS[1])
if not raw then return nil end
local meta = cjson.decode(raw)
local tenant = meta.tenant or ARGV[3]
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', ARGV[2] .. tenant .. ':' .. ARGV[4], ARGV[1])
redis.call('HINCRBY', ARGV[2] .. tenant .. ':usage', 'bytes', -(meta.bytes or 0))
return raw
`;

export interface OwnedIndexKeys {
  meta: (id: string) => string;
  all: string;
  tenantPrefix: string;
  /** The tenant index's name after `<tenantPrefix><tenant>:` ("models", "datasets"). */
  kind: 'models' | 'datasets';
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
    if (!('ownedForTenant' in redis)) redis.defineCommand('ownedForTenant', { numberOfKeys: 2, lua: OWNED_FOR_TENANT });
  }

  private tenantIndex = (tenant: string) => `${this.keys.tenantPrefix}${tenant}:${this.keys.kind}`;
  usageKey = (tenant: string) => `${this.keys.tenantPrefix}${tenant}:usage`;

  /** False when `maxBytes` (0: no limit) would be exceeded; nothing is written then. */
  async register(meta: Meta, maxBytes = 0): Promise<boolean> {
    const tenant = meta.tenant ?? LOCAL_TENANT.id;
    const done = await this.redis.eval(
      REGISTER, 4, this.keys.meta(meta.id), this.keys.all, this.tenantIndex(tenant), this.usageKey(tenant),
      meta.id, JSON.stringify(meta), String(meta.bytes), String(maxBytes),
    );
    return done === 1;
  }

  async unregister(id: string): Promise<Meta | undefined> {
    const raw = (await this.redis.eval(UNREGISTER, 2, this.keys.meta(id), this.keys.all, id, this.keys.tenantPrefix, LOCAL_TENANT.id, this.keys.kind)) as string | null;
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
    const raw = await (this.redis as OwnedRedis).ownedForTenant(this.keys.meta(id), this.tenantIndex(tenant.id), id);
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
  async list(opts: { tenant?: string; limit: number; cursor?: string; maxBytes?: number }): Promise<{ items: Meta[]; nextCursor: string | null }> {
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
