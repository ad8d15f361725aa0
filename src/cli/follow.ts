import cliProgress from 'cli-progress';
import { ApiError, type JobEnd, type JobEvent, type TrainingClient } from '../client/index.ts';
import { formatMetrics } from './format.ts';

export interface FollowOptions {
  out: NodeJS.WriteStream;
  err: NodeJS.WriteStream;
  /** Reconnects in a row before giving up (each resumes after the last event seen). */
  retries?: number;
}

type EventOf<E extends JobEvent['event']> = Extract<JobEvent, { event: E }>['data'];

/**
 * Follows a job's SSE stream to its `end` event, printing like Keras's fit(verbose=1): a
 * progress bar per epoch (moved by batch events, on a terminal) and one line per epoch with
 * its metrics. The client resumes a dropped connection with Last-Event-ID, so no event is
 * shown twice or missed; each drop is said on `err`.
 */
export async function follow(client: TrainingClient, jobId: string, opts: FollowOptions): Promise<JobEnd> {
  const view = new KerasView(opts.out);
  const events = client.followJob(jobId, {
    retries: opts.retries ?? 20,
    onReconnect: ({ lastEventId }) => {
      view.pause();
      opts.err.write(`connection lost; resuming${lastEventId ? ` after event ${lastEventId}` : ''}\n`);
    },
  });
  try {
    for await (const event of events) {
      if (event.event === 'end') return event.data;
      view.event(event);
    }
  } catch (err) {
    if (err instanceof ApiError && err.status !== 401)
      throw new Error(
        `cannot follow job ${jobId}: ${(err.body as { detail?: string } | null)?.detail ?? `HTTP ${err.status}`}`,
        { cause: err },
      );
    throw err;
  } finally {
    view.close();
  }
  // No end event: the job finished and its events have expired. Its record says how.
  const job = await client.getJob(jobId);
  return {
    status: job.status as JobEnd['status'],
    ...(job.modelId ? { modelId: job.modelId } : {}),
    ...(job.error ? { error: job.error } : {}),
  };
}

/** What the events look like on the terminal. Bars only on a TTY; a pipe or file gets the lines. */
class KerasView {
  private bar?: cliProgress.SingleBar;
  private barEpoch = 0;
  private batches = new Map<number, number>();

  constructor(private readonly out: NodeJS.WriteStream) {}

  event(e: JobEvent) {
    if (e.event === 'status') this.status(e.data);
    else if (e.event === 'batch') this.batch(e.data);
    else if (e.event === 'epoch') this.epoch(e.data);
    else if (e.event === 'evaluation') this.evaluation(e.data.metrics);
  }

  private line(text: string) {
    this.pause();
    this.out.write(`${text}\n`);
  }

  private status({ status, at }: EventOf<'status'>) {
    this.line(`[${new Date(at).toISOString().slice(11, 19)}] ${status}`);
  }

  private batch(b: EventOf<'batch'>) {
    this.batches.set(b.epoch, b.batches);
    if (!this.out.isTTY) return;
    if (this.barEpoch !== b.epoch) {
      this.pause();
      this.bar = new cliProgress.SingleBar(
        {
          format: `Epoch ${b.epoch} {bar} {value}/{total} - {metrics}`,
          barCompleteChar: '=',
          barIncompleteChar: '.',
          barsize: 30,
          hideCursor: true,
          clearOnComplete: true,
          stream: this.out,
        },
        cliProgress.Presets.legacy,
      );
      this.bar.start(b.batches, b.batch, { metrics: formatMetrics(b.metrics) });
      this.barEpoch = b.epoch;
    } else {
      this.bar?.update(b.batch, { metrics: formatMetrics(b.metrics) });
    }
  }

  private epoch(e: EventOf<'epoch'>) {
    const batches = this.batches.get(e.epoch);
    const bar = batches ? ` ${batches}/${batches} [${'='.repeat(30)}]` : '';
    this.line(`Epoch ${e.epoch}/${e.epochs}${bar} - ${(e.elapsedMs / 1000).toFixed(1)}s - ${formatMetrics(e.metrics)}`);
  }

  private evaluation(metrics: Record<string, unknown>) {
    const scalars = Object.fromEntries(Object.entries(metrics).filter(([, v]) => typeof v === 'number')) as Record<
      string,
      number
    >;
    this.line(`Evaluation - ${formatMetrics(scalars)}`);
  }

  /** Takes the bar off the screen (before a line is printed, or while reconnecting). */
  pause() {
    if (this.bar) {
      this.bar.stop();
      this.bar = undefined;
      this.barEpoch = 0;
    }
  }

  close() {
    this.pause();
  }
}
