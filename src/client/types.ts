/**
 * What the client sends and gets back, all derived from the service's TypeBox schemas
 * (src/schemas/), so they cannot drift from what the routes validate and answer.
 */
import type { Static } from '@sinclair/typebox';
import type { Problem } from '../schemas/common.ts';
import type { Dataset, DatasetList, DatasetListQuery, UploadQuery } from '../schemas/dataset.ts';
import type { EvaluationReport } from '../schemas/evaluation.ts';
import type { CancelRequest, Job as JobSchema, JobList as JobListSchema, JobListQuery } from '../schemas/job.ts';
import type { JobEventData, JobEventName } from '../schemas/job-event.ts';
import type { JobRequest as JobRequestSchema } from '../schemas/job-request.ts';
import type { JobStatus } from '../schemas/job-status.ts';
import type {
  Alias as AliasSchema,
  AliasMove as AliasMoveSchema,
  CreateVersionRequest,
  RegisteredModel as RegisteredModelSchema,
  RegisteredModelQuery,
  RegistryList,
  RegistryListQuery,
  RegistryVersion as RegistryVersionSchema,
  RegistryVersionDetail as RegistryVersionDetailSchema,
} from '../schemas/registry.ts';
import type {
  Model as ModelSchema,
  ModelList,
  ModelListQuery,
  PredictRequest,
  PredictResponse as PredictResponseSchema,
  ValidationReport as ValidationReportSchema,
} from '../schemas/model.ts';
import type {
  Objective,
  Strategy,
  SweepEventData,
  SweepEventName,
  Sweep as SweepSchema,
  SweepList,
  SweepListQuery as SweepListQuerySchema,
  SweepRequest as SweepRequestSchema,
  SweepStatus,
  Trial,
  TrialStatus,
} from '../schemas/sweep.ts';

export type {
  CancelRequest,
  Dataset,
  DatasetListQuery,
  EvaluationReport,
  JobEventName,
  JobListQuery,
  JobStatus,
  ModelListQuery,
  PredictRequest,
  Problem,
  CreateVersionRequest,
  RegisteredModelQuery,
  RegistryListQuery,
  UploadQuery,
  Objective,
  Strategy,
  SweepEventName,
  SweepStatus,
  Trial,
  TrialStatus,
};

/**
 * An evaluation's metrics are numbers under any name (loss, acc, r2, ...): the schema says so
 * with `additionalProperties`, which Static drops, so its `EvaluationReport` stands in.
 */
type WithEvaluation<T extends { evaluation: unknown }> = Omit<T, 'evaluation'> & {
  evaluation: EvaluationReport | null;
};

export type Job = WithEvaluation<Static<typeof JobSchema>>;
export type Model = WithEvaluation<Static<typeof ModelSchema>>;
type EventData = Omit<{ [E in JobEventName]: Static<(typeof JobEventData)[E]> }, 'evaluation'> & {
  evaluation: { metrics: EvaluationReport };
};
/** One event of a job's stream, `data` typed by `event`: narrow on `event` to read it. */
export type JobEvent = { [E in JobEventName]: { id: string; event: E; data: EventData[E] } }[JobEventName];

/**
 * A job request as sent. The service fills in `fit`'s defaults (epochs 1, batchSize 32, ...),
 * and its schema types the request as the routes see it, defaults filled: here they may be left out.
 */
export type JobRequest = Omit<JobRequestSchema, 'fit'> & { fit?: Partial<NonNullable<JobRequestSchema['fit']>> };

/** A list schema's page with its `items` typed (the schemas refer to them by $ref, which Static leaves unknown). */
type Page<List, Item> = Omit<List, 'items'> & { items: Item[] };

export type JobPage = Page<Static<typeof JobListSchema>, Job>;
export type ModelPage = Page<Static<typeof ModelList>, Model>;
export type DatasetPage = Page<Static<typeof DatasetList>, Dataset>;
/** The answer to rows (`instances`, what this client sends): `predictions` is always there. */
export type PredictResponse = Omit<Static<typeof PredictResponseSchema>, 'predictions' | 'outputs'> & {
  predictions: unknown[];
};
export type RegistryPage = Static<typeof RegistryList>;
export type RegisteredModel = Static<typeof RegisteredModelSchema>;
export type RegistryVersion = Static<typeof RegistryVersionSchema>;
export type RegistryVersionDetail = Static<typeof RegistryVersionDetailSchema>;
export type AliasMove = Static<typeof AliasMoveSchema>;
export type Alias = Static<typeof AliasSchema>;
/** A registered model to predict with: its latest version, a version by number, or the version an alias points at. */
export type RegisteredRef = { name: string; version?: number; alias?: string };
export type ValidationReport = Static<typeof ValidationReportSchema>;
/** The `end` event's data: how the job ended. */
export type JobEnd = Extract<JobEvent, { event: 'end' }>['data'];

/** A sweep request as sent: its base `job` is a JobRequest as sent (fit's defaults may be left out). */
export type SweepRequest = Omit<SweepRequestSchema, 'job'> & { job: JobRequest };
export type Sweep = Static<typeof SweepSchema>;
export type SweepPage = Static<typeof SweepList>;
export type SweepListQuery = Static<typeof SweepListQuerySchema>;
/** One event of a sweep's stream, `data` typed by `event`: narrow on `event` to read it. */
export type SweepEvent = {
  [E in SweepEventName]: { id: string; event: E; data: Static<(typeof SweepEventData)[E]> };
}[SweepEventName];
/** The `end` event's data: how the sweep ended and its best trial. */
export type SweepEnd = Extract<SweepEvent, { event: 'end' }>['data'];
