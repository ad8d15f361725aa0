/**
 * `npm run worker` as a real process of its own, for the benches that need several workers
 * (trials spread over machines) and for the tests of many machines; test/processes.ts
 * re-exports it, because bench/ must not import test/.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { configToEnv, type Config } from '../src/config.ts';

const workerScript = fileURLToPath(new URL('../workers/worker.ts', import.meta.url));
const compiledScript = fileURLToPath(new URL('../dist/workers/worker.js', import.meta.url));

/**
 * `npm run worker` as a real process with the test's config. `compiled` runs the build in
 * dist/ as production does (`npm run build` first), so a bench's training children do not
 * also pay for compiling TypeScript when they start. `cpu` pins the worker and its training
 * children to that core (Linux `taskset`), as if it were a one-core machine of its own.
 */
export function spawnWorker(
  config: Config,
  env: Record<string, string> = {},
  { compiled = false, cpu }: { compiled?: boolean; cpu?: number } = {},
) {
  if (compiled && !existsSync(compiledScript)) throw new Error(`${compiledScript} is missing: run npm run build first`);
  const node = [process.execPath, ...(compiled ? [compiledScript] : ['--import', 'tsx', workerScript])];
  // taskset execs node in its own process: the pid is the worker's.
  const [command, ...args] = cpu === undefined ? node : ['taskset', '--cpu-list', String(cpu), ...node];
  const child = spawn(command, args, {
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
