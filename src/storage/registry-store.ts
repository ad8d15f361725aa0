import type { Redis, RedisKey, Result } from 'ioredis';
import { ALIAS_NAME, REGISTERED_NAME } from '../schemas/registry.ts';
import type { AliasHistoryEntry, RegisteredModelSummary, RegistryVersion } from '../schemas/registry.ts';
import { keys, type Keys } from './keys.ts';
import { defineScript } from './redis-scripts.ts';
import { announceWarm } from './warm-announcements.ts';

declare module 'ioredis' {
  interface RedisCommander<Context> {
    /** registry-add-version.lua */
    registryAddVersion(
      ...args: [
        names: RedisKey,
        meta: RedisKey,
        versions: RedisKey,
        model: RedisKey,
        modelHolds: RedisKey,
        name: string,
        record: string,
        now: string,
        holderPrefix: string,
        maxNames: string,
        maxVersions: string,
      ]
    ): Result<number, Context>;
    /** registry-delete-version.lua */
    registryDeleteVersion(
      ...args: [versions: RedisKey, aliases: RedisKey, modelHolds: RedisKey, version: string, holder: string]
    ): Result<(number | string)[], Context>;
    /** registry-set-alias.lua */
    registrySetAlias(
      ...args: [
        versions: RedisKey,
        aliases: RedisKey,
        history: RedisKey,
        alias: string,
        version: string,
        now: string,
        keep: string,
      ]
    ): Result<number, Context>;
    /** registry-resolve.lua */
    registryResolve(
      ...args: [meta: RedisKey, versions: RedisKey, aliases: RedisKey, by: string, value: string]
    ): Result<string | number, Context>;
  }
}

/** Moves an alias's history keeps: enough to roll back and to audit, bounded whatever a client does. */
export const ALIAS_HISTORY_LENGTH = 100;

/** Which version a name means: its latest, a number, or what an alias points at. */
export type VersionTarget = { latest: true } | { version: number } | { alias: string };

/** What resolving found: the version, or why not (the name is not registered; it has no such version or alias). */
export type Resolved = RegistryVersion | 'no-name' | 'no-version';

const registeredName = new RegExp(REGISTERED_NAME);
const aliasName = new RegExp(ALIAS_NAME);

const holderPrefix = (tenant: string, name: string) => `${tenant}/${name}@`;
/** A registry version as a member of its stored model's holds set: `<tenant>/<name>@<version>`. */
export const holderOf = (tenant: string, name: string, version: number) => `${holderPrefix(tenant, name)}${version}`;

/** The parts of `holderOf`'s string (tenant ids and registered names hold neither '/' nor '@'). */
export function parseHolder(holder: string): { tenant: string; name: string; version: number } {
  const match = /^([^/]+)\/([^@]+)@(\d+)$/.exec(holder);
  if (!match) throw new Error(`not a registry holder: ${holder}`);
  return { tenant: match[1], name: match[2], version: Number(match[3]) };
}

/** How much one tenant may register (0: no limit): TENANT_MAX_REGISTERED_NAMES, TENANT_MAX_VERSIONS_PER_NAME. */
export interface RegistryLimits {
  maxNames: number;
  maxVersionsPerName: number;
}

/** A new version refused because its tenant or its name is at a registry cap (nothing was written). */
export class RegistryQuotaError extends Error {
  constructor(
    /** The setting that caps it. */
    readonly setting: 'TENANT_MAX_REGISTERED_NAMES' | 'TENANT_MAX_VERSIONS_PER_NAME',
    readonly limit: number,
    message: string,
  ) {
    super(message);
    this.name = 'RegistryQuotaError';
  }
}

/**
 * The model registry, per tenant: registered names with numbered versions (each pointing at a
 * stored model of the tenant's) and aliases pointing at one version; Redis only. Names and
 * aliases are checked against their patterns before they become parts of keys. Every change
 * that must not tear (a new version and its hold on the model, an alias move and its history,
 * a version deleted only while no alias points at it) is one Lua script.
 */
export class RegistryStore {
  private readonly keys: Keys;

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly limits: RegistryLimits = { maxNames: 0, maxVersionsPerName: 0 },
  ) {
    this.keys = keys(prefix);
    const script = (name: string) => new URL(`./registry-${name}.lua`, import.meta.url);
    defineScript(redis, 'registryAddVersion', script('add-version'), 5);
    defineScript(redis, 'registryDeleteVersion', script('delete-version'), 3);
    defineScript(redis, 'registrySetAlias', script('set-alias'), 3);
    defineScript(redis, 'registryResolve', script('resolve'), 3);
  }

  /** Asks every API process to load a model an alias is about to point at (warm-announcements.ts). */
  announceWarm(modelId: string) {
    return announceWarm(this.redis, this.prefix, modelId);
  }

  /** The registered model's keys, once its name is known to be one a key may hold. */
  private named(tenant: string, name: string) {
    if (!registeredName.test(name)) throw new Error(`not a registered name: ${name}`);
    return this.keys.registered(tenant, name);
  }

  private static checkAlias(alias: string) {
    if (!aliasName.test(alias)) throw new Error(`not an alias: ${alias}`);
  }

  /**
   * The next version of `name` (created with its first), pointing at a stored model the caller
   * checked is the tenant's; undefined when that model no longer exists (deleted meanwhile).
   * A RegistryQuotaError when the name is new and the tenant has its most names, or the name
   * has its most versions: counted in the same script that adds, so racing adds cannot pass a cap.
   */
  async addVersion(
    tenant: string,
    name: string,
    input: { modelId: string; description?: string },
  ): Promise<RegistryVersion | undefined> {
    const k = this.named(tenant, name);
    const createdAt = new Date().toISOString();
    const record = {
      modelId: input.modelId,
      ...(input.description ? { description: input.description } : {}),
      createdAt,
    };
    const version = await this.redis.registryAddVersion(
      this.keys.registry(tenant),
      k.meta,
      k.versions,
      this.keys.model(input.modelId),
      this.keys.modelHolds(input.modelId),
      name,
      JSON.stringify(record),
      createdAt,
      holderPrefix(tenant, name),
      String(this.limits.maxNames),
      String(this.limits.maxVersionsPerName),
    );
    if (version === -1) {
      const max = this.limits.maxNames;
      throw new RegistryQuotaError(
        'TENANT_MAX_REGISTERED_NAMES',
        max,
        `tenant ${tenant} has ${max} registered names, its most (TENANT_MAX_REGISTERED_NAMES); ${name} would be another`,
      );
    }
    if (version === -2) {
      const max = this.limits.maxVersionsPerName;
      throw new RegistryQuotaError(
        'TENANT_MAX_VERSIONS_PER_NAME',
        max,
        `registered model ${name} has ${max} versions, its most (TENANT_MAX_VERSIONS_PER_NAME); delete a version first`,
      );
    }
    return version === 0 ? undefined : { name, version, ...record };
  }

  /** The one version `target` means now, read in one step (registry-resolve.lua). */
  async resolve(tenant: string, name: string, target: VersionTarget): Promise<Resolved> {
    const k = this.named(tenant, name);
    if ('alias' in target) RegistryStore.checkAlias(target.alias);
    const [by, value] =
      'latest' in target
        ? ['latest', '']
        : 'alias' in target
          ? ['alias', target.alias]
          : ['version', String(target.version)];
    const found = await this.redis.registryResolve(k.meta, k.versions, k.aliases, by, value);
    if (found === 0) return 'no-name';
    if (found === 1) return 'no-version';
    return versionOf(name, String(found));
  }

  /** 'deleted', 'missing', or the aliases that point at the version (then nothing is deleted). */
  async deleteVersion(
    tenant: string,
    name: string,
    version: number,
  ): Promise<'deleted' | 'missing' | { aliases: string[] }> {
    const found = await this.resolve(tenant, name, { version });
    if (typeof found === 'string') return 'missing';
    const k = this.named(tenant, name);
    // A version's model never changes, so its holds set can be named before the script runs.
    const [status, ...aliases] = await this.redis.registryDeleteVersion(
      k.versions,
      k.aliases,
      this.keys.modelHolds(found.modelId),
      String(version),
      holderOf(tenant, name, version),
    );
    if (status === 1) return 'deleted';
    if (status === 0) return 'missing';
    return { aliases: aliases.map(String) };
  }

  /**
   * Points `alias` at `version`, creating or moving it, and records the move; undefined when
   * there is no such version. `previousVersion` is where it pointed before (null: it is new).
   */
  async setAlias(
    tenant: string,
    name: string,
    alias: string,
    version: number,
  ): Promise<{ previousVersion: number | null } | undefined> {
    const k = this.named(tenant, name);
    RegistryStore.checkAlias(alias);
    const previous = await this.redis.registrySetAlias(
      k.versions,
      k.aliases,
      k.history(alias),
      alias,
      String(version),
      new Date().toISOString(),
      String(ALIAS_HISTORY_LENGTH),
    );
    if (previous < 0) return undefined;
    return { previousVersion: previous === 0 ? null : previous };
  }

  /** Removes the alias and its history; false when there was no such alias. */
  async deleteAlias(tenant: string, name: string, alias: string): Promise<boolean> {
    const k = this.named(tenant, name);
    RegistryStore.checkAlias(alias);
    const [removed] = results(await this.redis.multi().hdel(k.aliases, alias).del(k.history(alias)).exec());
    return removed === 1;
  }

  /** Where the alias points and its moves, oldest first; undefined when there is no such alias. */
  async getAlias(
    tenant: string,
    name: string,
    alias: string,
  ): Promise<{ version: number; history: AliasHistoryEntry[] } | undefined> {
    const k = this.named(tenant, name);
    RegistryStore.checkAlias(alias);
    const [version, moves] = results(
      await this.redis.multi().hget(k.aliases, alias).lrange(k.history(alias), 0, -1).exec(),
    ) as [string | null, string[]];
    if (!version) return undefined;
    const history = moves.map((m) => JSON.parse(m) as AliasHistoryEntry);
    return { version: Number(version), history };
  }

  /** Every alias of the registered model and the version it points at, by alias. */
  async aliases(tenant: string, name: string): Promise<{ alias: string; version: number }[]> {
    return aliasList(await this.redis.hgetall(this.named(tenant, name).aliases));
  }

  /** The tenant's registered names in name order; `cursor` is the last name of the previous page. */
  async list(
    tenant: string,
    opts: { limit: number; cursor?: string },
  ): Promise<{ items: RegisteredModelSummary[]; nextCursor: string | null }> {
    const min = opts.cursor ? `(${opts.cursor}` : '-';
    const names = await this.redis.zrange(this.keys.registry(tenant), min, '+', 'BYLEX', 'LIMIT', 0, opts.limit + 1);
    const page = names.slice(0, opts.limit);
    const pipeline = this.redis.pipeline();
    for (const name of page) {
      const k = this.named(tenant, name);
      pipeline.hget(k.meta, 'createdAt').zrevrange(k.versions, 0, 0, 'WITHSCORES').zcard(k.versions);
    }
    const rows = results(await pipeline.exec());
    const items = page.map((name, i) => {
      const [createdAt, latest, count] = rows.slice(i * 3, i * 3 + 3) as [string, string[], number];
      return { name, createdAt, latestVersion: latest.length > 0 ? Number(latest[1]) : null, versionCount: count };
    });
    return { items, nextCursor: names.length > opts.limit ? page[page.length - 1] : null };
  }

  /**
   * A registered model: its summary, aliases and a page of versions, newest first (`cursor`:
   * versions below it), read in one transaction; undefined when the name is not registered.
   */
  async get(tenant: string, name: string, opts: { limit: number; cursor?: number }) {
    const k = this.named(tenant, name);
    const max = opts.cursor ? `(${opts.cursor}` : '+inf';
    const done = await this.redis
      .multi()
      .hget(k.meta, 'createdAt')
      .zrange(k.versions, max, '-inf', 'BYSCORE', 'REV', 'LIMIT', 0, opts.limit + 1)
      .zrevrange(k.versions, 0, 0, 'WITHSCORES')
      .zcard(k.versions)
      .hgetall(k.aliases)
      .exec();
    const [createdAt, members, latest, count, aliases] = results(done) as [
      string | null,
      string[],
      string[],
      number,
      Record<string, string>,
    ];
    if (!createdAt) return undefined;
    const versions = members.slice(0, opts.limit).map((m) => versionOf(name, m));
    return {
      name,
      createdAt,
      latestVersion: latest.length > 0 ? Number(latest[1]) : null,
      versionCount: count,
      aliases: aliasList(aliases),
      versions,
      nextCursor: members.length > opts.limit ? versions[versions.length - 1].version : null,
    };
  }
}

/** A version's record as stored (JSON written by registry-add-version.lua), with its name. */
function versionOf(name: string, member: string): RegistryVersion {
  const { version, modelId, description, createdAt } = JSON.parse(member) as Omit<RegistryVersion, 'name'>;
  return { name, version, modelId, ...(description !== undefined ? { description } : {}), createdAt };
}

function aliasList(hash: Record<string, string>): { alias: string; version: number }[] {
  return Object.entries(hash)
    .map(([alias, version]) => ({ alias, version: Number(version) }))
    .sort((a, b) => (a.alias < b.alias ? -1 : 1));
}

/** A pipeline's or transaction's answers, throwing the first command's error (none: it was aborted). */
function results(done: [Error | null, unknown][] | null): unknown[] {
  if (!done) throw new Error('the Redis transaction was aborted');
  return done.map(([err, value]) => {
    if (err) throw err;
    return value;
  });
}
