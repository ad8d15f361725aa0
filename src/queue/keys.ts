export const JOB_STATUSES = ['queued', 'running', 'completed', 'failed', 'cancelled'] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];
export const TERMINAL: readonly JobStatus[] = ['completed', 'failed', 'cancelled'];

export const TRAINING_QUEUE = 'training';

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
  /** Per-tenant indexes: the same members as the global ones, for listing and quotas. */
  tenantPrefix: `${prefix}:tenant:`,
  tenantJobs: (tenant: string) => `${prefix}:tenant:${tenant}:jobs`,
  tenantJobsByStatus: (tenant: string, status: JobStatus) => `${prefix}:tenant:${tenant}:jobs:${status}`,
  tenantModels: (tenant: string) => `${prefix}:tenant:${tenant}:models`,
  tenantDatasets: (tenant: string) => `${prefix}:tenant:${tenant}:datasets`,
  /** Hash of a tenant's usage: `bytes` stored in models and datasets. */
  tenantUsage: (tenant: string) => `${prefix}:tenant:${tenant}:usage`,
  /** Every tenant that ever created a job (for sweeping expired jobs from tenant indexes). */
  tenants: `${prefix}:tenants`,
});
export type Keys = ReturnType<typeof keys>;
