import { randomUUID } from 'node:crypto';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import type { Redis } from 'ioredis';
import { v7 as randomUUIDv7 } from 'uuid';
import type { Transforms } from '../data/transforms.ts';
import { keys, type Keys } from './keys.ts';
import type { EvaluationReport } from '../schemas/evaluation.ts';
import type { Model } from '../schemas/model.ts';
import type { Tenant } from '../tenant.ts';
import { OwnedIndex } from './owned-index.ts';

export const WEIGHTS_FILE = 'weights.bin';
export const MODEL_FILE = 'model.json';
const META_FILE = 'meta.json';
const ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * A stored model's metadata: the API's `Model` (schemas/model.ts), with the tenant always set
 * and the transforms and evaluation in the full types training made them with.
 */
export type ModelMeta = Omit<Model, 'tenant' | 'transforms' | 'evaluation'> & {
  tenant: string;
  transforms: Transforms;
  evaluation: EvaluationReport | null;
};

/**
 * Trained models: artifacts (model.json, weights.bin, meta.json) in `DATA_DIR/models/<id>`,
 * metadata and the list in Redis so every API process sees every worker's models. Directory
 * names are server-generated ids only; nothing from a request becomes a path.
 */
export class ModelStore {
  private readonly keys: Keys;
  private readonly root: string;
  private readonly index: OwnedIndex<ModelMeta>;

  constructor(redis: Redis, prefix: string, dataDir: string) {
    this.keys = keys(prefix);
    this.root = path.join(dataDir, 'models');
    this.index = new OwnedIndex(redis, {
      meta: this.keys.model,
      all: this.keys.models,
      tenantPrefix: this.keys.tenantPrefix,
      kind: 'models',
    });
  }

  static newId = () => randomUUIDv7();

  dir(id: string): string {
    if (!ID.test(id)) throw new Error(`not a model id: ${id}`);
    return path.join(this.root, id);
  }

  /**
   * An IOHandler that writes all three files into a temporary directory and renames it into
   * place, then registers the model: a reader never sees half a model.
   */
  writer(meta: Omit<ModelMeta, 'bytes'>): tf.io.IOHandler {
    return {
      save: async (artifacts) => {
        const weights = artifacts.weightData
          ? tf.io.CompositeArrayBuffer.join(artifacts.weightData)
          : new ArrayBuffer(0);
        const modelJson = {
          modelTopology: artifacts.modelTopology,
          format: artifacts.format ?? 'layers-model',
          generatedBy: artifacts.generatedBy,
          convertedBy: artifacts.convertedBy ?? null,
          trainingConfig: artifacts.trainingConfig,
          weightsManifest: [{ paths: [`./${WEIGHTS_FILE}`], weights: artifacts.weightSpecs ?? [] }],
        };
        const full: ModelMeta = { ...meta, bytes: weights.byteLength };
        const temp = path.join(this.root, `.tmp-${meta.id}-${randomUUID()}`);
        await mkdir(temp, { recursive: true });
        try {
          await writeFile(path.join(temp, WEIGHTS_FILE), Buffer.from(weights));
          await writeFile(path.join(temp, MODEL_FILE), JSON.stringify(modelJson));
          await writeFile(path.join(temp, META_FILE), JSON.stringify(full, null, 2));
          // A retried job saves under the same id: replace, so there is exactly one model.
          const replaced = `${this.dir(meta.id)}.old-${randomUUID()}`;
          await rename(this.dir(meta.id), replaced).catch(() => undefined);
          await rename(temp, this.dir(meta.id));
          await rm(replaced, { recursive: true, force: true });
          // A model a job trained is always kept: storage quotas are checked when jobs are submitted.
          await this.index.register(full);
        } catch (err) {
          await rm(temp, { recursive: true, force: true });
          await rm(this.dir(meta.id), { recursive: true, force: true });
          throw err;
        }
        return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts) };
      },
    };
  }

  /** An IOHandler that loads a stored model from disk. */
  reader(id: string): tf.io.IOHandler {
    const dir = this.dir(id);
    return {
      load: async () => {
        const modelJson = JSON.parse(await readFile(path.join(dir, MODEL_FILE), 'utf8')) as tf.io.ModelJSON;
        return tf.io.getModelArtifactsForJSON(modelJson, async () => {
          const buffer = await readFile(path.join(dir, WEIGHTS_FILE));
          return [
            modelJson.weightsManifest.flatMap((g) => g.weights),
            buffer.buffer.slice(buffer.byteOffset, buffer.byteOffset + buffer.byteLength),
          ];
        });
      },
    };
  }

  async get(id: string): Promise<ModelMeta | undefined> {
    return ID.test(id) ? this.index.get(id) : undefined;
  }

  /** The metadata if `tenant` may see the model; another tenant's costs what a missing one does (see OwnedIndex). */
  async getFor(id: string, tenant: Tenant): Promise<ModelMeta | undefined> {
    return ID.test(id) ? this.index.getFor(id, tenant) : undefined;
  }

  /** Whether `tenant` may use the model: one small index read, before anything is loaded. */
  async visibleTo(id: string, tenant: Tenant): Promise<boolean> {
    return ID.test(id) && this.index.visibleTo(id, tenant);
  }

  /** Newest first; `tenant` limits it to one tenant's models. */
  list(opts: { tenant?: string; limit: number; cursor?: string; maxBytes?: number }) {
    return this.index.list(opts);
  }

  /** Path of an artifact file, for streaming it out. */
  async artifact(id: string, file: typeof MODEL_FILE | typeof WEIGHTS_FILE): Promise<{ path: string; size: number }> {
    const p = path.join(this.dir(id), file);
    return { path: p, size: (await stat(p)).size };
  }

  /** Unregisters first, so no reader finds a model whose files are going away. */
  async delete(id: string): Promise<boolean> {
    if (!ID.test(id)) return false;
    const removed = await this.index.unregister(id);
    await rm(this.dir(id), { recursive: true, force: true });
    return removed !== undefined;
  }
}
