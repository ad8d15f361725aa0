import { TypeCompiler } from '@sinclair/typebox/compiler';
import { AppError } from '../errors.ts';
import { separateInline } from '../data/inline.ts';
import { planTrials } from '../jobs/sweeps/plan-trials.ts';
import { applyParameters, checkSpace, parameterPath, type Parameters } from '../jobs/sweeps/space.ts';
import type { TrialPlan } from '../jobs/sweeps/sweep-store.ts';
import { JobRequest } from '../schemas/job-request.ts';
import type { SweepRequest } from '../schemas/sweep.ts';
import type { Tenant } from '../tenant.ts';
import { planLimits } from '../training/plan.ts';
import { resolveJobParent } from './jobs.ts';
import type { Services } from './services.ts';
import { v7 as uuidv7 } from 'uuid';

const jobSchema = TypeCompiler.Compile(JobRequest);

/**
 * A sweep checked as a whole before anything is stored: the space (400), the cap on trials,
 * the objective against the job, and then every trial: its job request against the schema and
 * through a dry run, one at a time so a sweep holds one dry-run thread. Trials that differ
 * only in float parameters (a learning rate) build the same model: one dry run serves them.
 */
export async function planSweep(services: Services, request: SweepRequest, tenant: Tenant) {
  const { config } = services;
  if (request.maxTrials > config.MAX_SWEEP_TRIALS) {
    const message = `is ${request.maxTrials}, above the ${config.MAX_SWEEP_TRIALS} trials a sweep may run (MAX_SWEEP_TRIALS)`;
    throw new AppError(400, 'too_many_trials', `/maxTrials ${message}`, [{ path: '/maxTrials', message }]);
  }
  const { body: job, parent } = await resolveJobParent(services, request.job, tenant);
  checkSpace(job, request.parameters);
  checkObjective(request, job);
  const trials = planTrials(request);
  const floats = Object.entries(request.parameters).flatMap(([p, d]) => ('scale' in d ? [[p, d.min] as const] : []));
  const catalog = await services.datasets.catalog(job.data, tenant);
  const built = new Map<string, Omit<TrialPlan, 'jobId'>>();
  const plans: TrialPlan[] = [];
  const deadline = Date.now() + config.SWEEP_CHECK_BUDGET_MS;
  for (const [index, parameters] of trials.entries()) {
    if (Date.now() > deadline) throw overBudget(index, trials.length, config.SWEEP_CHECK_BUDGET_MS);
    const trialJob = applyParameters(job, parameters);
    if (!jobSchema.Check(trialJob)) throw badTrial(index, parameters, jobSchema.Errors(trialJob).First());
    const shape = JSON.stringify(applyParameters(trialJob, Object.fromEntries(floats)));
    let plan = built.get(shape);
    if (!plan) {
      const dry = await services.dryRuns.run(trialJob, planLimits(config), catalog, parent).catch((err: unknown) => {
        if (err instanceof AppError && err.status < 500) throw inTrial(err, index, parameters);
        throw err;
      });
      plan = { summary: dry.summary, epochs: dry.epochs };
      built.set(shape, plan);
    }
    plans.push({ ...plan, jobId: uuidv7() });
  }
  const { request: stored, arrays, samples } = separateInline(job);
  const inlineJson = arrays && JSON.stringify(arrays);
  const inlineData = samples && inlineJson ? { samples, bytes: Buffer.byteLength(inlineJson) } : undefined;
  return { job: stored, trials, plans, inlineJson, inlineData };
}

function overBudget(checked: number, total: number, budgetMs: number) {
  const message = `checking the trials took longer than ${budgetMs.toLocaleString('en')} ms (SWEEP_CHECK_BUDGET_MS) after ${checked} of ${total}; use fewer trials or a smaller model`;
  return new AppError(422, 'sweep_check_budget', message, [{ path: '/maxTrials', message }]);
}

const describe = (parameters: Parameters) =>
  Object.entries(parameters)
    .map(([p, v]) => `${p}=${JSON.stringify(v)}`)
    .join(', ');

function badTrial(index: number, parameters: Parameters, first: { path: string; message: string } | undefined) {
  const pointer = Object.keys(parameters).find((p) => first?.path.startsWith(p)) ?? Object.keys(parameters)[0];
  const message = `trial ${index} (${describe(parameters)}) is not a valid job: ${first?.path || '/'} ${first?.message ?? ''}`;
  return new AppError(422, 'invalid_trial', message, [{ path: parameterPath(pointer), message }]);
}

/** A field error of a trial's job, named as the parameter that set it when one did, else as the base job's field. */
function pathIn(path: string, parameters: Parameters) {
  const pointer = Object.keys(parameters).find((p) => path === p || path.startsWith(`${p}/`));
  return pointer ? parameterPath(pointer) : `/job${path}`;
}

/** A trial's dry-run failure, said as that trial's: which parameters, and the job's own field errors. */
function inTrial(err: AppError, index: number, parameters: Parameters) {
  const prefix = `trial ${index} (${describe(parameters)})`;
  return new AppError(
    err.status,
    err.code,
    `${prefix}: ${err.message}`,
    err.errors.map((e) => ({ path: pathIn(e.path, parameters), message: `${prefix}: ${e.message}` })),
    err.headers,
  );
}

/**
 * A `val_` objective is measured on validation data, which the job must hold out. (Whether a
 * metric is logged at all depends on its spelling in tfjs, e.g. accuracy logs as `acc`: a
 * sweep whose trials never log it ends `failed`, saying so.)
 */
function checkObjective(request: SweepRequest, job: SweepRequest['job']) {
  if (!request.objective.metric.startsWith('val_') || job.fit?.validationSplit) return;
  const message = 'is measured on validation data, but the job has no fit.validationSplit';
  throw new AppError(400, 'invalid_objective', `/objective/metric ${message}`, [
    { path: '/objective/metric', message },
  ]);
}
