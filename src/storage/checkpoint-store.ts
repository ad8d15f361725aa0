import { randomUUID } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';

const ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

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
 * the previous checkpoint or the new one, never half of one.
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

  async save(jobId: string, epoch: number, history: Record<string, number[]>, model: tf.LayersModel, optimizer: tf.Optimizer) {
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
      const { epoch, history } = JSON.parse(await readFile(path.join(this.dir(jobId), 'checkpoint.json'), 'utf8')) as Manifest;
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

  async remove(jobId: string) {
    await rm(this.dir(jobId), { recursive: true, force: true });
  }
}
