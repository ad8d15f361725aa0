import type { JobStatus } from '../schemas/job-status.ts';

/** Every Redis key we write, in one place, under the configured prefix. */
export const keys = (prefix: string) => ({
  job: (id: string) => `${prefix}:job:${id}`,
  events: (id: string) => `${prefix}:job:${id}:events`,
  /** All jobs; score 0 and UUIDv7 members, so lexicographic order is creation order. */
  jobs: `${prefix}:jobs`,
  jobsByStatus: (status: JobStatus) => `${prefix}:jobs:${status}`,
  model: (id: string) => `${prefix}:model:${id}`,
  /**
   * What holds a model: the registry versions that point at it (`<tenant>/<name>@<version>`)
   * and the queued or running jobs that fine-tune it (`job:<id>`, until they end). While it
   * has members the model cannot be deleted (OwnedIndex checks it in the same script; for
   * other kinds it names `<meta>:holds` the same way, which nothing writes yet).
   */
  modelHolds: (id: string) => `${prefix}:model:${id}:holds`,
  models: `${prefix}:models`,
  dataset: (id: string) => `${prefix}:dataset:${id}`,
  /** Uploaded datasets; score 0 and UUIDv7 members, like `jobs`. */
  datasets: `${prefix}:datasets`,
  /**
   * Per-tenant keys start here. Model and dataset indexes and the usage hash are named by
   * `OwnedIndex` (its Lua derives them from this prefix and the tenant).
   */
  tenantPrefix: `${prefix}:tenant:`,
  /** A tenant's registered model names (score 0: lexicographic order). */
  registry: (tenant: string) => `${prefix}:tenant:${tenant}:registry`,
  /**
   * One registered model's keys. Tenant ids and registered names hold no ':' (TENANT_ID,
   * REGISTERED_NAME), so no two names' keys meet: `meta` a hash (createdAt, lastVersion, the
   * counter that never goes back), `versions` a sorted set (score: the version; member: its
   * record as JSON), `aliases` a hash (alias -> version), `history` a list per alias.
   */
  registered: (tenant: string, name: string) => {
    const base = `${prefix}:tenant:${tenant}:registry:${name}`;
    return {
      meta: base,
      versions: `${base}:versions`,
      aliases: `${base}:aliases`,
      history: (alias: string) => `${base}:alias:${alias}:history`,
    };
  },
  /**
   * A sweep's keys: `record` a hash (its fields; `request` the whole sweep request as JSON),
   * `trials` a hash (trial index -> the trial as JSON, written only under `lock`), `plans`
   * (index -> the trial's dry-run summary and epochs), `curves` (index -> the objective per
   * epoch, JSON), `stops` (index -> the epoch the search stopped it at), `rung(epoch)` (index
   * -> its value at that halving rung), `events` its stream, `lock` and `dirty` the reconcile's.
   */
  sweep: (id: string) => {
    const base = `${prefix}:sweep:${id}`;
    return {
      record: base,
      trials: `${base}:trials`,
      plans: `${base}:plans`,
      curves: `${base}:curves`,
      stops: `${base}:stops`,
      rung: (epoch: number) => `${base}:rung:${epoch}`,
      events: `${base}:events`,
      lock: `${base}:lock`,
      dirty: `${base}:dirty`,
    };
  },
  /** All sweeps (UUIDv7 members, score 0: creation order), and those not finished yet. */
  sweeps: `${prefix}:sweeps`,
  activeSweeps: `${prefix}:sweeps:active`,
  tenantSweeps: (tenant: string) => `${prefix}:tenant:${tenant}:sweeps`,
  tenantJobs: (tenant: string) => `${prefix}:tenant:${tenant}:jobs`,
  tenantJobsByStatus: (tenant: string, status: JobStatus) => `${prefix}:tenant:${tenant}:jobs:${status}`,
  /** Every tenant that ever created a job (for sweeping expired jobs from tenant indexes). */
  tenants: `${prefix}:tenants`,
  /** One hash per histogram the workers record (jobs/job-metrics.ts): bucket counts, sum and count. */
  histogram: (name: string) => `${prefix}:metrics:${name}`,
});
export type Keys = ReturnType<typeof keys>;
