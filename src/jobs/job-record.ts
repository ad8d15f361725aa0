import type { EvaluationReport } from '../schemas/evaluation.ts';
import type { Job } from '../schemas/job.ts';
import type { JobStatus } from '../schemas/job-status.ts';
import { LOCAL_TENANT } from '../tenant.ts';

// A job record and its Redis hash: which fields there are, which hold JSON, and the codec.

/** A job as stored: the API's `Job` (schemas/job.ts) less `queuePosition`, which is read live. */
export type JobRecord = Omit<Job, 'queuePosition' | 'evaluation'> & {
  /** The full report (its class table typed), as the schema's `additionalProperties` allows. */
  evaluation: EvaluationReport | null;
};

export type JobError = NonNullable<JobRecord['error']>;

const JSON_FIELDS = [
  'progress',
  'history',
  'evaluation',
  'error',
  'summary',
  'request',
  'inlineData',
  'registered',
  'registrationError',
  'sweep',
] as const;
export const LIST_FIELDS = [
  'id',
  'name',
  'tenant',
  'status',
  'createdAt',
  'startedAt',
  'finishedAt',
  'progress',
  'backend',
  'history',
  'evaluation',
  'modelId',
  'error',
  'registered',
  'registrationError',
  'sweep',
  'attempts',
];
/** Every field of a record but `request`, the largest. */
export const RECORD_FIELDS = [...LIST_FIELDS, 'summary', 'inlineData'];

/** A record's fields as hash values: JSON for the structured ones and for nulls. */
export function serialize(record: Partial<JobRecord>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(record)) {
    if (value === undefined) continue;
    out[key] =
      (JSON_FIELDS as readonly string[]).includes(key) || value === null ? JSON.stringify(value) : String(value);
  }
  return out;
}

/** A record from its hash (fields an older version did not write get their defaults). */
export function deserialize(raw: Record<string, string | null>): JobRecord {
  const nullable = (v: string | null | undefined) => (v === undefined || v === null || v === 'null' ? null : v);
  const parse = (v: string | null | undefined) => (v ? JSON.parse(v) : null);
  return {
    id: raw.id!,
    name: raw.name ?? '',
    tenant: raw.tenant ?? LOCAL_TENANT.id,
    status: raw.status as JobStatus,
    createdAt: raw.createdAt!,
    startedAt: nullable(raw.startedAt),
    finishedAt: nullable(raw.finishedAt),
    progress: parse(raw.progress) ?? { epoch: 0, epochs: 0 },
    backend: nullable(raw.backend),
    history: parse(raw.history) ?? {},
    evaluation: parse(raw.evaluation),
    modelId: nullable(raw.modelId),
    error: parse(raw.error),
    attempts: Number(raw.attempts ?? 0),
    ...(raw.registered ? { registered: parse(raw.registered) } : {}),
    ...(raw.sweep ? { sweep: parse(raw.sweep) } : {}),
    ...(raw.registrationError ? { registrationError: parse(raw.registrationError) } : {}),
    ...(raw.summary ? { summary: parse(raw.summary) } : {}),
    ...(raw.request !== undefined ? { request: parse(raw.request) } : {}),
    ...(raw.inlineData ? { inlineData: parse(raw.inlineData) } : {}),
  };
}
