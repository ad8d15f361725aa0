import * as tf from '@tensorflow/tfjs';
import { LRUCache } from 'lru-cache';
import { notFound } from '../errors.ts';
import { featuresTensor, instancesTensor, type Transforms } from '../data/transforms.ts';
import { sizeOf } from '../data/types.ts';
import type { ModelMeta, ModelStore } from '../storage/model-store.ts';

interface Loaded {
  meta: ModelMeta;
  model: tf.LayersModel;
}

export interface Prediction {
  predictions: unknown[];
  /** Class indices: one per instance, or nested per step for sequence outputs. */
  classes?: unknown[];
  /** Class names, for models trained on text labels, shaped like `classes`. */
  labels?: unknown[];
}

/** One request waiting for the next forward pass of its model. */
interface Waiting {
  /** The instances as numbers (the common case), or as a tensor made by the general path. */
  input: Float32Array | tf.Tensor;
  count: number;
  resolve: (p: Prediction) => void;
  reject: (err: unknown) => void;
}

interface Batch {
  loaded: Loaded;
  waiting: Waiting[];
  instances: number;
}

/** A forward pass takes at most this many instances; more start the next pass. */
const MAX_BATCH_INSTANCES = 1024;

/**
 * Serves predictions from stored models. Loaded models stay in an LRU cache (disposed when
 * evicted), and concurrent first requests share one load. Concurrent requests for the same
 * model are micro-batched: each request's instances are checked and converted on arrival,
 * and everything that arrived during one turn of the event loop goes through the model as
 * one forward pass (one matmul per layer instead of one per request), then is split again.
 * A lone request waits for nothing but that turn.
 */
export class Predictor {
  private readonly cache: LRUCache<string, Promise<Loaded>>;
  private readonly batches = new Map<string, Batch>();

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
    const { meta, model } = batch.loaded;
    const inputs = batch.waiting.map((w) => w.input);
    const temporaries: tf.Tensor[] = inputs.filter((i): i is tf.Tensor => i instanceof tf.Tensor);
    try {
      const input = batchInput(batch, temporaries);
      // predictOnBatch: one pass; predict() would re-split the batch into chunks of 32.
      const output = model.predictOnBatch(input) as tf.Tensor;
      temporaries.push(output);
      const best = classIndices(meta, output);
      if (best) temporaries.push(best);
      const predictions = output.arraySync() as unknown[];
      const classes = best?.arraySync() as unknown[] | undefined;
      let offset = 0;
      for (const w of batch.waiting) {
        const end = offset + w.count;
        w.resolve(classes ? named(meta, { predictions: predictions.slice(offset, end), classes: classes.slice(offset, end) }) : { predictions: predictions.slice(offset, end) });
        offset = end;
      }
    } catch (err) {
      for (const w of batch.waiting) w.reject(err);
    } finally {
      tf.dispose(temporaries);
    }
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
        return { meta, model: await tf.loadLayersModel(this.models.reader(id)) };
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

/** A softmax/sigmoid-free multi-output model can still be a classifier; the loss says so. */
function isClassifier(meta: ModelMeta): boolean {
  return ['categoricalCrossentropy', 'sparseCategoricalCrossentropy'].includes(meta.compile.loss) && (meta.summary.outputShape.at(-1) ?? 0) > 1;
}

/** Binary crossentropy with one output is a binary classifier: class 1 when the output is >= 0.5. */
const isBinary = (meta: ModelMeta) => meta.compile.loss === 'binaryCrossentropy' && meta.summary.outputShape.length === 2 && meta.summary.outputShape[1] === 1;

/** The predicted class index per instance, for classifiers. */
function classIndices(meta: ModelMeta, output: tf.Tensor): tf.Tensor | undefined {
  if (isClassifier(meta)) return output.argMax(-1);
  if (isBinary(meta)) return tf.tidy(() => output.reshape([-1]).greaterEqual(0.5).toInt());
  return undefined;
}

/** Adds the class names when the model was trained on text labels. */
function named(meta: ModelMeta, prediction: Prediction): Prediction {
  const names = meta.transforms.classNames;
  if (!names || !prediction.classes) return prediction;
  const name = (c: unknown): unknown => (Array.isArray(c) ? c.map(name) : (names[c as number] ?? String(c)));
  return { ...prediction, labels: prediction.classes.map(name) };
}
