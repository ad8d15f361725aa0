import type { Redis, RedisKey, Result } from 'ioredis';
import { JOB_STATUSES } from '../schemas/job-status.ts';
import { defineScript } from '../storage/redis-scripts.ts';

// The job store's Lua scripts (the .lua files beside this module) and their signatures.
declare module 'ioredis' {
  interface RedisCommander<Context> {
    /** job-for-tenant.lua */
    jobForTenant(
      job: RedisKey,
      tenant: string,
      legacyTenant: string,
      ...fields: string[]
    ): Result<string[] | null, Context>;
    /** job-create.lua */
    jobCreate(
      ...args: [
        job: RedisKey,
        events: RedisKey,
        jobs: RedisKey,
        queued: RedisKey,
        tenantJobs: RedisKey,
        tenantQueued: RedisKey,
        tenantRunning: RedisKey,
        tenants: RedisKey,
        id: string,
        record: string,
        statusEvent: string,
        maxQueued: string,
        tenant: string,
        parentMeta: string,
        parentHolds: string,
        holder: string,
      ]
    ): Result<number, Context>;
    /** job-transition.lua */
    jobTransition(
      ...args: [
        job: RedisKey,
        events: RedisKey,
        ...statusIndexes: RedisKey[],
        id: string,
        to: string,
        from: string,
        fields: string,
        statusEvent: string,
        endEvent: string,
        statuses: string,
        retentionSeconds: string,
        tenantPrefix: string,
        maxRunning: string,
        holder: string,
      ]
    ): Result<[done: number, found: string], Context>;
  }
}

/** Defines the job scripts on this connection (once per connection). */
export function defineJobScripts(redis: Redis): void {
  defineScript(redis, 'jobForTenant', new URL('./job-for-tenant.lua', import.meta.url), 1);
  defineScript(redis, 'jobCreate', new URL('./job-create.lua', import.meta.url), 8);
  defineScript(redis, 'jobTransition', new URL('./job-transition.lua', import.meta.url), 2 + JOB_STATUSES.length);
}
