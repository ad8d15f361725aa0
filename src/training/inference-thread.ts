/**
 * The inference thread: runs predict's forward passes off the API's event loop (see
 * inference.ts). It starts its own TensorFlow.js backend, keeps its own loaded models, and
 * answers each `pass` message with the outputs or an error.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { Transforms } from '../data/transforms.ts';
import { initBackend, type BackendChoice } from './backend.ts';
import { forwardPass, LoadedModels } from './forward-pass.ts';

export type ToThread =
  | { kind: 'pass'; seq: number; id: string; dir: string; values: Float32Array; count: number; transforms: Transforms }
  | { kind: 'evict'; id: string };

export type FromThread =
  | { kind: 'ready'; backend: string }
  | { kind: 'failed'; error: string }
  | { kind: 'output'; seq: number; values: Float32Array; shape: number[] }
  | { kind: 'error'; seq: number; error: string; missing: boolean };

const port = parentPort!;
const { backend, cacheSize } = workerData as { backend: BackendChoice; cacheSize: number };
const send = (message: FromThread) => port.postMessage(message);
const models = new LoadedModels(cacheSize);

try {
  send({ kind: 'ready', backend: await initBackend(backend, 1) });
} catch (err) {
  send({ kind: 'failed', error: (err as Error).message });
}

port.on('message', async (message: ToThread) => {
  if (message.kind === 'evict') return models.evict(message.id);
  const { seq, id, dir, values, count, transforms } = message;
  try {
    const model = await models.get(id, dir);
    const output = forwardPass(model, values, count, transforms);
    port.postMessage({ kind: 'output', seq, ...output } satisfies FromThread, [output.values.buffer as ArrayBuffer]);
  } catch (err) {
    send({ kind: 'error', seq, error: (err as Error).message, missing: (err as NodeJS.ErrnoException).code === 'ENOENT' });
  }
});
