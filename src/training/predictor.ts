import * as tf from '@tensorflow/tfjs';
import { LRUCache } from 'lru-cache';
import { notFound } from '../errors.ts';
import { instanceValues, type Transforms } from '../data/transforms.ts';
import { sizeOf } from '../data/types.ts';
import type { ModelMeta, ModelStore } from '../storage/model-store.ts';
import type { PassOutput } from './forward-pass.ts';
import type { Inference } from './inference.ts';

export interface Prediction {
  predictions: unknown[];
  classes?: unknown[];
  /** Class names, for models trained on text labels. */
  labels?: string[];
}

/** One request waiting for a forward pass of its model. */
interface Waiting {
  /** The instances' raw values, checked. */
  values: Float32Array;
  count: number;
  resolve: (p: Prediction) => void;
  reject: (err: unknown) => void;
}

interface Batch {
  id: string;
  meta: ModelMeta;
  waiting: Waiting[];
  instances: number;
}

/** A forward pass takes at most this many instances; more start the next pass. */
const MAX_BATCH_INSTANCES = 1024;

/**
 * Serves predictions from stored models. Each request's instances are checked and converted
 * on arrival (a bad one fails alone); requests for the same model then wait in a batch, and
 * one forward pass (one matmul per layer instead of one per request) answers the whole batch.
 * One pass runs at a time (in the inference thread, see inference.ts): requests arriving
 * while it runs form the next batch, so batches grow with the load and a lone request waits
 * for nothing but one event-loop turn. Model metadata (owner, transforms) stays cached, so
 * predict costs no Redis read.
 */
export class Predictor {
  private readonly metas: LRUCache<string, Promise<ModelMeta>>;
  /** Batches in the order they run; the last one of each model still takes requests. */
  private readonly queue: Batch[] = [];
  private readonly open = new Map<string, Batch>();
  private running = false;
  private scheduled = false;
  private counts = { passes: 0, instances: 0 };

  constructor(
    private readonly models: ModelStore,
    private readonly inference: Inference,
    size: number,
  ) {
    this.metas = new LRUCache({ max: size });
  }

  /** @param visible whether the caller may use this model (tenancy); a model it may not use is a 404, like a missing one. */
  async predict(id: string, instances: unknown[], visible: (meta: ModelMeta) => boolean = () => true): Promise<Prediction> {
    const meta = await this.meta(id);
    if (!visible(meta)) throw notFound('model', id);
    // Bad instances fail this request alone, before it joins a batch.
    const values = flatInstances(instances, meta.transforms) ?? instanceValues(instances, meta.transforms);
    return new Promise<Prediction>((resolve, reject) => {
      let batch = this.open.get(id);
      if (!batch || batch.meta !== meta || batch.instances >= MAX_BATCH_INSTANCES) {
        batch = { id, meta, waiting: [], instances: 0 };
        this.open.set(id, batch);
        this.queue.push(batch);
      }
      batch.waiting.push({ values, count: instances.length, resolve, reject });
      batch.instances += instances.length;
      this.schedule();
    });
  }

  /** Forward passes run and instances predicted so far. */
  stats() {
    return { ...this.counts, where: this.inference.where };
  }

  /** Drops a model from the caches, e.g. when it is deleted. */
  evict(id: string) {
    this.metas.delete(id);
    this.inference.evict(id);
  }

  async close() {
    this.metas.clear();
    await this.inference.close();
  }

  /** Runs the next batch after this event-loop turn, so requests arriving in it join. */
  private schedule() {
    if (this.running || this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.runNext();
    });
  }

  private runNext() {
    const batch = this.queue.shift();
    if (!batch) return;
    if (this.open.get(batch.id) === batch) this.open.delete(batch.id);
    this.running = true;
    this.counts.passes++;
    this.counts.instances += batch.instances;
    const values = batch.waiting.length === 1 ? batch.waiting[0].values : joined(batch);
    this.inference
      .run(batch.id, this.models.dir(batch.id), values, batch.instances, batch.meta.transforms)
      .then(
        (output) => answer(batch, output),
        (err) => batch.waiting.forEach((w) => w.reject(err)),
      )
      .finally(() => {
        this.running = false;
        // Requests that came in during the pass are the next batch; run it at once.
        this.runNext();
      });
  }

  private meta(id: string): Promise<ModelMeta> {
    let loading = this.metas.get(id);
    if (!loading) {
      loading = this.models.get(id).then((meta) => {
        if (!meta) throw notFound('model', id);
        return meta;
      });
      this.metas.set(id, loading);
      loading.catch(() => this.metas.delete(id));
    }
    return loading;
  }
}

function joined(batch: Batch): Float32Array {
  const values = new Float32Array(batch.instances * sizeOf(batch.meta.transforms.featureShape));
  let offset = 0;
  for (const w of batch.waiting) {
    values.set(w.values, offset);
    offset += w.values.length;
  }
  return values;
}

/** Splits one pass's outputs among the requests of its batch. */
function answer(batch: Batch, output: PassOutput) {
  const { meta } = batch;
  const perInstance = output.shape.slice(1);
  const size = sizeOf(perInstance);
  const rows = (start: number, count: number) =>
    Array.from({ length: count }, (_, i) => {
      const row = output.values.subarray((start + i) * size, (start + i + 1) * size);
      return perInstance.length === 0 ? row[0] : tf.util.toNestedArray(perInstance, row);
    });
  const classes = classIndices(meta, output);
  // One class per instance, or per position of a sequence output ([n, steps, classes]).
  const classShape = output.shape.slice(1, -1);
  const perClass = sizeOf(classShape);
  let start = 0;
  for (const w of batch.waiting) {
    const prediction: Prediction = { predictions: rows(start, w.count) };
    if (classes) {
      prediction.classes = Array.from({ length: w.count }, (_, i) => {
        const part = classes.subarray((start + i) * perClass, (start + i + 1) * perClass);
        return classShape.length === 0 ? part[0] : tf.util.toNestedArray(classShape, part);
      });
    }
    w.resolve(named(meta, prediction));
    start += w.count;
  }
}

/**
 * The fast path of `instanceValues` for what predict mostly gets: each instance a flat array
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

/**
 * The predicted class per instance (per position, for sequence outputs), for classifiers:
 * the index of the highest output along the last axis (the first of equals, as tf.argMax),
 * or for a binary classifier 1 when its output is >= 0.5.
 */
function classIndices(meta: ModelMeta, output: PassOutput): Int32Array | undefined {
  const { values, shape } = output;
  if (isBinary(meta)) return Int32Array.from(values, (v) => (v >= 0.5 ? 1 : 0));
  if (!isClassifier(meta)) return undefined;
  const width = shape.at(-1)!;
  const classes = new Int32Array(values.length / width);
  for (let r = 0; r < classes.length; r++) {
    let best = 0;
    for (let j = 1; j < width; j++) if (values[r * width + j] > values[r * width + best]) best = j;
    classes[r] = best;
  }
  return classes;
}

/** Adds the class names when the model was trained on text labels. */
function named(meta: ModelMeta, prediction: Prediction): Prediction {
  const names = meta.transforms.classNames;
  return names && prediction.classes ? { ...prediction, labels: (prediction.classes as number[]).map((c) => names[c] ?? String(c)) } : prediction;
}
