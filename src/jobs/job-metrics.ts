import type { Redis } from 'ioredis';
import { keys, type Keys } from '../storage/keys.ts';

/**
 * Histograms of what happens in the workers, held in Redis so that every API process can
 * report them (workers never speak HTTP) summed over every worker. Each histogram is one hash
 * (`keys.histogram(name)`): per label value, a count per bucket (not cumulative: an
 * observation increments exactly one field), the sum and the count, all incremented in one
 * MULTI, so a reader never sees a count without its bucket. Label values come from a fixed
 * list: a value outside it is never written or reported.
 */
export interface HistogramSpec {
  name: string;
  help: string;
  /** Upper bounds, ascending; `+Inf` is implied. */
  buckets: readonly number[];
  /** At most one label, with a closed set of values. */
  label?: { name: string; values: readonly string[] };
}

/** How one run of a job in a worker ended (a closed set: the `outcome` label). */
export const RUN_OUTCOMES = ['completed', 'failed', 'cancelled', 'timed_out', 'yielded', 'error'] as const;
export type RunOutcomeLabel = (typeof RUN_OUTCOMES)[number];

export const WORKER_HISTOGRAMS = {
  jobDuration: {
    name: 'tts_job_duration_seconds',
    help: 'Wall time of one run of a training job in a worker, from start to its outcome (a resumed job runs again)',
    buckets: [1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14400, 43200],
    label: { name: 'outcome', values: RUN_OUTCOMES },
  },
  queueWait: {
    name: 'tts_job_queue_wait_seconds',
    help: 'Time from submission to the first start of a job in a worker',
    buckets: [0.1, 0.5, 1, 2.5, 5, 15, 30, 60, 300, 900, 1800, 3600, 14400],
  },
  epochDuration: {
    name: 'tts_training_epoch_duration_seconds',
    help: 'Wall time of one training epoch, validation and checkpoint included',
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600],
  },
  samplesPerSecond: {
    name: 'tts_training_samples_per_second',
    help: 'Training samples per second of wall time, one observation per epoch',
    buckets: [10, 50, 100, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 1000000],
  },
} as const satisfies Record<string, HistogramSpec>;

export interface Observation {
  spec: HistogramSpec;
  value: number;
  /** The label's value; must be one of the spec's. */
  label?: string;
}

/** One label value's series, buckets cumulative as Prometheus reads them (the last is `+Inf`). */
export interface HistogramSeries {
  label?: string;
  buckets: { le: string; count: number }[];
  sum: number;
  count: number;
}

const field = (label: string | undefined, part: string) => `${label ?? ''}|${part}`;

export class WorkerMetrics {
  private readonly keys: Keys;

  constructor(
    private readonly redis: Redis,
    prefix: string,
  ) {
    this.keys = keys(prefix);
  }

  /** Records observations in one round trip. A value that is not finite, or a label not in the spec, is dropped. */
  async observe(...observations: Observation[]): Promise<void> {
    const m = this.redis.multi();
    let any = false;
    for (const { spec, value, label } of observations) {
      if (!Number.isFinite(value) || (spec.label ? !label || !spec.label.values.includes(label) : label)) continue;
      const bound = spec.buckets.find((b) => value <= b);
      const key = this.keys.histogram(spec.name);
      m.hincrby(key, field(label, bound === undefined ? '+Inf' : String(bound)), 1)
        .hincrbyfloat(key, field(label, 'sum'), value)
        .hincrby(key, field(label, 'count'), 1);
      any = true;
    }
    if (any) await m.exec();
  }

  /** The histogram as recorded so far: one series per label value that has observations. */
  async read(spec: HistogramSpec): Promise<HistogramSeries[]> {
    const raw = await this.redis.hgetall(this.keys.histogram(spec.name));
    const labels: (string | undefined)[] = spec.label ? [...spec.label.values] : [undefined];
    const series: HistogramSeries[] = [];
    for (const label of labels) {
      const count = Number(raw[field(label, 'count')] ?? 0);
      if (count === 0) continue;
      let cumulative = 0;
      const buckets = [...spec.buckets.map(String), '+Inf'].map((le) => {
        cumulative += Number(raw[field(label, le)] ?? 0);
        return { le, count: cumulative };
      });
      series.push({ label, buckets, sum: Number(raw[field(label, 'sum')] ?? 0), count });
    }
    return series;
  }
}
