import type { Config } from '../../config.ts';
import type { JobStatus } from '../../schemas/job-status.ts';
import type { Stores } from '../stores.ts';
import type { TrainingQueue } from '../training-queue.ts';
import { TRIAL_DONE, type Trial, type TrialStatus } from '../../schemas/sweep.ts';
import type { RegistryStore } from '../../storage/registry-store.ts';
import { cancelJob, type CancelDeps } from '../cancel-job.ts';
import type { JobRecord } from '../job-record.ts';
import { ParentGoneError, QuotaError } from '../job-store.ts';
import { queueJob, type QueueJobDeps } from '../queue-job.ts';
import { registerJobModel } from '../register-model.ts';
import { applyParameters } from './space.ts';
import { better, bestOf } from './stopping.ts';
import { type SweepRecord, type SweepStore, trialEvent } from './sweep-store.ts';

export interface SweepDeps extends QueueJobDeps, CancelDeps {
  sweeps: SweepStore;
  registry?: RegistryStore;
}

/** What reconciling sweeps (and queueing a job) needs, from the stores, a queue and the config. */
export const sweepDeps = (
  stores: Pick<Stores, 'jobs' | 'checkpoints' | 'control' | 'sweeps' | 'registry'>,
  queue: TrainingQueue,
  config: Pick<Config, 'TENANT_MAX_QUEUED_JOBS' | 'JOB_ATTEMPTS' | 'JOB_RETRY_DELAY_MS'>,
): SweepDeps => ({
  jobs: stores.jobs,
  checkpoints: stores.checkpoints,
  control: stores.control,
  sweeps: stores.sweeps,
  registry: stores.registry,
  queue,
  maxQueued: config.TENANT_MAX_QUEUED_JOBS,
  attempts: config.JOB_ATTEMPTS,
  retryDelayMs: config.JOB_RETRY_DELAY_MS,
});

/**
 * Brings a sweep up to date with its trials' jobs, and is the only writer of its trials: each
 * trial's status follows its job's (a `trial` event for every change, `best` when a finished
 * trial beats the best), pending trials are launched while fewer than `parallelism` are queued
 * or running, a cancelled sweep cancels what still runs, and once every trial is done the
 * sweep ends (its best model registered if asked, then `end`).
 *
 * It is idempotent and runs under the sweep's lock, so it is safe to call from anywhere at any
 * time: after a trial starts or ends (the worker), after a submit or a cancel (the API), and
 * every few seconds for every active sweep (each worker), which is what carries a sweep over
 * a crash between a trial's end and its reconcile. A trial's job id is chosen at submit, so a
 * trial launched twice is one job.
 */
export async function reconcileSweep(deps: SweepDeps, id: string): Promise<void> {
  await deps.sweeps.exclusive(id, () => step(deps, id));
}

async function step(deps: SweepDeps, id: string) {
  const { sweeps } = deps;
  const record = await sweeps.record(id);
  if (!record || !['running', 'cancelling'].includes(record.status)) return;
  const trials = await sweeps.trials(id);
  const stopped = await sweeps.stopped(id);
  const changed: Trial[] = [];
  const events: { event: string; data: unknown }[] = [];
  let best = record.best;
  const metric = record.objective.metric;

  for (const trial of trials) {
    if (trial.jobId === null || TRIAL_DONE.includes(trial.status)) continue;
    const job = await deps.jobs.get(trial.jobId, false);
    const next = job ? follow(trial, job, stopped.has(trial.index), metric, record.objective.goal) : gone(trial);
    if (JSON.stringify(next) === JSON.stringify(trial)) continue;
    const moved = next.status !== trial.status;
    // A short trial can start and end between two reconciles: its stream still shows it ran.
    const ranUnseen = moved && trial.status === 'queued' && next.status !== 'running' && Boolean(next.startedAt);
    Object.assign(trial, next);
    changed.push(trial);
    // Its epochs and times are kept up to date; a `trial` event is for a transition.
    if (ranUnseen) events.push({ event: 'trial', data: trialEvent({ ...trial, status: 'running', objective: null }) });
    if (moved) events.push({ event: 'trial', data: trialEvent(trial) });
    if (
      (trial.status === 'completed' || trial.status === 'stopped') &&
      trial.objective !== null &&
      trial.modelId !== null &&
      (best === null || better(record.objective.goal, trial.objective, best.objective))
    ) {
      best = { index: trial.index, objective: trial.objective, modelId: trial.modelId };
      events.push({ event: 'best', data: { index: best.index, objective: best.objective } });
    }
  }
  if (changed.length > 0) await sweeps.write(id, { trials: changed, fields: { best }, events });

  if (record.status === 'cancelling') await cancelTrials(deps, record, trials);
  else await launch(deps, record, trials);

  if (trials.every((t) => TRIAL_DONE.includes(t.status))) await finish(deps, { ...record, best }, trials);
}

/** A trial as its job now stands. */
function follow(trial: Trial, job: JobRecord, stoppedBySearch: boolean, metric: string, goal: 'min' | 'max'): Trial {
  const status: TrialStatus = job.status === 'completed' && stoppedBySearch ? 'stopped' : (job.status as JobStatus);
  return {
    ...trial,
    status,
    objective: bestOf(goal, job.history[metric] ?? []),
    epochs: job.progress.epoch,
    modelId: job.modelId,
    error: job.error,
    startedAt: job.startedAt,
    finishedAt: job.finishedAt,
  };
}

/** A trial whose job is gone (removed by hand, or expired): it is accounted for as failed. */
const gone = (trial: Trial): Trial => ({
  ...trial,
  status: 'failed',
  error: { code: 'job_missing', message: `the trial's job ${trial.jobId} no longer exists` },
  finishedAt: new Date().toISOString(),
});

/** Launches pending trials, lowest index first, while fewer than `parallelism` are queued or running. */
async function launch(deps: SweepDeps, record: SweepRecord, trials: Trial[]) {
  let active = trials.filter((t) => t.status === 'queued' || t.status === 'running').length;
  let inline: Promise<string | undefined> | undefined; // read once, on the first launch that needs it
  for (const trial of trials) {
    if (active >= record.parallelism) return;
    if (trial.status !== 'pending') continue;
    const plan = await deps.sweeps.plan(record.id, trial.index);
    inline ??= record.inlineData
      ? deps.checkpoints.loadInline(record.id).then((arrays) => arrays && JSON.stringify(arrays))
      : Promise.resolve(undefined);
    try {
      const job = await queueJob(
        deps,
        {
          id: plan.jobId,
          name: `${record.name}-trial-${trial.index}`,
          tenant: record.tenant,
          request: applyParameters(record.request.job, trial.parameters),
          inlineData: record.inlineData,
          epochs: plan.epochs,
          summary: plan.summary,
          sweep: { id: record.id, trial: trial.index },
          // A fine-tuning sweep's trials pin the model they start from, as a fine-tuning job does.
          parentModelId: record.request.job.model.from,
        },
        await inline,
      );
      Object.assign(trial, { status: job.status, jobId: job.id });
    } catch (err) {
      // The tenant's queue is full: its other jobs go first; a later reconcile launches this one.
      if (err instanceof QuotaError) return;
      if (!(err instanceof ParentGoneError)) throw err;
      // The model a fine-tuning sweep starts from was deleted: this trial cannot run.
      const error = { code: 'parent_missing', message: err.message };
      Object.assign(trial, { status: 'failed', error, finishedAt: new Date().toISOString() });
    }
    await deps.sweeps.write(record.id, { trials: [trial], events: [{ event: 'trial', data: trialEvent(trial) }] });
    if ((trial.status as Trial['status']) !== 'failed') active++;
  }
}

/** A cancelled sweep: pending trials are cancelled here, queued and running ones through their jobs. */
async function cancelTrials(deps: SweepDeps, record: SweepRecord, trials: Trial[]) {
  let cancelledNow = false;
  for (const trial of trials) {
    if (TRIAL_DONE.includes(trial.status)) continue;
    if (trial.jobId === null) {
      Object.assign(trial, { status: 'cancelled', finishedAt: new Date().toISOString() });
      await deps.sweeps.write(record.id, { trials: [trial], events: [{ event: 'trial', data: trialEvent(trial) }] });
      continue;
    }
    // Its job moves to cancelled now (queued) or soon (running: its worker reconciles when it stops).
    if ((await cancelJob(deps, trial.jobId)) === 'cancelled') cancelledNow = true;
  }
  // Queued jobs were cancelled at once: take their status in now rather than at the next reconcile.
  if (cancelledNow) await deps.sweeps.redis.set(deps.sweeps.keys.sweep(record.id).dirty, '1', 'PX', 30_000);
}

/** Every trial is done: the sweep ends, its best model registered first if the request asked. */
async function finish(deps: SweepDeps, record: SweepRecord, trials: Trial[]) {
  const { best } = record;
  const status = record.status === 'cancelling' ? 'cancelled' : best ? 'completed' : 'failed';
  const fields: Partial<SweepRecord> = { status, best };
  if (status === 'failed') {
    const failed = trials.find((t) => t.error);
    fields.error = {
      code: 'no_trial_succeeded',
      message: failed
        ? `no trial finished with a value of ${record.objective.metric}; trial ${failed.index}: ${failed.error?.message}`
        : `no trial logged ${record.objective.metric} (is it a metric the job logs, e.g. val_loss with a validation split?)`,
    };
  }
  if (status === 'completed' && best && record.request.register && deps.registry) {
    const registration = await registerJobModel(deps.registry, record.tenant, record.request.register, best.modelId);
    Object.assign(fields, registration.fields);
  }
  if (record.inlineData) await deps.checkpoints.remove(record.id);
  await deps.sweeps.finish(record.id, fields, { status, best, ...(fields.error ? { error: fields.error } : {}) });
}
