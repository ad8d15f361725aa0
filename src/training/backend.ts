import { createRequire } from 'node:module';
import * as tf from '@tensorflow/tfjs';
import { routeTransposedMatMuls } from './wasm-matmul.ts';
import { shareWasmIdentity } from './wasm-identity.ts';
import { fastWasmGather } from './wasm-gather.ts';
import { withWasmThreads } from './wasm-threads.ts';

export type BackendChoice = 'auto' | 'tensorflow' | 'wasm' | 'cpu';
export type BackendName = 'tensorflow' | 'wasm' | 'cpu';

const require = createRequire(import.meta.url);
let chosen: Promise<BackendName> | undefined;

/**
 * Picks the compute backend once per process: tfjs-node (`tensorflow`) if it loads, else
 * the wasm backend, else plain JS `cpu`. tfjs-node registers itself on the shared
 * `@tensorflow/tfjs-core` when required, so all code keeps using the `@tensorflow/tfjs` API.
 * `threads` is for wasm: 1 is its single-threaded build. More start the multi-threaded build:
 * faster on cores of its own (matmul 46 vs 24 GFLOP/s on 2 idle cores), about 2x slower when
 * the cores are shared (XNNPACK's threads spin while they wait), so it is opt-in.
 */
export function initBackend(choice: BackendChoice = 'auto', threads = 1): Promise<BackendName> {
  chosen ??= pick(choice, Math.max(1, threads));
  return chosen;
}

/** The backend in use, or undefined before `initBackend` finished. */
export function currentBackend(): BackendName | undefined {
  const name = tf.getBackend();
  return name === 'tensorflow' || name === 'wasm' || name === 'cpu' ? name : undefined;
}

async function pick(choice: BackendChoice, threads: number): Promise<BackendName> {
  const order: BackendName[] = choice === 'auto' ? ['tensorflow', 'wasm', 'cpu'] : [choice];
  const failures: string[] = [];
  for (const name of order) {
    try {
      if (await tryBackend(name, threads)) return name;
      failures.push(`${name}: did not initialise`);
    } catch (err) {
      failures.push(`${name}: ${(err as Error).message.split('\n')[0]}`);
    }
  }
  throw new Error(`no TensorFlow.js backend could start (${failures.join('; ')})`);
}

async function tryBackend(name: BackendName, threads: number): Promise<boolean> {
  if (name === 'tensorflow') require('@tensorflow/tfjs-node');
  if (name === 'wasm') await import('@tensorflow/tfjs-backend-wasm');
  const set = () => tf.setBackend(name);
  if (!(await (name === 'wasm' ? withWasmThreads(threads, set) : set()))) return false;
  await tf.ready();
  if (name === 'wasm') {
    routeTransposedMatMuls();
    shareWasmIdentity();
    fastWasmGather();
  }
  return true;
}
