import { randomUUID } from 'node:crypto';
import type { Redis, RedisKey, Result } from 'ioredis';
import type { JobRecord } from '../job-record.ts';
import { parseEntries, type JobEvent } from '../job-event.ts';
import { SWEEP_DONE, type Sweep, type SweepRequest, type SweepStatus, type Trial } from '../../schemas/sweep.ts';
import { keys, type Keys } from '../../storage/keys.ts';
import { defineScript } from '../../storage/redis-scripts.ts';
import { LOCAL_TENANT, type Tenant } from '../../tenant.ts';

declare module 'ioredis' {
  interface RedisCommander<Context> {
    /** sweep-unlock.lua */
    sweepUnlock(lock: RedisKey, token: string): Result<number, Context>;
    /** sweep-cancel.lua */
    sweepCancel(record: RedisKey): Result<number, Context>;
  }
}

/** A sweep as stored: the API's `Sweep` less its trials, which live in their own hash. */
export type SweepRecord = Omit<Sweep, 'trials'> & {
  request: SweepRequest;
  /** The base job's inline arrays are kept beside the sweep's id in the checkpoint store; each trial gets a copy. */
  inlineData?: JobRecord['inlineData'];
};

/** What a trial's job is created with: its dry run's summary and epochs, from the submit. */
export interface TrialPlan {
  /** The id its job gets when launched, chosen at submit: a relaunch after a crash finds the same job. */
  jobId: string;
  summary: JobRecord['summary'];
  epochs: number;
}

const JSON_FIELDS = new Set([
  'strategy',
  'objective',
  'best',
  'registered',
  'registrationError',
  'request',
  'inlineData',
  'error',
]);

const encode = (fields: Partial<SweepRecord>) =>
  Object.fromEntries(
    Object.entries(fields)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => [k, JSON_FIELDS.has(k) || v === null ? JSON.stringify(v) : String(v)]),
  );

function decode(raw: Record<string, string>, withRequest: boolean): SweepRecord {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(raw)) {
    if (k === 'request' && !withRequest) continue;
    out[k] = JSON_FIELDS.has(k) || v === 'null' ? JSON.parse(v) : v;
  }
  out.maxTrials = Number(raw.maxTrials);
  out.parallelism = Number(raw.parallelism);
  return out as SweepRecord;
}

const LOCK_MS = 30_000;

/**
 * Sweeps in Redis: the record, its trials (written only by the reconcile, under the sweep's
 * lock), the trials' objective curves and the search's stop marks (written by the training
 * that produces them), and one event stream, read like a job's.
 */
export class SweepStore {
  readonly keys: Keys;

  constructor(
    readonly redis: Redis,
    prefix: string,
    private readonly retentionSeconds = 0,
  ) {
    this.keys = keys(prefix);
    defineScript(redis, 'sweepUnlock', new URL('./sweep-unlock.lua', import.meta.url), 1);
    defineScript(redis, 'sweepCancel', new URL('./sweep-cancel.lua', import.meta.url), 1);
  }

  /** Writes a new sweep, its planned trials (all `pending`) and their first events, in one step. */
  async create(record: SweepRecord, trials: Trial[], plans: TrialPlan[]) {
    const k = this.keys.sweep(record.id);
    const m = this.redis.multi().hset(k.record, encode(record));
    for (const trial of trials) {
      m.hset(k.trials, String(trial.index), JSON.stringify(trial));
      m.hset(k.plans, String(trial.index), JSON.stringify(plans[trial.index]));
      m.xadd(k.events, '*', 'event', 'trial', 'data', JSON.stringify(trialEvent(trial)));
    }
    m.zadd(this.keys.sweeps, 0, record.id)
      .zadd(this.keys.tenantSweeps(record.tenant), 0, record.id)
      .sadd(this.keys.activeSweeps, record.id);
    await m.exec();
  }

  /** The sweep if `tenant` may see it (the owner is read before anything else), with its trials. */
  async getFor(id: string, tenant: Tenant, withRequest = false): Promise<Sweep | undefined> {
    const owner = await this.owner(id);
    if (owner === undefined || (!tenant.admin && owner !== tenant.id)) return undefined;
    const record = await this.record(id, withRequest);
    if (!record) return undefined;
    const { inlineData: _i, ...shown } = record;
    return { ...shown, trials: await this.trials(id) };
  }

  async owner(id: string): Promise<string | undefined> {
    const [tenant, status] = await this.redis.hmget(this.keys.sweep(id).record, 'tenant', 'status');
    return status === null ? undefined : (tenant ?? LOCAL_TENANT.id);
  }

  async status(id: string): Promise<SweepStatus | undefined> {
    return ((await this.redis.hget(this.keys.sweep(id).record, 'status')) as SweepStatus | null) ?? undefined;
  }

  async record(id: string, withRequest = true): Promise<SweepRecord | undefined> {
    const raw = await this.redis.hgetall(this.keys.sweep(id).record);
    return raw.id ? decode(raw, withRequest) : undefined;
  }

  async trials(id: string): Promise<Trial[]> {
    const raw = await this.redis.hgetall(this.keys.sweep(id).trials);
    return Object.values(raw)
      .map((v) => JSON.parse(v) as Trial)
      .sort((a, b) => a.index - b.index);
  }

  async plan(id: string, index: number): Promise<TrialPlan> {
    return JSON.parse((await this.redis.hget(this.keys.sweep(id).plans, String(index)))!) as TrialPlan;
  }

  /** Newest first, like jobs; `tenant` limits it to one tenant's sweeps. */
  async list(opts: { tenant?: string; limit: number; cursor?: string }) {
    const index = opts.tenant ? this.keys.tenantSweeps(opts.tenant) : this.keys.sweeps;
    const max = opts.cursor ? `(${opts.cursor}` : '+';
    const ids = await this.redis.zrange(index, max, '-', 'BYLEX', 'REV', 'LIMIT', 0, opts.limit + 1);
    const page = ids.slice(0, opts.limit);
    const records = await Promise.all(page.map((id) => this.record(id, false)));
    const items = records
      .filter((r): r is SweepRecord => r !== undefined)
      .map(({ inlineData: _i, request: _r, ...shown }) => shown);
    return { items, nextCursor: ids.length > opts.limit ? page[page.length - 1] : null };
  }

  /** Writes trials and record fields with their events, together. */
  async write(
    id: string,
    change: { trials?: Trial[]; fields?: Partial<SweepRecord>; events?: { event: string; data: unknown }[] },
  ) {
    const k = this.keys.sweep(id);
    const m = this.redis.multi();
    for (const trial of change.trials ?? []) m.hset(k.trials, String(trial.index), JSON.stringify(trial));
    if (change.fields) m.hset(k.record, encode(change.fields));
    for (const e of change.events ?? []) m.xadd(k.events, '*', 'event', e.event, 'data', JSON.stringify(e.data));
    await m.exec();
  }

  /** Marks the sweep finished: its `end` event with it, out of the active set, and its keys expiring like a job's. */
  async finish(id: string, fields: Partial<SweepRecord>, end: unknown) {
    const k = this.keys.sweep(id);
    const m = this.redis
      .multi()
      .hset(k.record, encode({ ...fields, finishedAt: new Date().toISOString() }))
      .xadd(k.events, '*', 'event', 'end', 'data', JSON.stringify(end))
      .srem(this.keys.activeSweeps, id);
    if (this.retentionSeconds > 0) {
      for (const key of [k.record, k.trials, k.plans, k.curves, k.stops, k.events])
        m.expire(key, this.retentionSeconds);
    }
    await m.exec();
  }

  /**
   * Drops index entries of sweeps whose records have expired (JOB_RETENTION_SECONDS after they
   * ended), from the global index and every tenant's; returns how many.
   */
  async sweepExpired(): Promise<number> {
    const tenants = await this.redis.smembers(this.keys.tenants);
    let removed = 0;
    for (const index of [this.keys.sweeps, ...tenants.map((t) => this.keys.tenantSweeps(t))]) {
      const ids = await this.redis.zrange(index, '-', '+', 'BYLEX');
      const exists = await Promise.all(ids.map((id) => this.redis.exists(this.keys.sweep(id).record)));
      const gone = ids.filter((_, i) => exists[i] === 0);
      if (gone.length > 0) await this.redis.zrem(index, ...gone);
      if (index === this.keys.sweeps) removed = gone.length;
    }
    return removed;
  }

  /** A running sweep becomes `cancelling` (the reconcile cancels its trials); false when it was not running. */
  async requestCancel(id: string): Promise<boolean> {
    return (await this.redis.sweepCancel(this.keys.sweep(id).record)) === 1;
  }

  async activeIds(): Promise<string[]> {
    return this.redis.smembers(this.keys.activeSweeps);
  }

  /** The sweep's event stream (EventLog, for the SSE follower). */
  streamKey(id: string) {
    return this.keys.sweep(id).events;
  }

  /** Whether the sweep has ended; undefined when there is no such sweep (EventLog). */
  async finished(id: string): Promise<boolean | undefined> {
    const status = await this.status(id);
    return status === undefined ? undefined : SWEEP_DONE.includes(status);
  }

  /** Events after `afterId` (exclusive), oldest first: the same shape as a job's. */
  async events(id: string, afterId?: string, count = 1000): Promise<JobEvent[]> {
    const start = afterId ? `(${afterId}` : '-';
    return parseEntries(await this.redis.xrange(this.keys.sweep(id).events, start, '+', 'COUNT', count));
  }

  // --- what the training of a trial writes ---

  /** The objective per epoch of each trial asked for (missing: none yet). */
  async curves(id: string): Promise<Map<number, (number | null)[]>> {
    const raw = await this.redis.hgetall(this.keys.sweep(id).curves);
    return new Map(Object.entries(raw).map(([i, v]) => [Number(i), JSON.parse(v) as (number | null)[]]));
  }

  /** Records one epoch of a trial: its curve so far and the sweep's `epoch` event. */
  async recordEpoch(id: string, index: number, curve: (number | null)[], event: unknown) {
    const k = this.keys.sweep(id);
    await this.redis
      .multi()
      .hset(k.curves, String(index), JSON.stringify(curve))
      .xadd(k.events, '*', 'event', 'epoch', 'data', JSON.stringify(event))
      .exec();
  }

  /** A trial's value at a halving rung (idempotent: a resumed trial records the same); every value recorded there. */
  async atRung(id: string, epoch: number, index: number, value: number): Promise<number[]> {
    const key = this.keys.sweep(id).rung(epoch);
    const [, [, all]] = (await this.redis.multi().hset(key, String(index), String(value)).hvals(key).exec()) as [
      unknown,
      [unknown, string[]],
    ];
    if (this.retentionSeconds > 0) await this.redis.expire(key, this.retentionSeconds * 4);
    return all.map(Number);
  }

  /** The search stopped this trial after `epoch`: its job completes early and the trial shows `stopped`. */
  async markStopped(id: string, index: number, epoch: number) {
    await this.redis.hset(this.keys.sweep(id).stops, String(index), String(epoch));
  }

  async stopped(id: string): Promise<Set<number>> {
    return new Set(Object.keys(await this.redis.hgetall(this.keys.sweep(id).stops)).map(Number));
  }

  // --- the reconcile's lock ---

  /**
   * Runs `step` holding the sweep's lock. Another caller meanwhile marks the sweep dirty and
   * leaves; the holder runs `step` again until it is clean, so no change is missed and two
   * steps never overlap (the lock expires after 30 s, should its holder die).
   */
  async exclusive(id: string, step: () => Promise<void>): Promise<void> {
    const k = this.keys.sweep(id);
    const token = randomUUID();
    if ((await this.redis.set(k.lock, token, 'PX', LOCK_MS, 'NX')) !== 'OK') {
      await this.redis.set(k.dirty, '1', 'PX', LOCK_MS);
      return;
    }
    try {
      do {
        await this.redis.del(k.dirty);
        await step();
      } while ((await this.redis.del(k.dirty)) === 1);
    } finally {
      await this.redis.sweepUnlock(k.lock, token);
    }
  }
}

/** A trial's `trial` event. */
export const trialEvent = (t: Trial) => ({
  index: t.index,
  status: t.status,
  parameters: t.parameters,
  jobId: t.jobId,
  ...(t.objective !== null ? { objective: t.objective } : {}),
});
