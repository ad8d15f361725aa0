import { Counter, collectDefaultMetrics, Gauge, Histogram, type Metric, Registry } from 'prom-client';
import type { JobStore } from '../jobs/job-store.ts';
import { type HistogramSpec, WORKER_HISTOGRAMS, type WorkerMetrics } from '../jobs/job-metrics.ts';
import type { Predictor, PredictorObserver } from '../serving/predictor.ts';

/** Tenants named in `tts_jobs`; the jobs of any more are summed under OTHER_TENANTS (jobs/job-counts.ts). */
export const MAX_TENANT_LABELS = 100;

/** The queue states `tts_queue_jobs` reports, and the BullMQ counts each sums. */
const QUEUE_STATES = {
  waiting: ['waiting', 'prioritized'],
  active: ['active'],
  delayed: ['delayed'],
  failed: ['failed'],
} as const;

/** What scrape-time collectors read: Redis-held counts and histograms, the queue, the predictor. */
export interface MetricSources {
  jobs: JobStore;
  workers: WorkerMetrics;
  /** The API's queue (BullMQ's, typed by what is used here: only services.ts imports bullmq). */
  queue: () => { getJobCounts(...states: string[]): Promise<Record<string, number>> };
  predictor: Predictor;
  /** Tenants to name first in `tts_jobs` (those with keys, and `local`). */
  tenants: string[];
}

/**
 * The API process's metrics, in a registry of its own (several apps may share a process, in
 * tests). Request and predict timings are observed as they happen; job counts, queue counts,
 * the workers' histograms (held in Redis, see jobs/job-metrics.ts) and the predictor's cache
 * figures are read when Prometheus scrapes. Every label has a closed set of values: never an
 * id or a raw URL.
 */
export class ApiMetrics {
  readonly registry = new Registry();

  readonly httpDuration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP requests by method, route template (`unmatched` for no route) and status code',
    labelNames: ['method', 'route', 'status_code'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });

  /** Failures of the stores the API uses: `store` is redis or models; `kind` says where they were seen. */
  readonly storeErrors = new Counter({
    name: 'tts_store_errors_total',
    help: 'Store failures seen by the API: redis connection errors, requests answered 503 because Redis did not answer, model loads that failed',
    labelNames: ['store', 'kind'] as const,
    registers: [this.registry],
  });

  private readonly scrapeErrors = new Counter({
    name: 'tts_metrics_scrape_errors_total',
    help: 'Scrape-time reads that failed (their metrics are left out of that scrape), by source',
    labelNames: ['source'] as const,
    registers: [this.registry],
  });

  private readonly predictDuration = new Histogram({
    name: 'tts_predict_duration_seconds',
    help: 'Predict calls in the predictor, model load and waiting for a pass included, by outcome (ok or error)',
    labelNames: ['outcome'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
    registers: [this.registry],
  });

  private readonly predictBatch = new Histogram({
    name: 'tts_predict_batch_instances',
    help: 'Instances per forward pass (requests batched together, or a part of a large one)',
    buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024],
    registers: [this.registry],
  });

  /** What the predictor reports to (services.ts hands it over). */
  readonly predictorObserver: PredictorObserver = {
    predicted: (seconds, ok) => this.predictDuration.observe({ outcome: ok ? 'ok' : 'error' }, seconds),
    pass: (instances) => this.predictBatch.observe(instances),
    loadFailed: () => this.storeErrors.inc({ store: 'models', kind: 'load' }),
  };

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }

  /** Registers the metrics read at scrape time. */
  watch(sources: MetricSources) {
    const { registry } = this;
    const failed = (source: string) => this.scrapeErrors.inc({ source });
    new Gauge({
      name: 'tts_jobs',
      help: `Jobs by status and tenant, from the job indexes (every API process reports the same); tenants beyond ${MAX_TENANT_LABELS} are summed under tenant="~other"`,
      labelNames: ['status', 'tenant'] as const,
      registers: [registry],
      async collect() {
        this.reset();
        try {
          for (const { status, tenant, count } of await sources.jobs.countsByTenant(MAX_TENANT_LABELS, sources.tenants))
            this.set({ status, tenant }, count);
        } catch {
          failed('jobs');
        }
      },
    });
    new Gauge({
      name: 'tts_queue_jobs',
      help: 'BullMQ jobs of the training queue by state (waiting includes prioritized)',
      labelNames: ['state'] as const,
      registers: [registry],
      async collect() {
        this.reset();
        try {
          const counts = await sources.queue().getJobCounts(...Object.values(QUEUE_STATES).flat());
          for (const [state, summed] of Object.entries(QUEUE_STATES))
            this.set(
              { state },
              summed.reduce((sum, s) => sum + (counts[s] ?? 0), 0),
            );
        } catch {
          failed('queue');
        }
      },
    });
    const stats = () => sources.predictor.stats();
    for (const [name, help, read] of [
      ['tts_model_cache_hits_total', 'Predict calls that found their model in the cache', () => stats().cacheHits],
      ['tts_model_cache_misses_total', 'Predict calls that loaded their model', () => stats().cacheMisses],
    ] as const) {
      new Counter({
        name,
        help,
        registers: [registry],
        collect() {
          this.reset();
          this.inc(read());
        },
      });
    }
    new Gauge({
      name: 'tts_model_cache_bytes',
      help: 'Weight bytes of the models loaded in the predict cache',
      registers: [registry],
      collect() {
        this.set(stats().cachedBytes);
      },
    });
    for (const spec of Object.values(WORKER_HISTOGRAMS))
      registry.registerMetric(storedHistogram(spec, sources.workers, () => failed('workers')));
  }
}

/**
 * A histogram whose buckets the workers keep in Redis, exposed as prom-client exposes its own
 * (the `get` its registry reads): prom-client's Histogram can only count observations, not
 * be set from counts made elsewhere.
 */
function storedHistogram(spec: HistogramSpec, workers: WorkerMetrics, failed: () => void): Metric {
  const head = { name: spec.name, help: spec.help, type: 'histogram', aggregator: 'sum' } as const;
  const metric = {
    ...head,
    reset: () => undefined,
    get: async () => {
      let series: Awaited<ReturnType<WorkerMetrics['read']>> = [];
      try {
        series = await workers.read(spec);
      } catch {
        failed();
      }
      const values = series.flatMap(({ label, buckets, sum, count }) => {
        const labels = spec.label && label ? { [spec.label.name]: label } : {};
        return [
          ...buckets.map((b) => ({
            metricName: `${spec.name}_bucket`,
            labels: { ...labels, le: b.le },
            value: b.count,
          })),
          { metricName: `${spec.name}_sum`, labels, value: sum },
          { metricName: `${spec.name}_count`, labels, value: count },
        ];
      });
      return { ...head, values };
    },
  };
  // prom-client's Metric type lists its own four classes; its registry needs only name, help, type, get and reset.
  return metric as unknown as Metric;
}
