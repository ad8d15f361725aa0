import { Type, type Static } from '@sinclair/typebox';
import { Queue, type ConnectionOptions } from 'bullmq';
import { Id } from '../schemas/common.ts';

/** The BullMQ queue's name (under the configured prefix); the worker consumes the same one. */
export const TRAINING_QUEUE = 'training';

/** What BullMQ carries: only the id. The job's request lives in its record, written once. */
export const TrainingJobData = Type.Object({ jobId: Id }, { additionalProperties: false });
export type TrainingJobData = Static<typeof TrainingJobData>;

export interface QueueSettings {
  connection: ConnectionOptions;
  prefix: string;
  attempts: number;
}

/** The queue's type, for modules that hold one: bullmq itself is imported here alone. */
export type TrainingQueue = Queue<TrainingJobData>;

export function createTrainingQueue({ connection, prefix }: QueueSettings) {
  return new Queue<TrainingJobData>(TRAINING_QUEUE, { connection, prefix });
}

/** BullMQ's largest priority. */
const MAX_PRIORITY = 2 ** 21 - 1;

/**
 * Queues a job under its own id. Retries (a crashed worker, a lost connection) back off
 * exponentially; deterministic failures are thrown as UnrecoverableError and never retry.
 * The record is the source of truth, so BullMQ's copies are trimmed.
 *
 * Fair share between tenants: a job's priority is 1 + the jobs its tenant already had queued
 * or running (`ahead`), and BullMQ serves lower numbers first, FIFO within one. So the n-th
 * waiting job of every tenant goes before the (n+1)-th of any: one tenant's 100 queued jobs
 * do not hold back another tenant's first.
 */
export async function enqueueTraining(
  queue: Queue<TrainingJobData>,
  jobId: string,
  attempts: number,
  retryDelayMs = 5_000,
  ahead = 0,
) {
  await queue.add(
    'train',
    { jobId },
    {
      jobId,
      priority: Math.min(1 + ahead, MAX_PRIORITY),
      attempts,
      backoff: { type: 'exponential', delay: retryDelayMs },
      removeOnComplete: { age: 3_600, count: 1_000 },
      removeOnFail: { age: 7 * 24 * 3_600 },
    },
  );
}

/**
 * 1-based positions of waiting jobs in the order workers take them; jobs deferred because
 * their tenant runs its maximum (`delayed`) come last.
 */
export async function queuePositions(queue: Queue<TrainingJobData>): Promise<Map<string, number>> {
  const ids = [
    ...(await queue.getRanges(['prioritized', 'wait'], 0, -1, true)),
    ...(await queue.getRanges(['delayed'], 0, -1, true)),
  ];
  return new Map(ids.map((id, i) => [id, i + 1]));
}
