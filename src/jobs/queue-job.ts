import type { CheckpointStore } from '../storage/checkpoint-store.ts';
import type { JobRecord } from './job-record.ts';
import type { JobStore } from './job-store.ts';
import { enqueueTraining, type TrainingQueue } from './training-queue.ts';

export interface QueueJobDeps {
  jobs: JobStore;
  checkpoints: CheckpointStore;
  queue: TrainingQueue;
  /** TENANT_MAX_QUEUED_JOBS, JOB_ATTEMPTS, JOB_RETRY_DELAY_MS. */
  maxQueued: number;
  attempts: number;
  retryDelayMs: number;
}

/**
 * Writes a job's record, keeps its inline data beside its checkpoints, and queues it; if
 * anything after the record fails, the record and the data go again, so no job is left
 * half-made. A QuotaError (the tenant's queue is full) leaves nothing. A job given an id that
 * exists (a sweep relaunching a trial after a crash) is queued again: BullMQ ignores a job id
 * it holds, and a worker skips a job that is no longer queued.
 */
export async function queueJob(
  deps: QueueJobDeps,
  input: Parameters<JobStore['create']>[0],
  inlineJson?: string,
): Promise<JobRecord> {
  const created = await deps.jobs.create(input, deps.maxQueued);
  if (created === 'exists') {
    await enqueueTraining(deps.queue, input.id!, deps.attempts, deps.retryDelayMs);
    return (await deps.jobs.get(input.id!, false))!;
  }
  const { record, ahead } = created;
  try {
    if (inlineJson) await deps.checkpoints.saveInline(record.id, inlineJson);
    await enqueueTraining(deps.queue, record.id, deps.attempts, deps.retryDelayMs, ahead);
  } catch (err) {
    await deps.jobs.remove(record.id).catch(() => undefined);
    await deps.checkpoints.remove(record.id).catch(() => undefined);
    throw err;
  }
  return record;
}
