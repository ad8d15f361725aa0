/**
 * `npm run worker` as a real process of its own, for the benches that need several workers
 * (trials spread over machines) and for the tests of many machines; test/processes.ts
 * re-exports it, because bench/ must not import test/.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { configToEnv, type Config } from '../src/config.ts';

const workerScript = fileURLToPath(new URL('../workers/worker.ts', import.meta.url));

/** `npm run worker` as a real process with the test's config. */
export function spawnWorker(config: Config, env: Record<string, string> = {}) {
  const child = spawn(process.execPath, ['--import', 'tsx', workerScript], {
    env: { ...process.env, ...configToEnv(config), LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (chunk) => (output += chunk));
  child.stderr!.on('data', (chunk) => (output += chunk));
  return {
    child,
    output: () => output,
    exited: once(child, 'exit').then(([code, signal]) => ({
      code: code as number | null,
      signal: signal as string | null,
    })),
  };
}
