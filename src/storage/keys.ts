import type { JobStatus } from '../schemas/job-status.ts';

/** Every Redis key we write, in one place, under the configured prefix. */
export const keys = (prefix: string) => ({
  job: (id: string) => `${prefix}:job:${id}`,
  events: (id: string) => `${prefix}:job:${id}:events`,
  /** All jobs; score 0 and UUIDv7 members, so lexicographic order is creation order. */
  jobs: `${prefix}:jobs`,
  jobsByStatus: (status: JobStatus) => `${prefix}:jobs:${status}`,
  model: (id: string) => `${prefix}:model:${id}`,
  models: `${prefix}:models`,
  dataset: (id: string) => `${prefix}:dataset:${id}`,
  /** Uploaded datasets; score 0 and UUIDv7 members, like `jobs`. */
  datasets: `${prefix}:datasets`,
  /**
   * Per-tenant keys start here. Model and dataset indexes and the usage hash are named by
   * `OwnedIndex` (its Lua derives them from this prefix and the tenant).
   */
  tenantPrefix: `${prefix}:tenant:`,
  tenantJobs: (tenant: string) => `${prefix}:tenant:${tenant}:jobs`,
  tenantJobsByStatus: (tenant: string, status: JobStatus) => `${prefix}:tenant:${tenant}:jobs:${status}`,
  /** Every tenant that ever created a job (for sweeping expired jobs from tenant indexes). */
  tenants: `${prefix}:tenants`,
  /** One hash per histogram the workers record (jobs/job-metrics.ts): bucket counts, sum and count. */
  histogram: (name: string) => `${prefix}:metrics:${name}`,
});
export type Keys = ReturnType<typeof keys>;
