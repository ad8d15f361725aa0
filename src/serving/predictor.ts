import * as tf from '@tensorflow/tfjs';
import { LRUCache } from 'lru-cache';
import { AppError, notFound } from '../errors.ts';
import { instancesTensor } from '../data/transforms.ts';
import type { ModelMeta, ModelStore } from '../storage/model-store.ts';
import { accelerations } from '../compute/accelerations/index.ts';
import {
  backendState,
  backendUnavailable,
  isBackendFault,
  onBackendDiscarded,
  replaceFaultedBackend,
} from '../compute/backend-guard.ts';
import { DEFAULT_INGEST_LIMITS } from '../data/ingest-limits.ts';
import { batchInput, type Batch, type Waiting } from './batch-input.ts';
import { decodeImageInstances } from './image-instances.ts';
import { flatInstances, joinPredictions } from './instances.ts';
import { loadModel, type Loaded } from './loaded-model.ts';
import { checkSize, type PredictorLimits } from './predict-limits.ts';
import { splitOutputs, type Prediction } from './prediction-output.ts';

export type { PredictorLimits } from './predict-limits.ts';

/** What the predictor tells whoever measures it (the API's metrics); every call is synchronous and cheap. */
export interface PredictorObserver {
  /** A predict call answered (`ok`) or failed, after `seconds`. */
  predicted(seconds: number, ok: boolean): void;
  /** A forward pass ran with this many instances. */
  pass(instances: number): void;
  /** Loading a model from the model store failed for another reason than its absence. */
  loadFailed(): void;
}

/**
 * Serves predictions from stored models. Loaded models stay in an LRU cache (disposed when
 * evicted), and concurrent first requests share one load. Concurrent requests for the same
 * model are micro-batched: each request's instances are checked and converted on arrival,
 * and everything that arrived during one turn of the event loop goes through the model as
 * one forward pass (one matmul per layer instead of one per request), then is split again.
 * A lone request waits for nothing but that turn; on wasm, up to 3 single-instance requests
 * of a busy turn with dense inputs may move to the next turn's pass (see `carryOver`).
 */
export class Predictor {
  private readonly cache: LRUCache<string, Promise<Loaded>>;
  private readonly batches = new Map<string, Batch>();
  private readonly counts = {
    passes: 0,
    instances: 0,
    carried: 0,
    loads: 0,
    faults: 0,
    cacheHits: 0,
    cacheMisses: 0,
    cachedBytes: 0,
  };

  private readonly limits: Required<PredictorLimits>;
  /** Set while the backend is discarded: its tensors are gone with it and must not be disposed. */
  private discarding = false;
  private readonly stopListening: () => void;

  constructor(
    private readonly models: ModelStore,
    limits: PredictorLimits,
    private readonly observer?: PredictorObserver,
  ) {
    this.limits = {
      maxAnswerBytes: Number.POSITIVE_INFINITY,
      maxPassBytes: Number.POSITIVE_INFINITY,
      maxPassFlops: Number.POSITIVE_INFINITY,
      maxImagePixels: DEFAULT_INGEST_LIMITS.maxImagePixels,
      ...limits,
    };
    this.cache = new LRUCache({
      max: this.limits.cacheSize,
      dispose: (loading) => {
        const discarded = this.discarding;
        void loading.then(
          (l) => {
            this.counts.cachedBytes -= l.weightBytes;
            if (!discarded) l.model.dispose();
          },
          () => undefined,
        );
      },
    });
    this.stopListening = onBackendDiscarded(() => this.forgetAll());
  }

  /** The backend was discarded: every loaded model and waiting batch went with it. */
  private forgetAll() {
    this.discarding = true;
    try {
      this.cache.clear();
    } finally {
      this.discarding = false;
    }
    for (const [id, batch] of this.batches) {
      this.batches.delete(id);
      for (const w of batch.waiting) w.reject(backendUnavailable('the compute backend faulted during another request'));
    }
  }

  /** @param visible whether the caller may use this model (tenancy); a model it may not use is a 404, like a missing one. */
  async predict(
    id: string,
    instances: unknown[],
    visible: (meta: ModelMeta) => boolean = () => true,
  ): Promise<Prediction> {
    if (!this.observer) return this.predictOnce(id, instances, visible);
    const start = performance.now();
    try {
      const answer = await this.predictOnce(id, instances, visible);
      this.observer.predicted((performance.now() - start) / 1000, true);
      return answer;
    } catch (err) {
      this.observer.predicted((performance.now() - start) / 1000, false);
      throw err;
    }
  }

  private async predictOnce(
    id: string,
    instances: unknown[],
    visible: (meta: ModelMeta) => boolean,
  ): Promise<Prediction> {
    if (backendState() === 'replacing') throw backendUnavailable('the compute backend faulted during another request');
    let loaded = await this.load(id);
    if (!visible(loaded.meta)) throw notFound('model', id);
    checkSize(loaded, instances.length, this.limits);
    const { image } = loaded.meta.transforms;
    if (image) {
      // Encoded images become pixels first (asynchronously, off the loop); the rest is synchronous.
      instances = await decodeImageInstances(instances, image, this.limits.maxImagePixels);
      // The model may have left the cache (and been disposed) meanwhile: the pass needs it loaded.
      loaded = await this.load(id);
    }
    if (instances.length <= loaded.maxInstances) return this.enqueue(id, loaded, instances);
    // More than one pass may take: one pass at a time, each in a turn of the event loop of its own.
    const parts: Prediction[] = [];
    for (let start = 0; start < instances.length; start += loaded.maxInstances) {
      parts.push(await this.enqueue(id, loaded, instances.slice(start, start + loaded.maxInstances)));
    }
    return joinPredictions(parts);
  }

  /** Joins the batch of the next pass (see the class comment). */
  private enqueue(id: string, loaded: Loaded, instances: unknown[]): Promise<Prediction> {
    // Bad instances fail this request alone, before it joins a batch.
    const input =
      flatInstances(instances, loaded.meta.transforms) ?? instancesTensor(instances, loaded.meta.transforms);
    return new Promise<Prediction>((resolve, reject) => {
      let batch = this.batches.get(id);
      // A batch of a model since reloaded, or one this request would take past one pass's
      // budget, runs now; this request starts the next. (Running it may leave carried requests.)
      while (batch && (batch.loaded !== loaded || batch.instances + instances.length > loaded.maxInstances)) {
        this.flush(id, batch);
        batch = this.batches.get(id);
      }
      if (!batch) {
        const fresh: Batch = { loaded, waiting: [], instances: 0 };
        this.batches.set(id, fresh);
        setImmediate(() => this.flush(id, fresh));
        batch = fresh;
      }
      batch.waiting.push({ input, count: instances.length, resolve, reject });
      batch.instances += instances.length;
      if (batch.instances >= loaded.maxInstances) this.flush(id, batch);
    });
  }

  /** One forward pass for every request in the batch; each gets its own slice of the outputs. */
  private flush(id: string, batch: Batch) {
    if (this.batches.get(id) !== batch) return; // already run
    this.batches.delete(id);
    this.carryOver(id, batch);
    this.counts.passes++;
    this.counts.instances += batch.instances;
    this.observer?.pass(batch.instances);
    const { meta, forward } = batch.loaded;
    const inputs = batch.waiting.map((w) => w.input);
    const temporaries: tf.Tensor[] = inputs.filter((i): i is tf.Tensor => i instanceof tf.Tensor);
    try {
      const input = batchInput(batch, temporaries);
      const sparseRuns = accelerations().sparseProducts();
      const output = tf.tidy(() => forward(input));
      batch.loaded.sparse = accelerations().sparseProducts() !== sparseRuns;
      temporaries.push(output);
      const answers = splitOutputs(
        meta,
        output,
        batch.waiting.map((w) => w.count),
      );
      for (const [i, w] of batch.waiting.entries()) w.resolve(answers[i]);
    } catch (err) {
      if (isBackendFault(err)) return this.faulted(batch.waiting);
      for (const w of batch.waiting) w.reject(err);
    }
    tf.dispose(temporaries);
  }

  /**
   * A pass trapped inside the backend: its heap can no longer be trusted, by anyone. The
   * batch's requests get a 503, and the backend is replaced (`forgetAll` drops every model
   * and batch of the old one); the next requests load their models again on the new one.
   */
  private faulted(waiting: Waiting[]) {
    for (const w of waiting) w.reject(backendUnavailable('the compute backend faulted during this request'));
    this.counts.faults++;
    replaceFaultedBackend();
  }

  /**
   * The wasm backend's matmul (XNNPACK) works through the batch 4 rows at a time, and a part
   * block costs as much as a full one (docs/performance.md has the MNIST model's figures).
   * So when a busy batch ends in a part block, its last
   * single-instance requests wait for the next turn's pass instead, at the front of it, at
   * most once each. A batch of fewer than 4 instances always runs: no lone request waits.
   * Inputs that took the sparse path last time (compute/accelerations/wasm-sparse-matmul.ts,
   * row by row) gain nothing from it, so they are not held. An acceleration: the tile is 1
   * (nothing held) on other backends and with TFJS_ACCELERATION=off.
   */
  private carryOver(id: string, batch: Batch) {
    const tile = batch.loaded.sparse ? 1 : accelerations().predictBatchTile();
    const spare = batch.instances % tile;
    if (batch.instances < tile || spare === 0) return;
    const carried: Waiting[] = [];
    while (carried.length < spare) {
      const last = batch.waiting.at(-1)!;
      if (last.carried || last.count !== 1) break;
      last.carried = true;
      carried.unshift(batch.waiting.pop()!);
    }
    if (carried.length === 0) return;
    // Single-instance requests only: as many instances as requests.
    const next: Batch = { loaded: batch.loaded, waiting: carried, instances: carried.length };
    this.counts.carried += carried.length;
    batch.instances -= next.instances;
    this.batches.set(id, next);
    setImmediate(() => this.flush(id, next));
  }

  /**
   * Forward passes run, instances they took, requests moved to a later pass (see `carryOver`),
   * model cache hits and misses, and the weight bytes of the models loaded in the cache.
   */
  stats() {
    return { ...this.counts };
  }

  /**
   * Loads a model into the cache unless it is there already (a concurrent predict shares the
   * load), so the requests sent to it next find it loaded: an alias is moved only after this.
   */
  async warm(id: string): Promise<void> {
    await this.load(id);
  }

  /** Drops a model from the cache, e.g. when it is deleted. */
  evict(id: string) {
    this.cache.delete(id);
  }

  clear() {
    this.cache.clear();
    this.stopListening();
  }

  private load(id: string): Promise<Loaded> {
    let loading = this.cache.get(id);
    if (loading) {
      this.counts.cacheHits++;
      return loading;
    }
    this.counts.cacheMisses++;
    loading = loadModel(this.models, id, this.limits).then((loaded) => {
      this.counts.loads++;
      this.counts.cachedBytes += loaded.weightBytes;
      return loaded;
    });
    this.cache.set(id, loading);
    loading.catch((err) => {
      this.cache.delete(id);
      if (!(err instanceof AppError)) this.observer?.loadFailed();
    });
    return loading;
  }
}
