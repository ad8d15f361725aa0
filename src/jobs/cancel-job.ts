import { TERMINAL } from '../schemas/job-status.ts';
import type { CheckpointStore } from '../storage/checkpoint-store.ts';
import type { JobControl } from './job-control.ts';
import type { JobStore } from './job-store.ts';
import type { TrainingQueue } from './training-queue.ts';

export interface CancelDeps {
  jobs: JobStore;
  control: JobControl;
  checkpoints: CheckpointStore;
  queue: TrainingQueue;
}

/**
 * Cancels a job: a queued one leaves the queue at once (`cancelled`); a running one is asked
 * through Redis to stop at its next batch, whichever machine trains it (`requested`); a
 * finished one is left as it is (`finished`).
 */
export async function cancelJob(
  deps: CancelDeps,
  id: string,
  keepModel = false,
): Promise<'cancelled' | 'requested' | 'finished'> {
  if (await deps.jobs.transition(id, ['queued'], 'cancelled')) {
    // A worker that grabbed it meanwhile finds it cancelled and skips it.
    await deps.queue.remove(id).catch(() => undefined);
    // A job queued again after a crash has a checkpoint: no worker will remove it now.
    await deps.checkpoints.remove(id);
    return 'cancelled';
  }
  const status = await deps.jobs.status(id);
  if (!status || TERMINAL.includes(status)) return 'finished';
  await deps.control.requestCancel(id, keepModel);
  return 'requested';
}
