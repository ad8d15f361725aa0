import * as tf from '@tensorflow/tfjs';
import { AppError } from '../errors.ts';
import { installAccelerations } from './accelerations/index.ts';

/**
 * The compute backend of a process is shared by everything it runs: in the API, by every
 * tenant's predictions. A trap inside the wasm backend (an out-of-bounds access, an abort)
 * means its heap may now hold anything, and each later kernel could compute garbage or trap
 * again. So a fault is never carried on with: the backend is discarded, with every tensor on
 * it, and a fresh instance (a new heap) replaces it. Callers drop what they held on the old one.
 */
let replacing: Promise<void> | undefined;
// Node has WebAssembly; this project's TypeScript lib (no DOM) does not declare it.
const RuntimeError = (globalThis as unknown as { WebAssembly?: { RuntimeError: new () => Error } }).WebAssembly
  ?.RuntimeError;
let replacements = 0;
const listeners = new Set<() => void>();

/** Whether an error came from inside the backend's machine code, not from a check of ours or of tfjs. */
export function isBackendFault(err: unknown): boolean {
  if (RuntimeError && err instanceof RuntimeError) return true;
  const message = err instanceof Error ? err.message : String(err);
  return /memory access out of bounds|^Aborted\(|unreachable executed|table index is out of bounds/.test(message);
}

/** `ok`, or `replacing` while a faulted backend is being swapped for a fresh one. */
export const backendState = (): 'ok' | 'replacing' => (replacing ? 'replacing' : 'ok');

/** Backends replaced since start (for /readyz and tests). */
export const backendReplacements = () => replacements;

/** Called when a backend is discarded: whoever holds tensors (the predictor's models) forgets them. */
export function onBackendDiscarded(listener: () => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/** Discards the current backend and starts a fresh instance of the same kind; concurrent calls share one replacement. */
export function replaceBackend(): Promise<void> {
  replacing ??= (async () => {
    const name = tf.getBackend();
    for (const listener of listeners) listener();
    // Resets the engine's bookkeeping and disposes its backends; the factories stay, so the
    // next setBackend builds a new instance with a new heap.
    tf.engine().reset();
    if (!(await tf.setBackend(name))) throw new Error(`the ${name} backend did not start again`);
    await tf.ready();
    // The same accelerations (or none, with TFJS_ACCELERATION=off) as at start, on the new instance.
    installAccelerations(name);
    replacements++;
  })().finally(() => {
    replacing = undefined;
  });
  return replacing;
}

/** The 503 a request gets while the backend is being replaced, or when its own work faulted it. */
export const backendUnavailable = (why: string) =>
  new AppError(503, 'backend_unavailable', `${why}; the compute backend is being replaced, try again in a moment`, [], {
    'Retry-After': '1',
  });

/** Starts replacing a backend that faulted, without waiting; a process that cannot get a new one exits. */
export function replaceFaultedBackend(): void {
  replaceBackend().catch((failed: unknown) => {
    // Without a backend this process cannot serve; its supervisor (compose, systemd, k8s) restarts it.
    console.error('the compute backend could not be replaced; exiting', failed);
    process.exit(1);
  });
}
