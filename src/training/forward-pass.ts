import * as tf from '@tensorflow/tfjs';
import { LRUCache } from 'lru-cache';
import { featuresTensor, type Transforms } from '../data/transforms.ts';
import { modelDirReader } from '../storage/model-store.ts';

/** A forward pass's outputs, flat, with their shape (first axis: the instances). */
export interface PassOutput {
  values: Float32Array;
  shape: number[];
}

/** One forward pass over `count` raw instances: the training transforms, then the model. */
export function forwardPass(model: tf.LayersModel, values: Float32Array, count: number, transforms: Transforms): PassOutput {
  const input = featuresTensor(values, count, transforms);
  try {
    // predictOnBatch: one pass; predict() would re-split the batch into chunks of 32.
    const output = model.predictOnBatch(input) as tf.Tensor;
    try {
      // A copy of our own: the inference thread hands its buffer over to the API thread.
      return { values: Float32Array.from(output.dataSync()), shape: output.shape };
    } finally {
      output.dispose();
    }
  } finally {
    input.dispose();
  }
}

/** Models loaded from their directories, the least recently used disposed beyond `size`. */
export class LoadedModels {
  private readonly cache: LRUCache<string, Promise<tf.LayersModel>>;

  constructor(size: number) {
    this.cache = new LRUCache({ max: size, dispose: (loading) => void loading.then((m) => m.dispose(), () => undefined) });
  }

  /** Concurrent first requests share one load; a failed load is forgotten. */
  get(id: string, dir: string): Promise<tf.LayersModel> {
    let loading = this.cache.get(id);
    if (!loading) {
      loading = tf.loadLayersModel(modelDirReader(dir));
      this.cache.set(id, loading);
      loading.catch(() => this.cache.delete(id));
    }
    return loading;
  }

  evict(id: string) {
    this.cache.delete(id);
  }

  clear() {
    this.cache.clear();
  }
}
