import * as tf from '@tensorflow/tfjs';
import type { StoredDataset } from '../data/dataset-meta.ts';
import type { JobRequest } from '../schemas/job-request.ts';
import { threadOutput, type ThreadOutput, WARM_UP } from './thread-call.ts';
import { planJob, type ParentModel, type PlanLimits, type TrainingPlan } from './plan.ts';

/**
 * The dry run's thread (see dry-run.ts). It builds models on the plain-JS `cpu` backend, its
 * own: nothing it allocates lives in the API's backend, which predict shares between tenants.
 */
const ready = tf.setBackend('cpu').then(() => tf.ready());

export interface DryRunInput {
  request: JobRequest;
  limits: PlanLimits;
  /** The job's uploaded datasets, as entries: a Map's extra fields do not cross threads. */
  datasets?: { entries: [string, StoredDataset][]; memoryLimitBytes?: number };
  /** A fine-tuning job's parent, as the API read it (no weights: the dry run builds with zeros). */
  parent?: ParentModel;
}

/** What the API needs of a plan: the rest is made again by the worker that trains it. */
export type DryRunResult = Pick<TrainingPlan, 'summary' | 'estimates' | 'warnings' | 'compile'> & { epochs: number };

export default async function dryRun(
  input: DryRunInput | typeof WARM_UP,
): Promise<ThreadOutput<DryRunResult> | undefined> {
  await ready;
  if (input === WARM_UP) return undefined;
  const { request, limits, datasets, parent } = input;
  const catalog = datasets
    ? Object.assign(new Map(datasets.entries), { memoryLimitBytes: datasets.memoryLimitBytes })
    : undefined;
  try {
    return await threadOutput(() => {
      const plan = planJob(request, { ...limits, shapesOnly: true }, catalog, parent);
      const { summary, estimates, warnings, compile } = plan;
      return { summary, estimates, warnings, compile, epochs: plan.fit.epochs };
    });
  } finally {
    tf.disposeVariables();
  }
}
