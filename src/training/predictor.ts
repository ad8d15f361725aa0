import * as tf from '@tensorflow/tfjs';
import { LRUCache } from 'lru-cache';
import { notFound } from '../errors.ts';
import { featuresTensor, instancesTensor, type Transforms } from '../data/transforms.ts';
import { sizeOf } from '../data/types.ts';
import type { ModelMeta, ModelStore } from '../storage/model-store.ts';
import { currentBackend } from './backend.ts';
import { denseStack, type Forward } from './dense-stack.ts';
import { splitOutputs, type Prediction } from './prediction-output.ts';
import { sparseMatMulRuns } from './wasm-sparse-matmul.ts';

interface Loaded {
  meta: ModelMeta;
  model: tf.LayersModel;
  forward: Forward;
  /** Whether this model's last pass multiplied its input on the sparse path (see `carryOver`). */
  sparse?: boolean;
}

/** One request waiting for the next forward pass of its model. */
interface Waiting {
  /** The instances as numbers (the common case), or as a tensor made by the general path. */
  input: Float32Array | tf.Tensor;
  count: number;
  resolve: (p: Prediction) => void;
  reject: (err: unknown) => void;
  /** Already moved to a later pass once (see `carryOver`): it is not moved again. */
  carried?: boolean;
}

interface Batch {
  loaded: Loaded;
  waiting: Waiting[];
  instances: number;
}

/** A forward pass takes at most this many instances; more start the next pass. */
const MAX_BATCH_INSTANCES = 1024;
/** Rows the wasm backend's matmul computes together (XNNPACK's f32 GEMM tile; see `carryOver`). */
const WASM_MATMUL_ROWS = 4;

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
  private readonly counts = { passes: 0, instances: 0, carried: 0 };

  constructor(
    private readonly models: ModelStore,
    size: number,
  ) {
    this.cache = new LRUCache({
      max: size,
      dispose: (loading) => void loading.then((l) => l.model.dispose(), () => undefined),
    });
  }

  /** @param visible whether the caller may use this model (tenancy); a model it may not use is a 404, like a missing one. */
  async predict(id: string, instances: unknown[], visible: (meta: ModelMeta) => boolean = () => true): Promise<Prediction> {
    const loaded = await this.load(id);
    if (!visible(loaded.meta)) throw notFound('model', id);
    // Bad instances fail this request alone, before it joins a batch.
    const input = flatInstances(instances, loaded.meta.transforms) ?? instancesTensor(instances, loaded.meta.transforms);
    return new Promise<Prediction>((resolve, reject) => {
      let batch = this.batches.get(id);
      if (batch && batch.loaded !== loaded) {
        this.flush(id, batch); // the model was reloaded meanwhile
        batch = undefined;
      }
      if (!batch) {
        const fresh: Batch = { loaded, waiting: [], instances: 0 };
        this.batches.set(id, fresh);
        setImmediate(() => this.flush(id, fresh));
        batch = fresh;
      }
      batch.waiting.push({ input, count: instances.length, resolve, reject });
      batch.instances += instances.length;
      if (batch.instances >= MAX_BATCH_INSTANCES) this.flush(id, batch);
    });
  }

  /** One forward pass for every request in the batch; each gets its own slice of the outputs. */
  private flush(id: string, batch: Batch) {
    if (this.batches.get(id) !== batch) return; // already run
    this.batches.delete(id);
    this.carryOver(id, batch);
    this.counts.passes++;
    this.counts.instances += batch.instances;
    const { meta, forward } = batch.loaded;
    const inputs = batch.waiting.map((w) => w.input);
    const temporaries: tf.Tensor[] = inputs.filter((i): i is tf.Tensor => i instanceof tf.Tensor);
    try {
      const input = batchInput(batch, temporaries);
      const sparseRuns = sparseMatMulRuns();
      const output = tf.tidy(() => forward(input));
      batch.loaded.sparse = sparseMatMulRuns() !== sparseRuns;
      temporaries.push(output);
      const answers = splitOutputs(meta, output, batch.waiting.map((w) => w.count));
      batch.waiting.forEach((w, i) => w.resolve(answers[i]));
    } catch (err) {
      for (const w of batch.waiting) w.reject(err);
    } finally {
      tf.dispose(temporaries);
    }
  }

  /**
   * The wasm backend's matmul (XNNPACK) works through the batch 4 rows at a time, and a part
   * block costs as much as a full one: the MNIST model's first layer took 156 µs for 8 rows
   * and 236 µs for anything from 9 to 12. So when a busy batch ends in a part block, its last
   * single-instance requests wait for the next turn's pass instead, at the front of it, at
   * most once each. A batch of fewer than 4 instances always runs: no lone request waits.
   * Inputs that took the sparse path last time (wasm-sparse-matmul.ts, row by row) gain
   * nothing from it, so they are not held.
   */
  private carryOver(id: string, batch: Batch) {
    const tile = currentBackend() === 'wasm' && !batch.loaded.sparse ? WASM_MATMUL_ROWS : 1;
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

  /** Forward passes run, instances they took, and requests moved to a later pass (see `carryOver`). */
  stats() {
    return { ...this.counts };
  }

  /** Drops a model from the cache, e.g. when it is deleted. */
  evict(id: string) {
    this.cache.delete(id);
  }

  clear() {
    this.cache.clear();
  }

  private load(id: string): Promise<Loaded> {
    let loading = this.cache.get(id);
    if (!loading) {
      loading = (async () => {
        const meta = await this.models.get(id);
        if (!meta) throw notFound('model', id);
        const model = await tf.loadLayersModel(this.models.reader(id));
        return { meta, model, forward: forwardOf(model) };
      })();
      this.cache.set(id, loading);
      loading.catch(() => this.cache.delete(id));
    }
    return loading;
  }
}

/** The batch's instances as one model input: one upload and one transform pass when all came as numbers. */
function batchInput(batch: Batch, temporaries: tf.Tensor[]): tf.Tensor {
  const { transforms } = batch.loaded.meta;
  const inputs = batch.waiting.map((w) => w.input);
  let input: tf.Tensor;
  if (inputs.every((i) => i instanceof Float32Array)) {
    const values = inputs.length === 1 ? inputs[0] : new Float32Array(batch.instances * sizeOf(transforms.featureShape));
    if (values !== inputs[0]) inputs.reduce((offset, part) => (values.set(part, offset), offset + part.length), 0);
    input = featuresTensor(values, batch.instances, transforms);
  } else {
    const tensors = batch.waiting.map((w) => (w.input instanceof tf.Tensor ? w.input : featuresTensor(w.input, w.count, transforms)));
    temporaries.push(...tensors.filter((t) => !inputs.includes(t)));
    input = tensors.length === 1 ? tensors[0] : tf.concat(tensors);
  }
  if (!temporaries.includes(input)) temporaries.push(input);
  return input;
}

/**
 * The fast path of `instancesTensor` for what predict mostly gets: each instance a flat array
 * of finite numbers of the right length. Anything else (nested arrays, records, bad values)
 * returns undefined and takes the general path, which also words the errors.
 */
function flatInstances(instances: unknown[], t: Transforms): Float32Array | undefined {
  const per = sizeOf(t.featureShape);
  const values = new Float32Array(instances.length * per);
  for (let i = 0; i < instances.length; i++) {
    const row = instances[i];
    if (!Array.isArray(row) || row.length !== per) return undefined;
    for (let j = 0; j < per; j++) {
      const v = row[j];
      if (typeof v !== 'number' || !Number.isFinite(v)) return undefined;
      values[i * per + j] = v;
    }
  }
  return values;
}

/**
 * The model's forward pass: Dense stacks as their bare kernel calls (dense-stack.ts), other
 * models through `call`, which runs the layer graph directly (`predictOnBatch` would first copy
 * the batch into slices and go through generic execution: ~11 µs more a pass).
 */
function forwardOf(model: tf.LayersModel): Forward {
  return (
    denseStack(model) ??
    ((input) => {
      const out = model.call(input, { training: false });
      if (Array.isArray(out) && out.length !== 1) throw new Error(`a model with ${out.length} outputs cannot be served`);
      return Array.isArray(out) ? out[0] : out;
    })
  );
}
