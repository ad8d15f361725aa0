/**
 * `npm run api` as a real process of its own, for the benches that measure one (its RSS, its
 * cold start) and for the tests of many machines; test/processes.ts re-exports it, because
 * bench/ must not import test/.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { configToEnv, type Config } from '../src/config.ts';

const serverScript = fileURLToPath(new URL('../src/server.ts', import.meta.url));
const compiledScript = fileURLToPath(new URL('../dist/src/server.js', import.meta.url));

/**
 * `npm run api` as a real process with the test's config (its PORT must be a free port),
 * answering /healthz. `compiled` runs the build in dist/ as production does (`npm run build`
 * first): a bench measuring the process's memory should not count tsx's (about 1 GB more).
 */
export async function spawnApi(config: Config, env: Record<string, string> = {}, { compiled = false } = {}) {
  if (compiled && !existsSync(compiledScript)) throw new Error(`${compiledScript} is missing: run npm run build first`);
  const child = spawn(process.execPath, compiled ? [compiledScript] : ['--import', 'tsx', serverScript], {
    env: { ...process.env, ...configToEnv(config), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (chunk) => (output += chunk));
  child.stderr!.on('data', (chunk) => (output += chunk));
  const url = `http://127.0.0.1:${config.PORT}`;
  const exited = once(child, 'exit');
  const healthy = () =>
    fetch(`${url}/healthz`).then(
      (r) => r.ok,
      () => false,
    );
  for (let i = 0; i < 300 && child.exitCode === null && !(await healthy()); i++)
    await new Promise((r) => setTimeout(r, 100));
  if (!(await healthy())) {
    child.kill('SIGKILL');
    throw new Error(`the API process never answered /healthz:\n${output}`);
  }
  return { child, url, output: () => output, exited };
}
