import type { Redis } from 'ioredis';
import { TERMINAL } from './keys.ts';
import { parseEntries, type JobEvent, type JobStore } from './job-store.ts';

const PAGE = 500;
const BLOCK_MS = 5_000;

/**
 * A job's events after `afterId` (all of them without it), then live ones as they are
 * appended, ending with `end`. `blocking` must be a connection of its own: XREAD BLOCK holds
 * it; disconnecting it stops the generator.
 */
export async function* followEvents(store: JobStore, blocking: Redis, jobId: string, afterId?: string): AsyncGenerator<JobEvent> {
  let last = afterId;
  for (;;) {
    const page = await store.events(jobId, last, PAGE);
    for (const event of page) {
      yield event;
      last = event.id;
      if (event.event === 'end') return;
    }
    if (page.length < PAGE) break;
  }
  for (;;) {
    // The end event is written with the terminal status, atomically: nothing more will come.
    const status = await store.status(jobId);
    if (!status || TERMINAL.includes(status)) {
      for (const event of await store.events(jobId, last, PAGE)) yield event;
      return;
    }
    const result = (await blocking.xread('BLOCK', BLOCK_MS, 'STREAMS', store.keys.events(jobId), last ?? '0')) as
      | [string, [string, string[]][]][]
      | null;
    for (const event of result ? parseEntries(result[0][1]) : []) {
      yield event;
      last = event.id;
      if (event.event === 'end') return;
    }
  }
}
