import { randomUUID } from 'node:crypto';
import * as tf from '@tensorflow/tfjs';
import type { ObjectStore } from './object-store.ts';

const ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** `checkpoints/<job id>.inline.json`: a job's inline training data (see `saveInline`). */
const INLINE_SUFFIX = '.inline.json';
const MANIFEST = 'checkpoint.json';
/** What checkpoints written before the manifest named its weights object called them. */
const LEGACY_WEIGHTS = 'weights.bin';

/** What a resumed run needs: the epochs done, their history, and the model's and optimizer's weights. */
export interface Checkpoint {
  epoch: number;
  history: Record<string, number[]>;
  modelWeights: tf.NamedTensorMap;
  optimizerWeights: { name: string; tensor: tf.Tensor }[];
}

interface Manifest {
  epoch: number;
  history: Record<string, number[]>;
  model: tf.io.WeightsManifestEntry[];
  optimizer: tf.io.WeightsManifestEntry[];
  optimizerOrder: string[];
  modelBytes: number;
  /** The weights object beside the manifest; absent in checkpoints written before it was named. */
  weights?: string;
}

/**
 * Per-job training checkpoints under `checkpoints/<job id>/` in the object store: the weights
 * go to a new object (`weights-<random>.bin`), then the manifest naming it replaces the
 * previous one (a single object, so atomic in every store), then the previous weights go. A
 * worker killed at any instant leaves the previous checkpoint or the new one, never half of
 * one; the weights objects it leaves unreferenced are cleared when the job resumes
 * (`recover`) or ends (`remove`), and by `sweep` for jobs that never come back.
 */
export class CheckpointStore {
  constructor(readonly objects: ObjectStore) {}

  private folder(jobId: string) {
    if (!ID.test(jobId)) throw new Error(`not a job id: ${jobId}`);
    return `checkpoints/${jobId}/`;
  }

  /** The job's manifest; undefined when there is none or it is unreadable. A store that is away throws. */
  private async manifest(jobId: string): Promise<Manifest | undefined> {
    const bytes = await this.objects.get(`${this.folder(jobId)}${MANIFEST}`);
    try {
      return bytes ? (JSON.parse(bytes.toString('utf8')) as Manifest) : undefined;
    } catch {
      return undefined;
    }
  }

  async save(
    jobId: string,
    epoch: number,
    history: Record<string, number[]>,
    model: tf.LayersModel,
    optimizer: tf.Optimizer,
  ) {
    // Named by position (m0, m1, ...): layer names differ between processes, the order does not.
    const modelTensors = model.weights.map((w, i) => ({ name: `m${i}`, tensor: w.read() }));
    const optimizerTensors = await optimizer.getWeights();
    const modelEncoded = await tf.io.encodeWeights(modelTensors);
    const optimizerEncoded = await tf.io.encodeWeights(optimizerTensors);
    // getWeights() hands out the optimizer's own variables plus a fresh `iter` scalar: free only the copy.
    for (const { tensor } of optimizerTensors) if (!(tensor instanceof tf.Variable)) tensor.dispose();
    const weights = `weights-${randomUUID()}.bin`;
    const manifest: Manifest = {
      epoch,
      history,
      model: modelEncoded.specs,
      optimizer: optimizerEncoded.specs,
      optimizerOrder: optimizerTensors.map((t) => t.name),
      modelBytes: modelEncoded.data.byteLength,
      weights,
    };
    const folder = this.folder(jobId);
    const bytes = Buffer.concat([Buffer.from(modelEncoded.data), Buffer.from(optimizerEncoded.data)]);
    await this.objects.put(`${folder}${weights}`, bytes);
    await this.objects.put(`${folder}${MANIFEST}`, JSON.stringify(manifest));
    await this.dropUnreferenced(jobId, weights);
  }

  /** Deletes a job's weights objects other than `keep` (a killed save's, a replaced checkpoint's). */
  private async dropUnreferenced(jobId: string, keep: string) {
    const folder = this.folder(jobId);
    const stale = (await this.objects.list(folder))
      .map((o) => o.key)
      .filter((key) => key !== `${folder}${keep}` && key !== `${folder}${MANIFEST}`);
    if (stale.length > 0) await this.objects.delete(stale);
  }

  /** The epoch and history of a job's checkpoint, without its weights. */
  async info(jobId: string): Promise<{ epoch: number; history: Record<string, number[]> } | undefined> {
    const manifest = await this.manifest(jobId);
    return manifest && { epoch: manifest.epoch, history: manifest.history };
  }

  async load(jobId: string): Promise<Checkpoint | undefined> {
    const manifest = await this.manifest(jobId);
    if (!manifest) return undefined;
    const bytes = await this.objects.get(`${this.folder(jobId)}${manifest.weights ?? LEGACY_WEIGHTS}`);
    if (!bytes) return undefined;
    const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
    const modelWeights = tf.io.decodeWeights(buffer.slice(0, manifest.modelBytes), manifest.model);
    const optimizerMap = tf.io.decodeWeights(buffer.slice(manifest.modelBytes), manifest.optimizer);
    const optimizerWeights = manifest.optimizerOrder.map((name) => ({ name, tensor: optimizerMap[name] }));
    return { epoch: manifest.epoch, history: manifest.history, modelWeights, optimizerWeights };
  }

  /**
   * A job's inline training data (`data.x`, `y`, `xTest`, `yTest`), kept beside its checkpoints
   * from submit until the job ends rather than in its Redis record: Redis holds no training
   * data, and every end of a job (`remove`, `sweep`) removes it with the checkpoints.
   */
  async saveInline(jobId: string, json: string) {
    await this.objects.put(this.inlineKey(jobId), json);
  }

  /** The inline data `saveInline` kept, or undefined when there is none (any more). */
  async loadInline(jobId: string): Promise<Record<string, unknown> | undefined> {
    const bytes = await this.objects.get(this.inlineKey(jobId));
    return bytes ? (JSON.parse(bytes.toString('utf8')) as Record<string, unknown>) : undefined;
  }

  private inlineKey(jobId: string) {
    return `${this.folder(jobId).slice(0, -1)}${INLINE_SUFFIX}`;
  }

  /** Removes a job's checkpoint, its inline data and whatever its writers left half-done. */
  async remove(jobId: string) {
    await this.objects.deletePrefix(this.folder(jobId));
    await this.objects.delete([this.inlineKey(jobId)]);
  }

  /**
   * Before a job runs again: the writers of its earlier attempts are dead (the job's lock
   * passed on), so the weights objects its manifest does not name go.
   */
  async recover(jobId: string) {
    const manifest = await this.manifest(jobId);
    await this.dropUnreferenced(jobId, manifest?.weights ?? LEGACY_WEIGHTS);
  }

  /**
   * Removes the checkpoints and inline data of jobs that `ended` says are over or gone,
   * untouched for `olderThanMs`. Returns how many jobs' worth.
   */
  async sweep(
    olderThanMs = 60 * 60 * 1000,
    ended: (jobId: string) => Promise<boolean> = async () => false,
  ): Promise<number> {
    const newest = new Map<string, number>();
    for (const object of await this.objects.list('checkpoints/')) {
      const name = object.key.slice('checkpoints/'.length).split('/')[0];
      const job = name.endsWith(INLINE_SUFFIX) ? name.slice(0, -INLINE_SUFFIX.length) : name;
      if (ID.test(job)) newest.set(job, Math.max(newest.get(job) ?? 0, object.modified.getTime()));
    }
    let removed = 0;
    for (const [job, time] of newest) {
      if (Date.now() - time <= olderThanMs || !(await ended(job))) continue;
      await this.remove(job);
      removed++;
    }
    return removed;
  }
}
