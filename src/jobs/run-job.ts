import { AppError } from '../errors.ts';
import type { JobControl } from './job-control.ts';
import type { JobRecord } from './job-record.ts';
import type { JobStore } from './job-store.ts';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { JobRequest } from '../schemas/job-request.ts';
import type { CheckpointStore } from '../storage/checkpoint-store.ts';
import type { RegistryStore } from '../storage/registry-store.ts';
import type { DatasetStore, OpenCatalog } from '../storage/dataset-store.ts';
import { StoreUnavailableError } from '../storage/object-store.ts';
import { ModelStore } from '../storage/model-store.ts';
import { planJob, type PlanLimits, type TrainingPlan } from '../training/plan.ts';
import { JobSupervisor } from './supervision.ts';
import type { TrainingResult, TrainingSink } from '../training/fit.ts';
import { train } from '../training/train.ts';
import { disposeModel } from '../model/dispose.ts';
import { WORKER_HISTOGRAMS, type Observation, type RunOutcomeLabel, type WorkerMetrics } from './job-metrics.ts';
import { registerJobModel } from './register-model.ts';
import { loadParent } from './model-parent.ts';
import type { SweepStore } from './sweeps/sweep-store.ts';
import { trialEpoch } from './sweeps/trial-epochs.ts';

export interface RunDeps {
  /** Uploaded datasets; without it, jobs can use built-in and inline data only. */
  datasets?: DatasetStore;
  jobs: JobStore;
  models: ModelStore;
  /** The model registry: a request's `register` needs it (without it, `register` is ignored). */
  registry?: RegistryStore;
  control: JobControl;
  checkpoints: CheckpointStore;
  backend: string;
  maxParams: number;
  /**
   * Every cap the API checks at submit (planLimits(config)), checked again here against this
   * worker's own config: a job queued under looser limits, or written to Redis by anything but
   * the API, fails with the limit's code instead of exhausting the worker. Without it, only maxParams.
   */
  limits?: PlanLimits;
  /** Checkpoint every this many epochs. */
  checkpointEvery: number;
  /** Jobs one tenant may have running at once (TENANT_MAX_RUNNING_JOBS; 0: no limit). */
  maxRunningPerTenant?: number;
  /** Where run, queue-wait and epoch timings go (Redis-held histograms the API reports); none: not recorded. */
  metrics?: WorkerMetrics;
  /** Sweeps: a trial reports its epochs to its sweep, which may stop it, and the sweep follows its start and end. */
  sweeps?: { store: SweepStore; reconcile(id: string): Promise<void> };
}

export type RunOutcome =
  | { status: 'completed' | 'cancelled' | 'timed-out'; modelId: string | null }
  | { status: 'yielded' }
  /** The tenant already runs its maximum: the job stays queued and is tried again later. */
  | { status: 'deferred' }
  | { status: 'skipped'; reason: string };

/**
 * Runs one training job from its stored record: running -> fit -> evaluate -> save ->
 * completed, resuming from the job's checkpoint when an earlier attempt left one. Stops at
 * the next batch when the job is cancelled, its worker shuts down (`yielded`: back to the
 * queue) or its time is up. A deterministic failure (an AppError: bad data, NaN loss) marks
 * the job failed and is rethrown for the caller not to retry; anything else is transient.
 */
export async function runJob(deps: RunDeps, jobId: string): Promise<RunOutcome> {
  const { jobs, checkpoints } = deps;
  const record = await jobs.get(jobId);
  if (!record) return { status: 'skipped', reason: 'the job record no longer exists' };
  const saved = await checkpoints.info(jobId);
  const now = new Date().toISOString();
  const started = await jobs.start(
    jobId,
    {
      startedAt: record.startedAt ?? now,
      backend: deps.backend,
      attempts: record.attempts + 1,
      ...(saved ? {} : { history: {}, progress: { epoch: 0, epochs: record.progress.epochs } }),
    },
    deps.maxRunningPerTenant ?? 0,
  );
  if (started === 'tenant-busy') return { status: 'deferred' };
  if (started === 'refused')
    return { status: 'skipped', reason: `the job is ${(await jobs.get(jobId, false))?.status}` };
  await followSweep(deps, record);
  const runStart = Date.now();
  if (record.startedAt === null)
    await observe(deps, { spec: WORKER_HISTOGRAMS.queueWait, value: (runStart - Date.parse(record.createdAt)) / 1000 });
  let outcome: RunOutcomeLabel | undefined = 'error';
  try {
    const result = await runStarted(deps, record, saved, now);
    outcome = outcomeLabel(result);
    return result;
  } catch (err) {
    if (err instanceof AppError) outcome = 'failed';
    throw err;
  } finally {
    await followSweep(deps, record);
    if (outcome)
      await observe(deps, {
        spec: WORKER_HISTOGRAMS.jobDuration,
        value: (Date.now() - runStart) / 1000,
        label: outcome,
      });
  }
}

/**
 * A trial's sweep takes in its start and its end now (a `trial` event; the next trial
 * launched). Not worth the job: should it fail, every worker reconciles active sweeps every
 * few seconds anyway.
 */
async function followSweep(deps: RunDeps, record: JobRecord) {
  if (!record.sweep || !deps.sweeps) return;
  await deps.sweeps.reconcile(record.sweep.id).catch((err: Error) => {
    console.warn(`sweep ${record.sweep?.id}: reconcile after job ${record.id} failed: ${err.message}`);
  });
}

/** Metrics are not worth a job: a failure to record them is dropped. */
async function observe(deps: RunDeps, ...observations: Observation[]) {
  await deps.metrics?.observe(...observations).catch(() => undefined);
}

/** The `outcome` label of a run that returned (undefined: it did no work worth timing). */
function outcomeLabel(result: RunOutcome): RunOutcomeLabel | undefined {
  switch (result.status) {
    case 'completed':
    case 'cancelled':
    case 'yielded':
      return result.status;
    case 'timed-out':
      return 'timed_out';
    default:
      return undefined;
  }
}

/** The part of `runJob` after the job was moved to running. */
async function runStarted(
  deps: RunDeps,
  record: JobRecord,
  saved: Awaited<ReturnType<CheckpointStore['info']>>,
  now: string,
): Promise<RunOutcome> {
  const { jobs, checkpoints } = deps;
  const jobId = record.id;
  let datasets: OpenCatalog | undefined;
  try {
    const request = await withInlineData(record, checkpoints);
    // Its datasets' files on this machine (fetched into the cache from a remote store), kept until the job is done.
    datasets = await deps.datasets?.open(request.data);
    // A fine-tuning job's parent, as resolved at submit (model.parent), read again here with its weights.
    const from = request.model.from ? (request.model.parent ?? { modelId: request.model.from }) : undefined;
    const parent = from && (await loadParent(deps.models, from));
    const plan = planJob(request, deps.limits ?? deps.maxParams, datasets?.catalog, parent);
    const supervisor = new JobSupervisor(jobId, deps.control, checkpoints, {
      checkpointEvery: deps.checkpointEvery,
      deadline: request.fit?.maxDurationSeconds
        ? Date.parse(record.startedAt ?? now) + request.fit.maxDurationSeconds * 1000
        : undefined,
    });
    const sink: TrainingSink = {
      ...(await epochRecorder(jobs, record, saved, deps.sweeps?.store)),
      supervisor,
      epochTimed: ({ seconds, samples }) =>
        observe(
          deps,
          { spec: WORKER_HISTOGRAMS.epochDuration, value: seconds },
          { spec: WORKER_HISTOGRAMS.samplesPerSecond, value: seconds > 0 ? samples / seconds : Number.NaN },
        ),
    };
    const result = await train(plan, request.data, sink, jobId);
    try {
      return await finish(deps, record, request, plan, result, supervisor);
    } finally {
      disposeModel(result.model);
    }
  } catch (err) {
    if (err instanceof AppError) {
      await jobs.transition(jobId, ['running'], 'failed', { error: { code: err.code, message: err.message } });
      await checkpoints.remove(jobId);
    }
    // The store is away: the job goes back to the queue (its checkpoint stays) and the caller retries it later.
    if (err instanceof StoreUnavailableError) await jobs.transition(jobId, ['running'], 'queued');
    throw err;
  } finally {
    datasets?.release();
  }
}

/** The schema the API checked the request against at submit, compiled once for the worker's own check. */
const storedRequest = TypeCompiler.Compile(JobRequest);

/**
 * The job's request as submitted: its inline arrays, if it had any, come back from beside its
 * checkpoints. What comes out of Redis is checked against the schema, not trusted: a record
 * written by another version of the service, or by hand, fails here with its first mismatch.
 */
async function withInlineData(record: JobRecord, checkpoints: CheckpointStore): Promise<JobRequest> {
  if (!storedRequest.Check(record.request)) {
    const first = storedRequest.Errors(record.request).First();
    throw new AppError(
      422,
      'invalid_stored_request',
      `the stored job request does not match the JobRequest schema${first ? ` at ${first.path || '/'}: ${first.message}` : ''}; submit the job again`,
    );
  }
  const request = record.request;
  if (!record.inlineData) return request;
  const arrays = await checkpoints.loadInline(record.id);
  if (!arrays)
    throw new AppError(
      422,
      'inline_data_missing',
      "the job's inline data is no longer stored (was the data folder cleared?); submit the job again",
    );
  return { ...request, data: { ...request.data, ...arrays } };
}

/**
 * Records epochs so that the stream and `history` show each epoch once across attempts:
 * epochs an earlier attempt already recorded are not recorded again, and epochs its
 * checkpoint holds but that never reached the stream (a crash in between) are recorded now.
 */
async function epochRecorder(
  jobs: JobStore,
  record: JobRecord,
  saved: { epoch: number; history: Record<string, number[]> } | undefined,
  sweeps?: SweepStore,
) {
  // A sweep's trial also reports each epoch to its sweep, which may stop it there.
  const toSweep = (report: { epoch: number; epochs: number; metrics: Record<string, number> }, decide: boolean) =>
    record.sweep && sweeps ? trialEpoch(sweeps, record.sweep, report, decide) : Promise.resolve(false);
  const id = record.id;
  let recorded = saved ? record.progress.epoch : 0;
  const earlier = saved ? record.history : {};
  const merge = (history: Record<string, number[]>) =>
    Object.fromEntries(
      Object.entries(history).map(([k, v]) => [k, [...(earlier[k] ?? []).slice(0, recorded), ...v.slice(recorded)]]),
    );
  if (saved && saved.epoch > recorded) {
    for (let epoch = recorded + 1; epoch <= saved.epoch; epoch++) {
      const metrics = Object.fromEntries(Object.entries(saved.history).map(([k, v]) => [k, v[epoch - 1]]));
      const upTo = Object.fromEntries(Object.entries(saved.history).map(([k, v]) => [k, v.slice(0, epoch)]));
      await jobs.recordEpoch(id, { epoch, epochs: record.progress.epochs, metrics, elapsedMs: 0 }, upTo);
      await toSweep({ epoch, epochs: record.progress.epochs, metrics }, false);
    }
    recorded = saved.epoch;
    Object.assign(earlier, saved.history);
  }
  const sink: Omit<TrainingSink, 'supervisor'> = {
    epoch: async (report, history) => {
      if (report.epoch <= recorded) return;
      await jobs.recordEpoch(id, report, merge(history));
      return (await toSweep(report, true)) ? 'stop' : undefined;
    },
    batch: (report) => jobs.appendEvent(id, 'batch', report),
    evaluation: (metrics) => jobs.recordEvaluation(id, metrics),
  };
  return sink;
}

async function finish(
  deps: RunDeps,
  record: JobRecord,
  request: JobRequest,
  plan: TrainingPlan,
  result: TrainingResult,
  supervisor: JobSupervisor,
): Promise<RunOutcome> {
  const { jobs, checkpoints, control } = deps;
  const { fit } = request;
  const id = record.id;
  switch (result.stopped) {
    case 'yield':
      // Worker shutdown: the last checkpoint stays; the next worker resumes from it.
      await jobs.transition(id, ['running'], 'queued');
      await control.clearYield(id);
      return { status: 'yielded' };
    case 'cancel': {
      const modelId = supervisor.keepModel ? await saveModel(deps, record, plan, result) : null;
      await jobs.transition(id, ['running'], 'cancelled', modelId ? { modelId } : {});
      await checkpoints.remove(id);
      return { status: 'cancelled', modelId };
    }
    case 'timeout': {
      const modelId = fit?.saveModelOnTimeout ? await saveModel(deps, record, plan, result) : null;
      const message = `training stopped after the time limit of ${fit?.maxDurationSeconds} s (fit.maxDurationSeconds)`;
      await jobs.transition(id, ['running'], 'failed', {
        error: { code: 'timeout', message },
        ...(modelId ? { modelId } : {}),
      });
      await checkpoints.remove(id);
      return { status: 'timed-out', modelId };
    }
    default: {
      const modelId = await saveModel(deps, record, plan, result);
      const registration =
        request.register && deps.registry
          ? await registerJobModel(deps.registry, record.tenant, request.register, modelId)
          : undefined;
      const registered = registration?.fields ?? {};
      if (!(await jobs.transition(id, ['running'], 'completed', { modelId, ...registered }))) {
        // Cancelled meanwhile: keep nothing half-owned.
        await registration?.undo();
        await deps.models.delete(modelId);
        return { status: 'skipped', reason: 'the job left running while it was saved' };
      }
      await checkpoints.remove(id);
      return { status: 'completed', modelId };
    }
  }
}

/** What a stored model records of its parent: the id, and the registered name and version `from` named. */
const parentOf = ({ modelId, name, version }: NonNullable<TrainingPlan['parent']>) => ({
  modelId,
  ...(name !== undefined ? { name } : {}),
  ...(version !== undefined ? { version } : {}),
});

/** Saves under one id per job (reserved on first save), so a retried save replaces rather than duplicates. */
async function saveModel(
  deps: RunDeps,
  record: JobRecord,
  plan: TrainingPlan,
  result: TrainingResult,
): Promise<string> {
  const { jobs } = deps;
  await jobs.redis.hsetnx(jobs.keys.job(record.id), 'pendingModelId', ModelStore.newId());
  const modelId = (await jobs.redis.hget(jobs.keys.job(record.id), 'pendingModelId'))!;
  const last = Object.fromEntries(Object.entries(result.history).map(([k, v]) => [k, v[v.length - 1]]));
  await result.model.save(
    deps.models.writer({
      id: modelId,
      name: record.name,
      tenant: record.tenant,
      jobId: record.id,
      createdAt: new Date().toISOString(),
      backend: deps.backend,
      summary: plan.summary,
      compile: plan.compile,
      transforms: result.transforms,
      metrics: last,
      evaluation: result.evaluation,
      ...(plan.parent ? { parent: parentOf(plan.parent) } : {}),
    }),
  );
  return modelId;
}
