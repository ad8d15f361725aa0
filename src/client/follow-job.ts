import { ApiError } from './errors.ts';
import { eventStream } from './event-stream.ts';
import type { JobEvent } from './types.ts';

export interface FollowOptions {
  /** Start after this event (an `id` the stream sent): only the events after it come. */
  lastEventId?: string;
  signal?: AbortSignal;
  /** Reconnects in a row, with no event between them, before giving up (default 10). */
  retries?: number;
  /** The wait before the first reconnect; it doubles with each one in a row, up to 5 s (default 250 ms). */
  retryDelayMs?: number;
  /** Told each time the connection was lost, before it is reopened after `lastEventId`. */
  onReconnect?: (info: { attempt: number; lastEventId?: string; error?: unknown }) => void;
}

/** Opens the stream after `lastEventId`: a 200 or 204 answer, else it throws (ApiError, ConnectionError). */
export type OpenStream = (lastEventId: string | undefined, signal: AbortSignal) => Promise<Response>;

/** Answers worth reconnecting after: the service (or a proxy before it) busy or restarting. */
const RETRY_STATUSES = new Set([429, 502, 503, 504]);
const MAX_DELAY_MS = 5_000;

/** A job's events until its `end` event (see followEvents). */
export function followJobEvents(
  jobId: string,
  open: OpenStream,
  options: FollowOptions = {},
): AsyncGenerator<JobEvent, void, undefined> {
  return followEvents<JobEvent>(`job ${jobId}`, open, options);
}

/**
 * A job's or a sweep's events (`what` names it in errors) until its `end` event. When the
 * connection drops before `end` it is reopened with Last-Event-ID, and the service sends exactly
 * the events after the last one seen: none missed, none twice. A 204 on reopening means it
 * finished with nothing after that event.
 */
export async function* followEvents<E extends { id: string; event: string }>(
  what: string,
  open: OpenStream,
  options: FollowOptions = {},
): AsyncGenerator<E, void, undefined> {
  const { signal: caller, retries = 10, retryDelayMs = 250 } = options;
  let last = options.lastEventId;
  let failures = 0;
  for (;;) {
    // Ours, so a consumer that stops iterating closes the connection (finally) without aborting the caller's signal.
    const connection = new AbortController();
    let lost: unknown;
    try {
      const response = await open(last, caller ? AbortSignal.any([caller, connection.signal]) : connection.signal);
      if (response.status === 204) return;
      for await (const message of eventStream(response.body!)) {
        failures = 0;
        const event = { id: message.id, event: message.event, data: JSON.parse(message.data) } as unknown as E;
        last = event.id ?? last;
        yield event;
        if (event.event === 'end') return;
      }
    } catch (err) {
      if (caller?.aborted) throw caller.reason;
      if (err instanceof ApiError && !RETRY_STATUSES.has(err.status)) throw err;
      lost = err;
    } finally {
      connection.abort();
    }
    if (++failures > retries) {
      throw new Error(
        `lost the event stream of ${what}: ${lost instanceof Error ? lost.message : 'it kept closing before the end event'}`,
        { cause: lost },
      );
    }
    options.onReconnect?.({ attempt: failures, lastEventId: last, error: lost });
    await delay(Math.min(retryDelayMs * 2 ** (failures - 1), MAX_DELAY_MS), caller);
  }
}

/** Waits `ms`, or rejects with the signal's reason when it aborts first. */
function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', abort);
      resolve();
    }, ms);
    const abort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    signal?.addEventListener('abort', abort, { once: true });
  });
}
