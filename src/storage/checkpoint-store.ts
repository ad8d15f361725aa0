import { randomUUID } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';

const ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** `<job id>.inline.json`: a job's inline training data (see `saveInline`). */
const INLINE_SUFFIX = '.inline.json';

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
}

/**
 * Per-job training checkpoints in `DATA_DIR/checkpoints/<job id>`, written atomically
 * (temp dir + rename over the previous one), so a worker killed at any instant leaves either
 * the previous checkpoint or the new one, never half of one. What a killed writer leaves
 * beside them (`.tmp-<job>-*`, `<job>.old-*`) is cleared when the job is resumed (`recover`)
 * or ends (`remove`), and by `sweep` for jobs that never come back.
 */
export class CheckpointStore {
  private readonly root: string;

  constructor(dataDir: string) {
    this.root = path.join(dataDir, 'checkpoints');
  }

  private dir(jobId: string) {
    if (!ID.test(jobId)) throw new Error(`not a job id: ${jobId}`);
    return path.join(this.root, jobId);
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
    const manifest: Manifest = {
      epoch,
      history,
      model: modelEncoded.specs,
      optimizer: optimizerEncoded.specs,
      optimizerOrder: optimizerTensors.map((t) => t.name),
      modelBytes: modelEncoded.data.byteLength,
    };
    const temp = path.join(this.root, `.tmp-${jobId}-${randomUUID()}`);
    await mkdir(temp, { recursive: true });
    try {
      const bytes = Buffer.concat([Buffer.from(modelEncoded.data), Buffer.from(optimizerEncoded.data)]);
      await writeFile(path.join(temp, 'weights.bin'), bytes);
      await writeFile(path.join(temp, 'checkpoint.json'), JSON.stringify(manifest));
      const target = this.dir(jobId);
      const old = `${target}.old-${randomUUID()}`;
      await rename(target, old).catch(() => undefined);
      await rename(temp, target);
      await rm(old, { recursive: true, force: true });
    } catch (err) {
      await rm(temp, { recursive: true, force: true });
      throw err;
    }
  }

  /** The epoch and history of a job's checkpoint, without its weights. */
  async info(jobId: string): Promise<{ epoch: number; history: Record<string, number[]> } | undefined> {
    try {
      const { epoch, history } = JSON.parse(
        await readFile(path.join(this.dir(jobId), 'checkpoint.json'), 'utf8'),
      ) as Manifest;
      return { epoch, history };
    } catch {
      return undefined;
    }
  }

  async load(jobId: string): Promise<Checkpoint | undefined> {
    const dir = this.dir(jobId);
    let manifest: Manifest;
    try {
      manifest = JSON.parse(await readFile(path.join(dir, 'checkpoint.json'), 'utf8')) as Manifest;
    } catch {
      return undefined;
    }
    const bytes = await readFile(path.join(dir, 'weights.bin'));
    const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
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
    const target = this.inlineFile(jobId);
    const temp = path.join(this.root, `.tmp-${jobId}-${randomUUID()}`);
    await mkdir(this.root, { recursive: true });
    try {
      await writeFile(temp, json);
      await rename(temp, target);
    } catch (err) {
      await rm(temp, { force: true });
      throw err;
    }
  }

  /** The inline data `saveInline` kept, or undefined when there is none (any more). */
  async loadInline(jobId: string): Promise<Record<string, unknown> | undefined> {
    try {
      return JSON.parse(await readFile(this.inlineFile(jobId), 'utf8')) as Record<string, unknown>;
    } catch {
      return undefined;
    }
  }

  private inlineFile(jobId: string) {
    return `${this.dir(jobId)}${INLINE_SUFFIX}`;
  }

  /** Removes a job's checkpoint, its inline data and whatever its writers left half-done. */
  async remove(jobId: string) {
    await rm(this.dir(jobId), { recursive: true, force: true });
    await rm(this.inlineFile(jobId), { force: true });
    for (const name of await this.leftovers(jobId))
      await rm(path.join(this.root, name), { recursive: true, force: true });
  }

  /**
   * Before a job runs again: the writers of its earlier attempts are dead (the job's lock
   * passed on), so their temp directories go. A writer killed between its two renames left
   * no checkpoint but the previous one under `.old-`: that one is put back.
   */
  async recover(jobId: string) {
    const target = this.dir(jobId);
    const leftovers = await this.leftovers(jobId);
    const previous = leftovers.filter((name) => name.startsWith(`${jobId}.old-`));
    if (previous.length > 0 && !(await exists(target))) {
      const newest = await newestOf(previous.map((name) => path.join(this.root, name)));
      await rename(newest, target);
    }
    for (const name of leftovers) await rm(path.join(this.root, name), { recursive: true, force: true });
  }

  /**
   * Removes what writers of any job left behind more than `olderThanMs` ago (a save takes
   * moments, so those writers are dead, and their jobs may never run again), and checkpoints
   * untouched as long of jobs that `ended` says are over or gone. Returns how many.
   */
  async sweep(
    olderThanMs = 60 * 60 * 1000,
    ended: (jobId: string) => Promise<boolean> = async () => false,
  ): Promise<number> {
    const names = await readdir(this.root).catch(() => [] as string[]);
    let removed = 0;
    for (const name of names) {
      const leftover = name.startsWith('.tmp-') || name.includes('.old-');
      const job = name.endsWith(INLINE_SUFFIX) ? name.slice(0, -INLINE_SUFFIX.length) : name;
      if (!leftover && !ID.test(job)) continue;
      const info = await stat(path.join(this.root, name)).catch(() => undefined);
      if (!info || Date.now() - info.mtimeMs <= olderThanMs) continue;
      if (!leftover && !(await ended(job))) continue;
      await rm(path.join(this.root, name), { recursive: true, force: true });
      removed++;
    }
    return removed;
  }

  /** Names (in the root) of a job's temp and replaced directories. */
  private async leftovers(jobId: string): Promise<string[]> {
    this.dir(jobId); // checks the id: it becomes part of names
    const names = await readdir(this.root).catch(() => [] as string[]);
    return names.filter((name) => name.startsWith(`.tmp-${jobId}-`) || name.startsWith(`${jobId}.old-`));
  }
}

const exists = (p: string) =>
  stat(p).then(
    () => true,
    () => false,
  );

async function newestOf(paths: string[]): Promise<string> {
  const times = await Promise.all(paths.map(async (p) => ({ p, mtime: (await stat(p)).mtimeMs })));
  return times.sort((a, b) => b.mtime - a.mtime)[0].p;
}
