import * as tf from '@tensorflow/tfjs';
import { LRUCache } from 'lru-cache';
import { notFound } from '../errors.ts';
import { instancesTensor } from '../data/transforms.ts';
import type { ModelMeta, ModelStore } from '../storage/model-store.ts';

interface Loaded {
  meta: ModelMeta;
  model: tf.LayersModel;
}

export interface Prediction {
  predictions: unknown[];
  classes?: number[];
}

/**
 * Serves predictions from stored models. Loaded models stay in an LRU cache (disposed when
 * evicted), and concurrent first requests share one load.
 */
export class Predictor {
  private readonly cache: LRUCache<string, Promise<Loaded>>;

  constructor(
    private readonly models: ModelStore,
    size: number,
  ) {
    this.cache = new LRUCache({
      max: size,
      dispose: (loading) => void loading.then((l) => l.model.dispose(), () => undefined),
    });
  }

  async predict(id: string, instances: unknown[]): Promise<Prediction> {
    const { meta, model } = await this.load(id);
    const input = instancesTensor(instances, meta.transforms);
    try {
      const output = model.predict(input) as tf.Tensor;
      const best = isClassifier(meta) ? output.argMax(-1) : undefined;
      try {
        const predictions = (await output.array()) as unknown[];
        return best ? { predictions, classes: (await best.array()) as number[] } : { predictions };
      } finally {
        output.dispose();
        best?.dispose();
      }
    } finally {
      input.dispose();
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

/** A softmax/sigmoid-free multi-output model can still be a classifier; the loss says so. */
function isClassifier(meta: ModelMeta): boolean {
  return ['categoricalCrossentropy', 'sparseCategoricalCrossentropy'].includes(meta.compile.loss) && (meta.summary.outputShape.at(-1) ?? 0) > 1;
}
