import { Type } from '@sinclair/typebox';
import { Id } from './common.ts';
import { Evaluation } from './evaluation.ts';
import { JobStatus } from './job.ts';

const Metrics = Type.Record(Type.String(), Type.Number());

/**
 * The `data` of each event GET /v1/jobs/{id}/events sends (its `id:` is the Redis stream entry
 * id, its `event:` the name keyed here). The job store and the fit loop write these shapes;
 * clients read them typed (src/client/types.ts).
 */
export const JobEventData = {
  status: Type.Object({ status: JobStatus, at: Type.String({ format: 'date-time' }) }),
  epoch: Type.Object({ epoch: Type.Integer(), epochs: Type.Integer(), metrics: Metrics, elapsedMs: Type.Number() }),
  /** Per-batch progress, throttled. */
  batch: Type.Object({ epoch: Type.Integer(), batch: Type.Integer(), batches: Type.Integer(), metrics: Metrics }),
  evaluation: Type.Object({ metrics: Evaluation }),
  /** The last event: nothing follows it. */
  end: Type.Object({
    status: Type.Union([Type.Literal('completed'), Type.Literal('failed'), Type.Literal('cancelled')]),
    modelId: Type.Optional(Id),
    error: Type.Optional(Type.Object({ code: Type.String(), message: Type.String() })),
  }),
};

export type JobEventName = keyof typeof JobEventData;
