import { Worker } from 'node:worker_threads';
import { AppError, notFound } from '../errors.ts';
import type { Transforms } from '../data/transforms.ts';
import type { BackendChoice } from './backend.ts';
import { forwardPass, LoadedModels, type PassOutput } from './forward-pass.ts';
import type { FromThread, ToThread } from './inference-thread.ts';

const THREAD_ENTRY = new URL('./inference-thread.ts', import.meta.url).href;
/**
 * The thread's first code. The TypeScript loader (tsx) that runs this process does not carry
 * over into worker threads on Node 20, so the thread registers it itself, then loads its module.
 */
const THREAD_BOOTSTRAP = `
const { workerData } = require('node:worker_threads');
import(workerData.tsx).then(({ register }) => { register(); return import(workerData.entry); });
`;
const TSX_API = import.meta.resolve('tsx/esm/api');

/** Where predict's forward passes run. */
export interface Inference {
  /** One pass of model `id` (stored in `dir`) over `count` raw instances. Takes `values` over. */
  run(id: string, dir: string, values: Float32Array, count: number, transforms: Transforms): Promise<PassOutput>;
  evict(id: string): void;
  close(): Promise<void>;
  /** Where the passes run, for logs and health. */
  readonly where: 'thread' | 'event loop';
}

/** Passes on the API's own event loop: the fallback when no inference thread can start. */
export class LocalInference implements Inference {
  readonly where = 'event loop';
  private readonly models: LoadedModels;

  constructor(cacheSize: number) {
    this.models = new LoadedModels(cacheSize);
  }

  async run(id: string, dir: string, values: Float32Array, count: number, transforms: Transforms) {
    return forwardPass(await this.models.get(id, dir).catch(missingAsNotFound(id)), values, count, transforms);
  }

  evict(id: string) {
    this.models.evict(id);
  }

  async close() {
    this.models.clear();
  }
}

const missingAsNotFound = (id: string) => (err: NodeJS.ErrnoException) => {
  throw err.code === 'ENOENT' ? notFound('model', id) : err;
};

/**
 * Passes in a worker thread with its own backend and loaded models, so a forward pass never
 * holds up the API's event loop (other requests, event streams) and uses a second core while
 * the event loop parses and answers requests. A thread that dies fails the passes it had with
 * 503 and is started again for the next one.
 */
export class ThreadInference implements Inference {
  readonly where = 'thread';
  private worker: Worker | undefined;
  private ready: Promise<string> | undefined;
  private seq = 0;
  private readonly waiting = new Map<number, { id: string; resolve: (o: PassOutput) => void; reject: (e: unknown) => void }>();

  constructor(private readonly options: { backend: BackendChoice; cacheSize: number }) {}

  /** Starts the thread; resolves with its backend's name, rejects if it cannot start one. */
  start(): Promise<string> {
    if (this.ready) return this.ready;
    const worker = new Worker(THREAD_BOOTSTRAP, { eval: true, workerData: { ...this.options, entry: THREAD_ENTRY, tsx: TSX_API } });
    this.worker = worker;
    this.ready = new Promise<string>((resolve, reject) => {
      worker.on('message', (message: FromThread) => {
        if (message.kind === 'ready') return resolve(message.backend);
        if (message.kind === 'failed') return reject(new Error(`the inference thread could not start a backend: ${message.error}`));
        const pass = this.waiting.get(message.seq);
        if (!pass) return;
        this.waiting.delete(message.seq);
        if (message.kind === 'output') pass.resolve({ values: message.values, shape: message.shape });
        else pass.reject(message.missing ? notFound('model', pass.id) : new Error(message.error));
      });
      const gone = (err: Error) => {
        reject(err);
        if (this.worker !== worker) return;
        this.worker = undefined;
        this.ready = undefined;
        this.failAll(`the inference thread stopped (${err.message})`);
      };
      worker.on('error', gone);
      worker.on('exit', (code) => gone(new Error(`exit code ${code}`)));
    });
    return this.ready;
  }

  async run(id: string, dir: string, values: Float32Array, count: number, transforms: Transforms) {
    await this.start();
    const seq = ++this.seq;
    return new Promise<PassOutput>((resolve, reject) => {
      this.waiting.set(seq, { id, resolve, reject });
      this.post({ kind: 'pass', seq, id, dir, values, count, transforms }, [values.buffer as ArrayBuffer]);
    });
  }

  evict(id: string) {
    this.post({ kind: 'evict', id });
  }

  async close() {
    const worker = this.worker;
    this.worker = undefined;
    this.ready = undefined;
    this.failAll('the API is shutting down');
    await worker?.terminate();
  }

  private failAll(why: string) {
    for (const pass of this.waiting.values()) pass.reject(new AppError(503, 'inference_unavailable', `${why}; retry the request`, [], { 'Retry-After': '1' }));
    this.waiting.clear();
  }

  private post(message: ToThread, transfer: ArrayBuffer[] = []) {
    this.worker?.postMessage(message, transfer);
  }
}

/**
 * The inference thread if `thread` is asked for and it starts, else passes on the event loop
 * (tfjs-node, say, may refuse to load in a second thread): predict works either way.
 */
export async function startInference(options: { thread: boolean; backend: BackendChoice; cacheSize: number; warn: (message: string) => void }): Promise<Inference> {
  if (options.thread) {
    const inference = new ThreadInference({ backend: options.backend, cacheSize: options.cacheSize });
    try {
      await inference.start();
      return inference;
    } catch (err) {
      await inference.close();
      options.warn(`${(err as Error).message}; predict runs on the API's event loop instead`);
    }
  }
  return new LocalInference(options.cacheSize);
}
