import { createRequire } from 'node:module';
import * as tf from '@tensorflow/tfjs';
import { installAccelerations, type AccelerationMode } from './accelerations/index.ts';

export type BackendChoice = 'auto' | 'tensorflow' | 'wasm' | 'cpu';
export type BackendName = 'tensorflow' | 'wasm' | 'cpu';

const require = createRequire(import.meta.url);
let chosen: Promise<BackendName> | undefined;

/**
 * Picks the compute backend once per process: tfjs-node (`tensorflow`) if it loads, else
 * the wasm backend (its single-threaded build), else plain JS `cpu`. tfjs-node registers
 * itself on the shared `@tensorflow/tfjs-core` when required, so all code keeps using the
 * `@tensorflow/tfjs` API. Once the backend is ready, installs the accelerations that fit it
 * (`acceleration` is TFJS_ACCELERATION: `off` keeps the stock tfjs kernels). Later calls get
 * the first call's backend, whatever they ask.
 */
export function initBackend(
  choice: BackendChoice = 'auto',
  acceleration: AccelerationMode = 'auto',
): Promise<BackendName> {
  chosen ??= pick(choice).then((name) => {
    installAccelerations(name, acceleration);
    return name;
  });
  return chosen;
}

/** The backend in use, or undefined before `initBackend` finished. */
export function currentBackend(): BackendName | undefined {
  const name = tf.getBackend();
  return name === 'tensorflow' || name === 'wasm' || name === 'cpu' ? name : undefined;
}

async function pick(choice: BackendChoice): Promise<BackendName> {
  const order: BackendName[] = choice === 'auto' ? ['tensorflow', 'wasm', 'cpu'] : [choice];
  const failures: string[] = [];
  for (const name of order) {
    try {
      if (await tryBackend(name)) return name;
      failures.push(`${name}: did not initialise`);
    } catch (err) {
      failures.push(`${name}: ${(err as Error).message.split('\n')[0]}`);
    }
  }
  throw new Error(`no TensorFlow.js backend could start (${failures.join('; ')})`);
}

async function tryBackend(name: BackendName): Promise<boolean> {
  if (name === 'tensorflow') require('@tensorflow/tfjs-node');
  if (name === 'wasm') await import('@tensorflow/tfjs-backend-wasm');
  if (!(await tf.setBackend(name))) return false;
  await tf.ready();
  return true;
}
