import { createHash } from 'node:crypto';
import { existsSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';

const require = createRequire(import.meta.url);
const FACTORY = 'var WasmBackendModuleThreadedSimd';
/** The multi-threaded wasm build pre-spawns this many pthread workers; more would need new ones later. */
export const MAX_WASM_THREADS = 8;

/**
 * Lets the wasm backend's multi-threaded SIMD build start in Node, where tfjs turns it off
 * (tensorflow/tfjs#3830). Three things stand in its way, each patched only while the backend
 * initialises:
 * - the `WASM_HAS_MULTITHREAD_SUPPORT` flag is hard-wired to false under Node: we set it;
 * - Emscripten starts each pthread as `new Worker(blob: URL)`, which Node's worker_threads
 *   cannot load, and the worker then imports the main script from another Blob: we record
 *   the Blobs' text, write the worker script to a file, and point it at the package's own
 *   copy of the main script;
 * - the C++ side caps threads at `logical cores / 2` (it assumes hyper-threading), i.e. 1 on
 *   a 2-core machine: we report twice the cores while it reads them.
 * Call before `tf.setBackend('wasm')`; `init` must resolve once the backend is up.
 * Returns the number of threads XNNPACK actually got.
 */
export async function withWasmThreads(threads: number, init: () => Promise<boolean>): Promise<boolean> {
  const wasm = await import('@tensorflow/tfjs-backend-wasm');
  const count = Math.max(1, Math.min(MAX_WASM_THREADS, Math.floor(threads)));
  if (count === 1) return init();
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', true);
  wasm.setThreadsCount(count);
  const mainScript = require.resolve('@tensorflow/tfjs-backend-wasm/wasm-out/tfjs-backend-wasm-threaded-simd.js');
  const texts = new WeakMap<Blob, string>();
  const RealBlob = globalThis.Blob;
  const realCreateObjectURL = URL.createObjectURL;
  const realCpus = os.cpus;
  globalThis.Blob = class RecordedBlob extends RealBlob {
    constructor(...args: ConstructorParameters<typeof Blob>) {
      super(...args);
      const parts: unknown[] = args[0] ?? [];
      if (parts.every((p) => typeof p === 'string')) texts.set(this, parts.join(''));
    }
  };
  URL.createObjectURL = (blob: Blob) => {
    const text = texts.get(blob);
    if (text === undefined || text.startsWith(FACTORY)) return realCreateObjectURL(blob);
    return workerScriptFile(text, mainScript);
  };
  os.cpus = () => [...realCpus(), ...realCpus()];
  try {
    const ok = await init();
    // Idle pthread workers must not keep a finished process (a test, a script) alive.
    const pthreads = (tf.backend() as unknown as { wasm?: { PThread?: { runningWorkers: { unref(): void }[] } } }).wasm?.PThread;
    for (const worker of pthreads?.runningWorkers ?? []) worker.unref();
    return ok;
  } finally {
    globalThis.Blob = RealBlob;
    URL.createObjectURL = realCreateObjectURL;
    os.cpus = realCpus;
  }
}

/** Threads the wasm backend computes with (1 when the single-threaded build runs). */
export async function wasmThreadsInUse(): Promise<number> {
  if (tf.getBackend() !== 'wasm') return 0;
  const wasm = await import('@tensorflow/tfjs-backend-wasm');
  return wasm.getThreadsCount();
}

/**
 * The pthread worker script as a file: the same text Emscripten would have put in a Blob,
 * told to load the main script from the package instead of from a second Blob. Named by
 * content, so every process reuses one file, written atomically.
 */
function workerScriptFile(text: string, mainScript: string): string {
  const source = `URL.createObjectURL = () => ${JSON.stringify(mainScript)}; URL.revokeObjectURL = () => {};\n${text}`;
  const hash = createHash('sha256').update(source).digest('hex').slice(0, 16);
  const file = path.join(os.tmpdir(), `tfjs-wasm-pthread-${hash}.cjs`);
  if (!existsSync(file)) {
    const temp = `${file}.${process.pid}.tmp`;
    writeFileSync(temp, source);
    renameSync(temp, file);
  }
  return file;
}
