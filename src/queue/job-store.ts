import type { Redis } from 'ioredis';
import { v7 as uuidv7 } from 'uuid';
import type { EvaluationReport } from '../schemas/evaluation.ts';
import { JOB_STATUSES, TERMINAL, keys, type JobStatus, type Keys } from './keys.ts';

export interface JobError {
  code: string;
  message: string;
}

/** A job as stored; `request` is the submitted (camelized, defaulted) JSON. */
export interface JobRecord {
  id: string;
  name: string;
  status: JobStatus;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  progress: { epoch: number; epochs: number };
  backend: string | null;
  history: Record<string, number[]>;
  evaluation: EvaluationReport | null;
  modelId: string | null;
  error: JobError | null;
  attempts: number;
  summary: unknown;
  request?: unknown;
}

export interface JobEvent {
  id: string;
  event: string;
  data: unknown;
}

const JSON_FIELDS = ['progress', 'history', 'evaluation', 'error', 'summary', 'request'] as const;
const LIST_FIELDS = ['id', 'name', 'status', 'createdAt', 'startedAt', 'finishedAt', 'progress', 'backend', 'history', 'evaluation', 'modelId', 'error', 'attempts'];

/**
 * Moves a job between statuses atomically, with its status-set membership, its fields and
 * its `status` (and `end`) events, so the stream and the record never disagree. Refuses when
 * the current status is not one of the allowed ones, e.g. a late "completed" after a cancel.
 */
const TRANSITION = `
local current = redis.call('HGET', KEYS[1], 'status')
if not current then return {0, ''} end
local allowed = false
for s in string.gmatch(ARGV[3], '[^,]+') do if s == current then allowed = true end end
if not allowed then return {0, current} end
local fields = cjson.decode(ARGV[4])
local flat = {'status', ARGV[2]}
for k, v in pairs(fields) do
  table.insert(flat, k)
  table.insert(flat, v)
end
redis.call('HSET', KEYS[1], unpack(flat))
local index = {}
for i, s in ipairs(cjson.decode(ARGV[7])) do index[s] = KEYS[2 + i] end
redis.call('ZREM', index[current], ARGV[1])
redis.call('ZADD', index[ARGV[2]], 0, ARGV[1])
if current ~= ARGV[2] then redis.call('XADD', KEYS[2], '*', 'event', 'status', 'data', ARGV[5]) end
if ARGV[6] ~= '' then redis.call('XADD', KEYS[2], '*', 'event', 'end', 'data', ARGV[6]) end
if ARGV[6] ~= '' and tonumber(ARGV[8]) > 0 then
  redis.call('EXPIRE', KEYS[1], ARGV[8])
  redis.call('EXPIRE', KEYS[2], ARGV[8])
end
return {1, current}
`;

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
  }

  /** Writes a new queued job, its index entries and its first event in one transaction. */
  async create(input: { name?: string; request: unknown; epochs: number; summary: unknown }): Promise<JobRecord> {
    const id = uuidv7();
    const now = new Date().toISOString();
    const record: JobRecord = {
      id,
      name: input.name ?? `job-${id.slice(-8)}`,
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
    };
    await this.redis
      .multi()
      .hset(this.keys.job(id), serialize(record))
      .zadd(this.keys.jobs, 0, id)
      .zadd(this.keys.jobsByStatus('queued'), 0, id)
      .xadd(this.keys.events(id), '*', 'event', 'status', 'data', JSON.stringify({ status: 'queued', at: now }))
      .exec();
    return record;
  }

  /** Removes every trace of a job: used when it could not be queued, so nothing is orphaned. */
  async remove(id: string): Promise<void> {
    const m = this.redis.multi().del(this.keys.job(id), this.keys.events(id)).zrem(this.keys.jobs, id);
    for (const s of JOB_STATUSES) m.zrem(this.keys.jobsByStatus(s), id);
    await m.exec();
  }

  async get(id: string, withRequest = true): Promise<JobRecord | undefined> {
    const raw = await this.redis.hgetall(this.keys.job(id));
    if (!raw.id) return undefined;
    const record = deserialize(raw);
    if (!withRequest) delete record.request;
    return record;
  }

  /** Just the status (cheap: a job's record holds its whole request). */
  async status(id: string): Promise<JobStatus | undefined> {
    return ((await this.redis.hget(this.keys.job(id), 'status')) as JobStatus | null) ?? undefined;
  }

  /** Newest first; `cursor` is the last id of the previous page. */
  async list(opts: { status?: JobStatus; limit: number; cursor?: string }): Promise<{ items: JobRecord[]; nextCursor: string | null }> {
    const index = opts.status ? this.keys.jobsByStatus(opts.status) : this.keys.jobs;
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
  async transition(id: string, from: readonly JobStatus[], to: JobStatus, fields: Partial<JobRecord> = {}): Promise<boolean> {
    const at = new Date().toISOString();
    const all = { ...fields, ...(TERMINAL.includes(to) ? { finishedAt: at } : {}) };
    const end = TERMINAL.includes(to)
      ? JSON.stringify({ status: to, ...(fields.modelId ? { modelId: fields.modelId } : {}), ...(fields.error ? { error: fields.error } : {}) })
      : '';
    const [done] = (await this.redis.eval(
      TRANSITION,
      2 + JOB_STATUSES.length,
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
    )) as [number, string];
    return done === 1;
  }

  /** Drops index entries of jobs whose records have expired; returns how many. */
  async sweepExpired(): Promise<number> {
    let removed = 0;
    for (const status of TERMINAL) {
      const index = this.keys.jobsByStatus(status);
      let cursor = '0';
      do {
        const [next, flat] = await this.redis.zscan(index, cursor, 'COUNT', 500);
        cursor = next;
        const ids = flat.filter((_, i) => i % 2 === 0);
        if (ids.length === 0) continue;
        const exists = await Promise.all(ids.map((id) => this.redis.exists(this.keys.job(id))));
        const gone = ids.filter((_, i) => exists[i] === 0);
        if (gone.length > 0) {
          await this.redis.multi().zrem(index, ...gone).zrem(this.keys.jobs, ...gone).exec();
          removed += gone.length;
        }
      } while (cursor !== '0');
    }
    return removed;
  }

  /** Records one finished epoch: progress, the whole history so far, and the `epoch` event. */
  async recordEpoch(id: string, data: { epoch: number; epochs: number; metrics: Record<string, number>; elapsedMs: number }, history: Record<string, number[]>) {
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

  /** Events after `afterId` (exclusive), oldest first. */
  async events(id: string, afterId?: string, count = 1000): Promise<JobEvent[]> {
    const start = afterId ? `(${afterId}` : '-';
    return parseEntries(await this.redis.xrange(this.keys.events(id), start, '+', 'COUNT', count));
  }
}

export function parseEntries(entries: [string, string[]][]): JobEvent[] {
  return entries.map(([id, fields]) => {
    const map: Record<string, string> = {};
    for (let i = 0; i < fields.length; i += 2) map[fields[i]] = fields[i + 1];
    return { id, event: map.event, data: JSON.parse(map.data ?? 'null') };
  });
}

function serialize(record: Partial<JobRecord>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(record)) {
    if (value === undefined) continue;
    out[key] = (JSON_FIELDS as readonly string[]).includes(key) || value === null ? JSON.stringify(value) : String(value);
  }
  return out;
}

function deserialize(raw: Record<string, string | null>): JobRecord {
  const nullable = (v: string | null | undefined) => (v === undefined || v === null || v === 'null' ? null : v);
  const parse = (v: string | null | undefined) => (v ? JSON.parse(v) : null);
  return {
    id: raw.id!,
    name: raw.name ?? '',
    status: raw.status as JobStatus,
    createdAt: raw.createdAt!,
    startedAt: nullable(raw.startedAt),
    finishedAt: nullable(raw.finishedAt),
    progress: parse(raw.progress) ?? { epoch: 0, epochs: 0 },
    backend: nullable(raw.backend),
    history: parse(raw.history) ?? {},
    evaluation: parse(raw.evaluation),
    modelId: nullable(raw.modelId),
    error: parse(raw.error),
    attempts: Number(raw.attempts ?? 0),
    summary: parse(raw.summary),
    ...(raw.request !== undefined ? { request: parse(raw.request) } : {}),
  };
}
