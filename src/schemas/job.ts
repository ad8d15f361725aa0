import { Type, type Static } from '@sinclair/typebox';
import { JOB_STATUSES } from './job-status.ts';
import { Id, Nullable, PageQuery } from './common.ts';
import { Evaluation } from './evaluation.ts';
import { ModelSummary } from './model.ts';
import { TrialLink } from './sweep.ts';

export const JobStatus = Type.Union(JOB_STATUSES.map((s) => Type.Literal(s)));

export const Job = Type.Object(
  {
    id: Id,
    name: Type.String(),
    tenant: Type.String({ description: 'the tenant that submitted it' }),
    status: JobStatus,
    createdAt: Type.String({ format: 'date-time' }),
    startedAt: Nullable(Type.String({ format: 'date-time' })),
    finishedAt: Nullable(Type.String({ format: 'date-time' })),
    progress: Type.Object({ epoch: Type.Integer(), epochs: Type.Integer() }),
    queuePosition: Nullable(Type.Integer({ minimum: 1, description: '1 = next to start; null unless queued' })),
    backend: Nullable(Type.String({ description: 'the worker backend: tensorflow, wasm or cpu' })),
    history: Type.Record(Type.String(), Type.Array(Type.Number()), {
      description: "Keras's History.history: metric -> one value per epoch",
    }),
    evaluation: Nullable(Evaluation),
    modelId: Nullable(Id),
    error: Nullable(Type.Object({ code: Type.String(), message: Type.String() })),
    registered: Type.Optional(
      Type.Object(
        { name: Type.String(), version: Type.Integer({ minimum: 1 }) },
        { description: "the registry version the job's model became (the request's `register`), once it completed" },
      ),
    ),
    registrationError: Type.Optional(
      Type.Object(
        { code: Type.String(), message: Type.String() },
        {
          description:
            "why a completed job's model was not registered as the request's `register` asked (`registry_quota`: a registry cap was reached); the model is kept and the job completed",
        },
      ),
    ),
    sweep: Type.Optional(TrialLink),
    attempts: Type.Integer(),
    summary: Type.Optional(ModelSummary),
    request: Type.Optional(
      Type.Unknown({
        description:
          'the job request as accepted (Keras spellings normalized, defaults filled), less its inline arrays (see inlineData)',
      }),
    ),
    inlineData: Type.Optional(
      Type.Object(
        {
          samples: Type.Record(Type.String(), Type.Integer(), {
            description: 'samples per field, e.g. {"x": 2400, "y": 2400}',
          }),
          bytes: Type.Integer(),
        },
        {
          description:
            "the inline data.x/y/xTest/yTest the request carried: kept beside the job's checkpoints (not in Redis, not echoed in answers) until the job ends, then deleted",
        },
      ),
    ),
  },
  { $id: 'Job' },
);
export type Job = Static<typeof Job>;

export const JobList = Type.Object({ items: Type.Array(Type.Ref('Job')), nextCursor: Nullable(Type.String()) });

export const JobListQuery = Type.Object(
  { status: Type.Optional(JobStatus), ...PageQuery },
  { additionalProperties: false },
);
export type JobListQuery = Static<typeof JobListQuery>;

/** POST /v1/jobs/{id}/cancel: optional, as are its fields. */
export const CancelRequest = Type.Object(
  {
    keepModel: Type.Optional(
      Type.Boolean({ default: false, description: 'store the model as trained so far (running jobs)' }),
    ),
  },
  { additionalProperties: false },
);
export type CancelRequest = Static<typeof CancelRequest>;
