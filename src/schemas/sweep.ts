import { Type, type Static } from '@sinclair/typebox';
import { Id, Name, Nullable, PageQuery } from './common.ts';
import { JobRequest } from './job-request.ts';
import { RegisterSpec } from './registry.ts';

// A sweep: one base job, a search space over JSON Pointers into it, a strategy that picks
// the trials, an objective, and the trials (ordinary jobs of the tenant) as they run.

const Values = Type.Object(
  {
    values: Type.Array(Type.Unknown(), {
      minItems: 1,
      maxItems: 100,
      description: 'categorical: each trial takes one of these (any JSON value)',
    }),
  },
  { additionalProperties: false },
);
const FloatRange = Type.Object(
  {
    min: Type.Number(),
    max: Type.Number(),
    scale: Type.Union([Type.Literal('linear'), Type.Literal('log')], {
      description: 'linear: uniform in [min, max]; log: uniform in [log min, log max] (min > 0)',
    }),
    gridPoints: Type.Optional(
      Type.Integer({
        minimum: 2,
        maximum: 20,
        default: 3,
        description: 'a grid takes this many points, ends included',
      }),
    ),
  },
  { additionalProperties: false },
);
const IntRange = Type.Object(
  {
    min: Type.Integer(),
    max: Type.Integer(),
    step: Type.Optional(Type.Integer({ minimum: 1, default: 1, description: 'values min, min+step, ... <= max' })),
  },
  { additionalProperties: false },
);
export const Domain = Type.Union([Values, FloatRange, IntRange], {
  description:
    '{"values": [...]} (categorical), {"min", "max", "scale": "linear"|"log"} (float), {"min", "max", "step"?} (integer)',
});
export type Domain = Static<typeof Domain>;

export const SWEEP_STRATEGIES = ['grid', 'random', 'halving'] as const;
export const Strategy = Type.Union(
  [
    Type.Object({ type: Type.Literal('grid') }, { additionalProperties: false }),
    Type.Object(
      { type: Type.Literal('random'), seed: Type.Optional(Type.Integer({ minimum: 0, default: 0 })) },
      { additionalProperties: false },
    ),
    Type.Object(
      {
        type: Type.Literal('halving'),
        seed: Type.Optional(Type.Integer({ minimum: 0, default: 0 })),
        minEpochs: Type.Optional(
          Type.Integer({ minimum: 1, default: 1, description: 'the first rung: every trial trains this many epochs' }),
        ),
        reductionFactor: Type.Optional(
          Type.Integer({
            minimum: 2,
            maximum: 10,
            default: 3,
            description: 'η: at each rung (minEpochs·η^k epochs) only the best 1/η of the trials that reached it go on',
          }),
        ),
      },
      {
        additionalProperties: false,
        description:
          'asynchronous successive halving (the rule behind Hyperband and ASHA): random trials, stopped at rungs when they are not in the top 1/η',
      },
    ),
  ],
  { description: 'grid: every combination; random: seeded samples; halving: random samples stopped early at rungs' },
);
export type Strategy = Static<typeof Strategy>;

export const Objective = Type.Object(
  {
    metric: Type.String({
      minLength: 1,
      maxLength: 100,
      description: 'a metric the trials log each epoch: val_loss, val_acc, loss, acc, ...',
    }),
    goal: Type.Union([Type.Literal('min'), Type.Literal('max')]),
  },
  { additionalProperties: false },
);
export type Objective = Static<typeof Objective>;

export const EarlyStopping = Type.Object(
  {
    type: Type.Literal('median', {
      description:
        "the median stopping rule: stop a trial whose best so far is worse than the median of finished trials' running averages at the same epoch",
    }),
    minTrials: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 100,
        default: 3,
        description: 'finished trials needed before any is stopped',
      }),
    ),
    graceEpochs: Type.Optional(
      Type.Integer({ minimum: 1, default: 1, description: 'a trial is never stopped before this many epochs' }),
    ),
  },
  { additionalProperties: false },
);
export type EarlyStopping = Static<typeof EarlyStopping>;

export const SweepRequest = Type.Object(
  {
    name: Type.Optional(Name()),
    job: JobRequest,
    parameters: Type.Record(Type.String({ pattern: '^(/[^/]*)+$', maxLength: 200 }), Domain, {
      maxProperties: 20,
      description:
        'a JSON Pointer into `job` (e.g. /compile/optimizer/learningRate, /model/layers/0/units, /fit/batchSize) -> its domain',
    }),
    strategy: Strategy,
    objective: Objective,
    maxTrials: Type.Integer({
      minimum: 1,
      description: 'the most trials to run (a grid with fewer combinations runs them all)',
    }),
    parallelism: Type.Optional(
      Type.Integer({
        minimum: 1,
        default: 1,
        description: 'trials queued or running at once; they spread over all workers',
      }),
    ),
    earlyStopping: Type.Optional(EarlyStopping),
    register: Type.Optional(RegisterSpec),
  },
  { additionalProperties: false, $id: 'SweepRequest' },
);
export type SweepRequest = Static<typeof SweepRequest>;

export const TRIAL_STATUSES = ['pending', 'queued', 'running', 'completed', 'stopped', 'failed', 'cancelled'] as const;
export type TrialStatus = (typeof TRIAL_STATUSES)[number];
export const TRIAL_DONE: readonly TrialStatus[] = ['completed', 'stopped', 'failed', 'cancelled'];

export const SWEEP_STATUSES = ['running', 'cancelling', 'completed', 'failed', 'cancelled'] as const;
export type SweepStatus = (typeof SWEEP_STATUSES)[number];
export const SWEEP_DONE: readonly SweepStatus[] = ['completed', 'failed', 'cancelled'];

export const Trial = Type.Object({
  index: Type.Integer({ minimum: 0 }),
  parameters: Type.Record(Type.String(), Type.Unknown(), { description: 'pointer -> the value this trial took' }),
  status: Type.Union(
    TRIAL_STATUSES.map((s) => Type.Literal(s)),
    {
      description:
        'pending: not launched yet (waiting for a parallelism slot); stopped: ended early by the search (halving or early stopping)',
    },
  ),
  jobId: Nullable(Id),
  objective: Nullable(Type.Number({ description: 'the best value of the objective metric over its epochs' })),
  epochs: Type.Integer({ description: 'epochs finished' }),
  modelId: Nullable(Id),
  error: Nullable(Type.Object({ code: Type.String(), message: Type.String() })),
  startedAt: Nullable(Type.String({ format: 'date-time' })),
  finishedAt: Nullable(Type.String({ format: 'date-time' })),
});
export type Trial = Static<typeof Trial>;

export const Best = Nullable(
  Type.Object(
    { index: Type.Integer(), objective: Type.Number(), modelId: Id },
    { description: 'the best finished trial' },
  ),
);

export const Sweep = Type.Object(
  {
    id: Id,
    name: Type.String(),
    tenant: Type.String(),
    status: Type.Union(
      SWEEP_STATUSES.map((s) => Type.Literal(s)),
      {
        description: 'cancelling: cancelled, waiting for its running trials to stop',
      },
    ),
    createdAt: Type.String({ format: 'date-time' }),
    finishedAt: Nullable(Type.String({ format: 'date-time' })),
    strategy: Strategy,
    objective: Objective,
    maxTrials: Type.Integer(),
    parallelism: Type.Integer(),
    trials: Type.Array(Trial),
    best: Best,
    registered: Type.Optional(Type.Object({ name: Type.String(), version: Type.Integer({ minimum: 1 }) })),
    registrationError: Type.Optional(Type.Object({ code: Type.String(), message: Type.String() })),
    error: Type.Optional(
      Type.Object(
        { code: Type.String(), message: Type.String() },
        { description: 'why a failed sweep failed (no trial produced the objective)' },
      ),
    ),
    request: Type.Optional(Type.Unknown({ description: 'the sweep request as accepted' })),
  },
  { $id: 'Sweep' },
);
export type Sweep = Static<typeof Sweep>;

export const SweepList = Type.Object({
  items: Type.Array(Type.Omit(Sweep, ['trials', 'request'])),
  nextCursor: Nullable(Type.String()),
});
export const SweepListQuery = Type.Object(PageQuery, { additionalProperties: false });

/** A trial job's link to its sweep, on the job record. */
export const TrialLink = Type.Object(
  { id: Id, trial: Type.Integer({ minimum: 0 }) },
  { description: 'set on a sweep trial: the sweep (GET /v1/sweeps/{id}) and the trial index' },
);
export type TrialLink = Static<typeof TrialLink>;

/**
 * The `data` of each event GET /v1/sweeps/{id}/events sends, keyed by its `event:` name, as
 * the sweep store and a trial's training write them; clients read them typed (src/client/types.ts).
 */
export const SweepEventData = {
  /** A trial moved (pending, queued, running, then how it ended); `objective` once it has one. */
  trial: Type.Object({
    index: Type.Integer({ minimum: 0 }),
    status: Trial.properties.status,
    parameters: Trial.properties.parameters,
    jobId: Nullable(Id),
    objective: Type.Optional(Type.Number()),
  }),
  /** One finished epoch of a trial, with every metric it logged. */
  epoch: Type.Object({
    index: Type.Integer({ minimum: 0 }),
    epoch: Type.Integer({ minimum: 1 }),
    metrics: Type.Record(Type.String(), Type.Number()),
  }),
  /** The best finished trial changed. */
  best: Type.Object({ index: Type.Integer(), objective: Type.Number() }),
  /** The last event: nothing follows it. */
  end: Type.Object({
    status: Type.Union([Type.Literal('completed'), Type.Literal('failed'), Type.Literal('cancelled')]),
    best: Best,
    error: Type.Optional(Type.Object({ code: Type.String(), message: Type.String() })),
  }),
};
export type SweepEventName = keyof typeof SweepEventData;
