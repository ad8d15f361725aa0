import type { Redis } from 'ioredis';
import { JOB_STATUSES, type JobStatus } from '../schemas/job-status.ts';
import type { Keys } from '../storage/keys.ts';
import { TENANT_ID } from '../tenant.ts';

/** The tenant label of jobs whose tenant is not named in `countsByTenant`; not a valid tenant id (TENANT_ID), so never a real one's. */
export const OTHER_TENANTS = '~other';

/**
 * Jobs per status and tenant, read from the status indexes (for metrics). At most
 * `maxTenants` tenants are named, `preferred` ones first (e.g. those with keys), then the
 * others by name; the jobs of the rest are reported under OTHER_TENANTS. One SMEMBERS and
 * one pipeline of ZCARDs, (maxTenants + 1) × statuses at most, whatever the data holds.
 */
export async function countJobsByTenant(
  redis: Redis,
  keys: Keys,
  maxTenants: number,
  preferred: readonly string[] = [],
): Promise<{ status: JobStatus; tenant: string; count: number }[]> {
  const stored = (await redis.smembers(keys.tenants)).filter((t) => TENANT_ID.test(t)).sort();
  const named = [...new Set([...preferred, ...stored])].slice(0, maxTenants);
  const unnamed = stored.some((t) => !named.includes(t));
  const p = redis.pipeline();
  for (const status of JOB_STATUSES) p.zcard(keys.jobsByStatus(status));
  for (const tenant of named) for (const status of JOB_STATUSES) p.zcard(keys.tenantJobsByStatus(tenant, status));
  const replies = (await p.exec()) ?? [];
  const failed = replies.find(([err]) => err);
  if (failed || replies.length === 0) throw failed?.[0] ?? new Error('the job counts were not answered');
  const counts = replies.map(([, n]) => Number(n));
  const rows: { status: JobStatus; tenant: string; count: number }[] = [];
  for (const [i, status] of JOB_STATUSES.entries()) {
    let rest = counts[i];
    for (const [t, tenant] of named.entries()) {
      const count = counts[JOB_STATUSES.length * (t + 1) + i];
      rows.push({ status, tenant, count });
      rest -= count;
    }
    if (unnamed || rest > 0) rows.push({ status, tenant: OTHER_TENANTS, count: Math.max(0, rest) });
  }
  return rows;
}
