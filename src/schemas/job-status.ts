/**
 * The job lifecycle's vocabulary. It lives with the schemas because the API names these
 * statuses (schemas/job.ts); the job store, the Redis key names and the worker use them too.
 */
export const JOB_STATUSES = ['queued', 'running', 'completed', 'failed', 'cancelled'] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];
export const TERMINAL: readonly JobStatus[] = ['completed', 'failed', 'cancelled'];
