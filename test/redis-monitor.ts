import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { REDIS_URL } from './helpers.ts';

/**
 * What Redis runs, seen through MONITOR, for tests that assert what a step cost Redis.
 *
 * MONITOR lines arrive on a connection of their own, after the commands' answers: a command
 * awaited before a step can still be on its way to the monitor when the step starts, and the
 * step's last commands after it ends. So `during` cuts its capture at two marker commands it
 * sends itself (an ECHO of a unique word), each waited for until MONITOR shows it. Redis runs
 * commands one at a time and reports each to MONITOR in that order, so what arrives between
 * the markers is exactly what ran between them: nothing of the setup before, all of the step.
 */
export async function watchRedis(url = REDIS_URL) {
  const client = new Redis(url);
  const monitor = await client.monitor();
  // Lines still arriving while it closes (the shared Redis is busy with other tests) are no error of ours.
  monitor.on('error', () => undefined);
  let capture: string[][] | undefined;
  let marker: { word: string; seen: () => void } | undefined;
  monitor.on('monitor', (_time: string, args: string[]) => {
    if (marker && args[0]?.toLowerCase() === 'echo' && args[1] === marker.word) return marker.seen();
    capture?.push(args);
  });
  /**
   * Sends a marker and resolves once MONITOR has shown it, when every command that ran before
   * it has arrived. `then` runs as it arrives, before any line after it (lines come in batches).
   */
  const mark = async (then: () => void) => {
    const word = `monitor-mark-${randomUUID()}`;
    const seen = new Promise<void>((resolve) => {
      marker = {
        word,
        seen: () => {
          marker = undefined;
          then();
          resolve();
        },
      };
    });
    await client.echo(word);
    await seen;
  };
  return {
    /** The commands (name and arguments, as MONITOR shows them) Redis ran while `fn` ran, from any client. */
    async during(fn: () => Promise<unknown>): Promise<string[][]> {
      if (marker || capture) throw new Error('one capture at a time');
      const commands: string[][] = [];
      try {
        await mark(() => (capture = commands));
        await fn();
        await mark(() => (capture = undefined));
      } finally {
        capture = undefined;
      }
      return commands;
    },
    close() {
      monitor.disconnect();
      client.disconnect();
    },
  };
}
