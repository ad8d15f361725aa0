import type { Redis } from 'ioredis';
import { parseEntries, type JobEvent } from './job-event.ts';

/**
 * What the SSE follower reads: one Redis stream of events per id, and whether what it belongs
 * to has ended (its `end` event is written in the same step as its final status). Jobs and
 * sweeps both are one.
 */
export interface EventLog {
  readonly redis: Redis;
  events(id: string, afterId?: string, count?: number): Promise<JobEvent[]>;
  streamKey(id: string): string;
  /** undefined when there is no such id; true once it has ended. */
  finished(id: string): Promise<boolean | undefined>;
}

const PAGE = 500;
const BLOCK_MS = 5_000;
const MAX_ID_PART = 2n ** 64n - 1n;

/** A Redis stream entry id `<ms>-<seq>` as two numbers, or undefined when `text` is not one (each part fits 64 bits, as Redis requires). */
export function parseEventId(text: string): [bigint, bigint] | undefined {
  const match = /^(\d{1,20})-(\d{1,20})$/.exec(text);
  if (!match) return undefined;
  const parts: [bigint, bigint] = [BigInt(match[1]), BigInt(match[2])];
  return parts[0] <= MAX_ID_PART && parts[1] <= MAX_ID_PART ? parts : undefined;
}

const compareIds = (a: [bigint, bigint], b: [bigint, bigint]) =>
  a[0] !== b[0] ? (a[0] < b[0] ? -1 : 1) : a[1] === b[1] ? 0 : a[1] < b[1] ? -1 : 1;

/**
 * Where a reconnect after `afterId` stands: `follow` (events after it to send, or a live job
 * to wait on), `finished` (the job has ended and its stream has nothing after it: the client
 * has everything), or `unknown` (after the last event of a job still going: no id this stream
 * ever sent, since ids only grow). The status is read before the last id: the `end` event is
 * written with the terminal status, so a finished job's last id is final.
 */
export async function resumePoint(
  log: EventLog,
  id: string,
  afterId: [bigint, bigint],
): Promise<'follow' | 'finished' | 'unknown'> {
  const finished = await log.finished(id);
  const [last] = await log.redis.xrevrange(log.streamKey(id), '+', '-', 'COUNT', 1);
  const order = last ? compareIds(afterId, parseEventId(last[0])!) : 1;
  if (order < 0) return 'follow';
  if (finished !== false) return 'finished';
  return order === 0 ? 'follow' : 'unknown';
}

/**
 * A job's events after `afterId` (all of them without it), then live ones as they are
 * appended, ending with `end`. `blocking` must be a connection of its own: XREAD BLOCK holds
 * it; disconnecting it stops the generator.
 */
export async function* followEvents(
  log: EventLog,
  blocking: Redis,
  id: string,
  afterId?: string,
): AsyncGenerator<JobEvent> {
  let last = afterId;
  for (;;) {
    const page = await log.events(id, last, PAGE);
    for (const event of page) {
      yield event;
      last = event.id;
      if (event.event === 'end') return;
    }
    if (page.length < PAGE) break;
  }
  for (;;) {
    // The end event is written with the terminal status, atomically: nothing more will come.
    if ((await log.finished(id)) !== false) {
      for (const event of await log.events(id, last, PAGE)) yield event;
      return;
    }
    const result = (await blocking.xread('BLOCK', BLOCK_MS, 'STREAMS', log.streamKey(id), last ?? '0')) as
      | [string, [string, string[]][]][]
      | null;
    for (const event of result ? parseEntries(result[0][1]) : []) {
      yield event;
      last = event.id;
      if (event.event === 'end') return;
    }
  }
}
