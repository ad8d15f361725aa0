import { AppError } from '../errors.ts';
import type { JobStore } from '../queue/job-store.ts';
import type { JobRequest } from '../schemas/job-request.ts';
import { ModelStore } from '../storage/model-store.ts';
import { planJob } from './plan.ts';
import { train, type TrainingSink } from './train.ts';

export interface RunDeps {
  jobs: JobStore;
  models: ModelStore;
  backend: string;
  maxParams: number;
}

export type RunOutcome = { status: 'completed'; modelId: string } | { status: 'skipped'; reason: string };

/**
 * Runs one training job from its stored record: running -> fit -> evaluate -> save ->
 * completed. A deterministic failure (an AppError: bad data, NaN loss) marks the job failed
 * and is rethrown for the caller not to retry; anything else is rethrown as transient.
 */
export async function runJob(deps: RunDeps, jobId: string): Promise<RunOutcome> {
  const { jobs, models } = deps;
  const record = await jobs.get(jobId);
  if (!record) return { status: 'skipped', reason: 'the job record no longer exists' };
  const started = await jobs.transition(jobId, ['queued', 'running'], 'running', {
    startedAt: new Date().toISOString(),
    backend: deps.backend,
    attempts: record.attempts + 1,
    history: {},
    progress: { epoch: 0, epochs: record.progress.epochs },
  });
  if (!started) return { status: 'skipped', reason: `the job is ${(await jobs.get(jobId, false))?.status}` };

  const request = record.request as JobRequest;
  try {
    const plan = planJob(request, deps.maxParams);
    const sink: TrainingSink = {
      epoch: (report, history) => jobs.recordEpoch(jobId, report, history),
      batch: (report) => jobs.appendEvent(jobId, 'batch', report),
      evaluation: (metrics) => jobs.recordEvaluation(jobId, metrics),
    };
    const result = await train(plan, request.data, sink, jobId);
    try {
      const modelId = ModelStore.newId();
      const last = Object.fromEntries(Object.entries(result.history).map(([k, v]) => [k, v[v.length - 1]]));
      await result.model.save(
        models.writer({
          id: modelId,
          name: record.name,
          jobId,
          createdAt: new Date().toISOString(),
          backend: deps.backend,
          summary: plan.summary,
          compile: plan.compile,
          transforms: plan.transforms,
          metrics: last,
          evaluation: result.evaluation,
        }),
      );
      if (!(await jobs.transition(jobId, ['running'], 'completed', { modelId }))) {
        await models.delete(modelId); // cancelled meanwhile: keep nothing half-owned
        return { status: 'skipped', reason: 'the job left running while it was saved' };
      }
      return { status: 'completed', modelId };
    } finally {
      result.model.dispose();
    }
  } catch (err) {
    if (err instanceof AppError) {
      await jobs.transition(jobId, ['running'], 'failed', { error: { code: err.code, message: err.message } });
    }
    throw err;
  }
}
