import { setTimeout as sleep } from 'node:timers/promises';
import cliProgress from 'cli-progress';
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { ApiError, type Client } from './client.ts';
import { formatMetrics } from './format.ts';

export interface EndEvent {
  status: 'completed' | 'failed' | 'cancelled';
  modelId?: string;
  error?: { code: string; message: string };
}

export interface FollowOptions {
  out: NodeJS.WriteStream;
  err: NodeJS.WriteStream;
  /** Reconnects in a row before giving up (each resumes after the last event seen). */
  retries?: number;
  retryDelayMs?: number;
}

/**
 * Follows a job's SSE stream to its `end` event, printing like Keras's fit(verbose=1): a
 * progress bar per epoch (moved by batch events, on a terminal) and one line per epoch with
 * its metrics. A dropped connection is resumed with Last-Event-ID, so no event is shown
 * twice or missed.
 */
export async function follow(client: Client, jobId: string, opts: FollowOptions): Promise<EndEvent> {
  const view = new KerasView(opts.out);
  const retries = opts.retries ?? 20;
  let last: string | undefined;
  let failures = 0;
  for (;;) {
    const controller = new AbortController();
    let end: EndEvent | undefined;
    try {
      const response = await client.events(jobId, last, controller.signal);
      if (response.status === 401) throw client.unauthorized();
      if (!response.ok) {
        const text = await response.text();
        let body: unknown = text;
        try {
          body = JSON.parse(text);
        } catch {
          // not JSON: keep the text
        }
        throw new ApiError(response.status, `cannot follow job ${jobId}: ${(body as { detail?: string })?.detail ?? `HTTP ${response.status}`}`, body);
      }
      const parser = createParser({
        onEvent: (message: EventSourceMessage) => {
          if (end) return;
          if (message.id) last = message.id;
          const data = JSON.parse(message.data);
          if (message.event === 'end') end = data as EndEvent;
          else view.event(message.event ?? 'message', data);
        },
      });
      const decoder = new TextDecoder();
      for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
        parser.feed(decoder.decode(chunk, { stream: true }));
        failures = 0;
        if (end) break;
      }
    } catch (err) {
      if (err instanceof ApiError && err.status >= 400 && err.status < 500) throw err;
      if (++failures > retries) throw new Error(`lost the event stream of job ${jobId}: ${(err as Error).message}`);
    } finally {
      controller.abort();
    }
    if (end) {
      view.close();
      return end;
    }
    // The stream ended without `end` (network, proxy, server restart): resume after the last event.
    view.pause();
    opts.err.write(`connection lost; resuming${last ? ` after event ${last}` : ''}\n`);
    await sleep(Math.min(opts.retryDelayMs ?? 500 * failures, 5_000));
  }
}

interface EpochData {
  epoch: number;
  epochs: number;
  metrics: Record<string, number>;
  elapsedMs: number;
}
interface BatchData {
  epoch: number;
  batch: number;
  batches: number;
  metrics: Record<string, number>;
}

/** What the events look like on the terminal. Bars only on a TTY; a pipe or file gets the lines. */
class KerasView {
  private bar?: cliProgress.SingleBar;
  private barEpoch = 0;
  private batches = new Map<number, number>();

  constructor(private readonly out: NodeJS.WriteStream) {}

  event(name: string, data: unknown) {
    if (name === 'status') this.status(data as { status: string; at: string });
    else if (name === 'batch') this.batch(data as BatchData);
    else if (name === 'epoch') this.epoch(data as EpochData);
    else if (name === 'evaluation') this.evaluation((data as { metrics: Record<string, unknown> }).metrics);
  }

  private line(text: string) {
    this.pause();
    this.out.write(`${text}\n`);
  }

  private status({ status, at }: { status: string; at: string }) {
    this.line(`[${new Date(at).toISOString().slice(11, 19)}] ${status}`);
  }

  private batch(b: BatchData) {
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

  private epoch(e: EpochData) {
    const batches = this.batches.get(e.epoch);
    const bar = batches ? ` ${batches}/${batches} [${'='.repeat(30)}]` : '';
    this.line(`Epoch ${e.epoch}/${e.epochs}${bar} - ${(e.elapsedMs / 1000).toFixed(1)}s - ${formatMetrics(e.metrics)}`);
  }

  private evaluation(metrics: Record<string, unknown>) {
    const scalars = Object.fromEntries(Object.entries(metrics).filter(([, v]) => typeof v === 'number')) as Record<string, number>;
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
