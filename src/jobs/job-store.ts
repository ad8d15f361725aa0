import type { Redis } from 'ioredis';
import { v7 as uuidv7 } from 'uuid';
import type { InlineDataInfo } from '../data/inline.ts';
import type { EvaluationReport } from '../schemas/evaluation.ts';
import { JOB_STATUSES, TERMINAL, type JobStatus } from '../schemas/job-status.ts';
import { keys, type Keys } from '../storage/keys.ts';
import { jobHolder } from '../storage/model-store.ts';
import { LOCAL_TENANT, type Tenant } from '../tenant.ts';
import { countJobsByTenant } from './job-counts.ts';
import { parseEntries, type JobEvent } from './job-event.ts';
import { deserialize, LIST_FIELDS, RECORD_FIELDS, serialize, type JobRecord } from './job-record.ts';
import { defineJobScripts } from './job-scripts.ts';

/** What `start` found: started, refused (not queued/running any more), or the tenant runs its maximum already. */
export type StartResult = 'started' | 'refused' | 'tenant-busy';

export class QuotaError extends Error {}

/** The stored model a fine-tuning job was to start from was deleted before the job could pin it. */
export class ParentGoneError extends Error {}

export class JobStore {
  readonly keys: Keys;

  /**
   * @param retentionSeconds finished jobs and their event streams expire this long after they
   *   end (0 keeps them); their index entries are swept by `sweepExpired`.
   */
  constructor(
    readonly redis: Redis,
    prefix: string,
    private readonly retentionSeconds = 0,
  ) {
    this.keys = keys(prefix);
    defineJobScripts(redis);
  }

  /**
   * Writes a new queued job, its index entries and its first event atomically. Refuses with a
   * QuotaError when the tenant already has `maxQueued` jobs waiting (0: no limit). `ahead` is
   * how many jobs the tenant had queued or running: the fair-share rank of this one. A job
   * given an `id` that exists already is left as it is (`exists`). With
   * `parentModelId` (fine-tuning), the job pins that model in the same step (it cannot be
   * deleted until the job ends), or refuses with a ParentGoneError when it no longer exists.
   */
  async create(
    input: {
      name?: string;
      tenant?: string;
      request: unknown;
      inlineData?: InlineDataInfo;
      epochs: number;
      summary: JobRecord['summary'];
      parentModelId?: string;
      /** A sweep's trial: its id, chosen when the sweep was planned, and its link to the sweep. */
      id?: string;
      sweep?: JobRecord['sweep'];
    },
    maxQueued = 0,
  ): Promise<{ record: JobRecord; ahead: number } | 'exists'> {
    const id = input.id ?? uuidv7();
    const tenant = input.tenant ?? LOCAL_TENANT.id;
    const now = new Date().toISOString();
    const record: JobRecord = {
      id,
      name: input.name ?? `job-${id.slice(-8)}`,
      tenant,
      status: 'queued',
      createdAt: now,
      startedAt: null,
      finishedAt: null,
      progress: { epoch: 0, epochs: input.epochs },
      backend: null,
      history: {},
      evaluation: null,
      modelId: null,
      error: null,
      attempts: 0,
      summary: input.summary,
      request: input.request,
      ...(input.inlineData ? { inlineData: input.inlineData } : {}),
      ...(input.sweep ? { sweep: input.sweep } : {}),
    };
    const ahead = await this.redis.jobCreate(
      this.keys.job(id),
      this.keys.events(id),
      this.keys.jobs,
      this.keys.jobsByStatus('queued'),
      this.keys.tenantJobs(tenant),
      this.keys.tenantJobsByStatus(tenant, 'queued'),
      this.keys.tenantJobsByStatus(tenant, 'running'),
      this.keys.tenants,
      id,
      JSON.stringify(serialize(record)),
      JSON.stringify({ status: 'queued', at: now }),
      String(maxQueued),
      tenant,
      input.parentModelId ? this.keys.model(input.parentModelId) : '',
      input.parentModelId ? this.keys.modelHolds(input.parentModelId) : '',
      jobHolder(id),
    );
    if (ahead === -3) return 'exists';
    if (ahead === -1)
      throw new QuotaError(`tenant ${tenant} already has ${maxQueued} jobs queued (TENANT_MAX_QUEUED_JOBS)`);
    if (ahead === -2) throw new ParentGoneError(`model ${input.parentModelId} was deleted while the job was submitted`);
    return { record, ahead };
  }

  /**
   * Removes every trace of a job, its pin on a parent model too: used when it could not be
   * queued, so nothing is orphaned and nothing stays undeletable.
   */
  async remove(id: string): Promise<void> {
    const [tenantField, pin] = await this.redis.hmget(this.keys.job(id), 'tenant', 'pin');
    const tenant = tenantField ?? LOCAL_TENANT.id;
    const m = this.redis.multi();
    if (pin) m.srem(pin, jobHolder(id));
    m.del(this.keys.job(id), this.keys.events(id)).zrem(this.keys.jobs, id).zrem(this.keys.tenantJobs(tenant), id);
    for (const s of JOB_STATUSES)
      m.zrem(this.keys.jobsByStatus(s), id).zrem(this.keys.tenantJobsByStatus(tenant, s), id);
    await m.exec();
  }

  async get(id: string, withRequest = true): Promise<JobRecord | undefined> {
    return this.getFor(id, LOCAL_TENANT, withRequest);
  }

  /**
   * The job if `tenant` may see it; undefined for another tenant's job as for a missing one.
   * The owner is checked on the record's small `tenant` field before anything else is read
   * (job-for-tenant.lua), so both cost the same and the request is read only for its owner.
   */
  async getFor(id: string, tenant: Tenant, withRequest = true): Promise<JobRecord | undefined> {
    const fields = withRequest ? [] : RECORD_FIELDS;
    const found = await this.redis.jobForTenant(
      this.keys.job(id),
      tenant.admin ? '' : tenant.id,
      LOCAL_TENANT.id,
      ...fields,
    );
    if (!found) return undefined;
    const raw: Record<string, string | null> = {};
    if (withRequest) for (let i = 0; i < found.length; i += 2) raw[found[i]] = found[i + 1];
    else {
      for (const [i, field] of fields.entries()) raw[field] = found[i];
    }
    return deserialize(raw);
  }

  /** The job's tenant, or undefined when there is no such job (cheap, like `status`). */
  async owner(id: string): Promise<string | undefined> {
    const [tenant, status] = await this.redis.hmget(this.keys.job(id), 'tenant', 'status');
    return status === null ? undefined : (tenant ?? LOCAL_TENANT.id);
  }

  /** Just the status (cheap: a job's record holds its whole request). */
  async status(id: string): Promise<JobStatus | undefined> {
    return ((await this.redis.hget(this.keys.job(id), 'status')) as JobStatus | null) ?? undefined;
  }

  /** Newest first; `cursor` is the last id of the previous page; `tenant` limits it to one tenant's jobs. */
  async list(opts: {
    status?: JobStatus;
    tenant?: string;
    limit: number;
    cursor?: string;
  }): Promise<{ items: JobRecord[]; nextCursor: string | null }> {
    const { tenant, status } = opts;
    const index = tenant
      ? status
        ? this.keys.tenantJobsByStatus(tenant, status)
        : this.keys.tenantJobs(tenant)
      : status
        ? this.keys.jobsByStatus(status)
        : this.keys.jobs;
    const max = opts.cursor ? `(${opts.cursor}` : '+';
    const ids = await this.redis.zrange(index, max, '-', 'BYLEX', 'REV', 'LIMIT', 0, opts.limit + 1);
    const page = ids.slice(0, opts.limit);
    const pipeline = this.redis.pipeline();
    for (const id of page) pipeline.hmget(this.keys.job(id), ...LIST_FIELDS);
    const rows = (await pipeline.exec()) ?? [];
    const items = rows
      .map(([, values]) => Object.fromEntries(LIST_FIELDS.map((f, i) => [f, (values as (string | null)[])[i]])))
      .filter((raw) => raw.id)
      .map((raw) => deserialize(raw as Record<string, string>));
    return { items, nextCursor: ids.length > opts.limit ? page[page.length - 1] : null };
  }

  /**
   * Changes status if the job is in one of `from`; writes `fields` with it and appends the
   * `status` event, plus the `end` event for a terminal status. Returns whether it happened.
   */
  async transition(
    id: string,
    from: readonly JobStatus[],
    to: JobStatus,
    fields: Partial<JobRecord> = {},
  ): Promise<boolean> {
    return (await this.move(id, from, to, fields, 0)) === 1;
  }

  /**
   * Moves a queued (or resumed running) job to running, unless its tenant already has
   * `maxRunning` jobs running (0: no limit): then it stays queued and the caller defers it.
   */
  async start(id: string, fields: Partial<JobRecord>, maxRunning = 0): Promise<StartResult> {
    const done = await this.move(id, ['queued', 'running'], 'running', fields, maxRunning);
    return done === 1 ? 'started' : done === 2 ? 'tenant-busy' : 'refused';
  }

  private async move(
    id: string,
    from: readonly JobStatus[],
    to: JobStatus,
    fields: Partial<JobRecord>,
    maxRunning: number,
  ): Promise<number> {
    const at = new Date().toISOString();
    const all = { ...fields, ...(TERMINAL.includes(to) ? { finishedAt: at } : {}) };
    const end = TERMINAL.includes(to)
      ? JSON.stringify({
          status: to,
          ...(fields.modelId ? { modelId: fields.modelId } : {}),
          ...(fields.error ? { error: fields.error } : {}),
        })
      : '';
    const [done] = await this.redis.jobTransition(
      this.keys.job(id),
      this.keys.events(id),
      ...JOB_STATUSES.map((s) => this.keys.jobsByStatus(s)),
      id,
      to,
      from.join(','),
      JSON.stringify(serialize(all)),
      JSON.stringify({ status: to, at }),
      end,
      JSON.stringify(JOB_STATUSES),
      String(this.retentionSeconds),
      this.keys.tenantPrefix,
      String(maxRunning),
      jobHolder(id),
    );
    return done;
  }

  /** Jobs per status and tenant, for metrics (see countJobsByTenant). */
  countsByTenant(maxTenants: number, preferred: readonly string[] = []) {
    return countJobsByTenant(this.redis, this.keys, maxTenants, preferred);
  }

  /** Drops index entries (global and per tenant) of jobs whose records have expired; returns how many. */
  async sweepExpired(): Promise<number> {
    let removed = 0;
    for (const status of TERMINAL) removed += await this.sweepIndex(this.keys.jobsByStatus(status), this.keys.jobs);
    for (const tenant of await this.redis.smembers(this.keys.tenants)) {
      for (const status of TERMINAL)
        await this.sweepIndex(this.keys.tenantJobsByStatus(tenant, status), this.keys.tenantJobs(tenant));
    }
    return removed;
  }

  private async sweepIndex(index: string, all: string): Promise<number> {
    let removed = 0;
    let cursor = '0';
    do {
      const [next, flat] = await this.redis.zscan(index, cursor, 'COUNT', 500);
      cursor = next;
      const ids = flat.filter((_, i) => i % 2 === 0);
      if (ids.length === 0) continue;
      const exists = await Promise.all(ids.map((id) => this.redis.exists(this.keys.job(id))));
      const gone = ids.filter((_, i) => exists[i] === 0);
      if (gone.length > 0) {
        await this.redis
          .multi()
          .zrem(index, ...gone)
          .zrem(all, ...gone)
          .exec();
        removed += gone.length;
      }
    } while (cursor !== '0');
    return removed;
  }

  /** Records one finished epoch: progress, the whole history so far, and the `epoch` event. */
  async recordEpoch(
    id: string,
    data: { epoch: number; epochs: number; metrics: Record<string, number>; elapsedMs: number },
    history: Record<string, number[]>,
  ) {
    await this.redis
      .multi()
      .hset(this.keys.job(id), serialize({ progress: { epoch: data.epoch, epochs: data.epochs }, history }))
      .xadd(this.keys.events(id), '*', 'event', 'epoch', 'data', JSON.stringify(data))
      .exec();
  }

  async recordEvaluation(id: string, metrics: EvaluationReport) {
    await this.redis
      .multi()
      .hset(this.keys.job(id), serialize({ evaluation: metrics }))
      .xadd(this.keys.events(id), '*', 'event', 'evaluation', 'data', JSON.stringify({ metrics }))
      .exec();
  }

  /** An event that changes nothing on the record (per-batch progress). */
  async appendEvent(id: string, event: string, data: unknown) {
    await this.redis.xadd(this.keys.events(id), '*', 'event', event, 'data', JSON.stringify(data));
  }

  /** The job's event stream (EventLog, for the SSE follower). */
  streamKey(id: string) {
    return this.keys.events(id);
  }

  /** Whether the job has ended; undefined when there is no such job (EventLog). */
  async finished(id: string): Promise<boolean | undefined> {
    const status = await this.status(id);
    return status === undefined ? undefined : TERMINAL.includes(status);
  }

  /** Events after `afterId` (exclusive), oldest first. */
  async events(id: string, afterId?: string, count = 1000): Promise<JobEvent[]> {
    const start = afterId ? `(${afterId}` : '-';
    return parseEntries(await this.redis.xrange(this.keys.events(id), start, '+', 'COUNT', count));
  }
}
