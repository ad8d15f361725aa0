import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { redisAnswers } from '../src/local-redis.ts';
import { freePort } from '../bench/ports.ts';
import { spawnApi } from '../bench/api-process.ts';
import { spawnWorker } from '../bench/worker-process.ts';

export { freePort, spawnApi, spawnWorker };

/** A redis-server of the test's own (never the shared one on 6379), with AOF in a temp dir, that can be stopped and restarted. */
export async function startRedis() {
  const port = await freePort();
  const dir = await mkdtemp(path.join(tmpdir(), 'tts-redis-'));
  const url = `redis://127.0.0.1:${port}`;
  let child: ChildProcess | undefined;
  const start = async () => {
    child = spawn(
      'redis-server',
      [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--dir',
        dir,
        '--appendonly',
        'yes',
        '--appendfsync',
        'always',
        '--save',
        '',
      ],
      { stdio: 'ignore' },
    );
    for (let i = 0; i < 100 && !(await redisAnswers(url)); i++) await new Promise((r) => setTimeout(r, 50));
    if (!(await redisAnswers(url))) throw new Error(`redis-server on port ${port} never answered`);
  };
  const stop = async () => {
    if (!child || child.exitCode !== null) return;
    child.kill('SIGTERM');
    await once(child, 'exit');
  };
  await start();
  return {
    url,
    port,
    start,
    stop,
    remove: async () => {
      await stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** The training children (BullMQ sandboxed processors) that process `parent` forked. */
export function trainingChildren(parent: number): number[] {
  const listing = spawnSync('ps', ['-o', 'pid=,args=', '--ppid', String(parent)], { encoding: 'utf8' }).stdout;
  return listing
    .split('\n')
    .map((line) => /^\s*(\d+)\s+(.*)$/.exec(line))
    .filter((m): m is RegExpExecArray => m !== null && /bullmq/.test(m[2]))
    .map((m) => Number(m[1]));
}
