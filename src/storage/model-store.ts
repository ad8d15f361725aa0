import { randomUUID } from 'node:crypto';
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import type { Redis } from 'ioredis';
import { v7 as randomUUIDv7 } from 'uuid';
import type { Transforms } from '../data/transforms.ts';
import { AppError } from '../errors.ts';
import { keys, type Keys } from './keys.ts';
import type { EvaluationReport } from '../schemas/evaluation.ts';
import type { Model } from '../schemas/model.ts';
import type { Tenant } from '../tenant.ts';
import type { LocalCopy, ObjectStore } from './object-store.ts';
import { HeldError, OwnedIndex } from './owned-index.ts';
import { parseHolder } from './registry-store.ts';

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
 * Trained models: artifacts (model.json, weights.bin, meta.json) under `models/<id>/` in the
 * object store, metadata and the list in Redis so every API process sees every worker's
 * models. The Redis entry, written after the artifacts, is the commit point: a reader never
 * finds half a model. Ids are server-generated; nothing from a request becomes a key.
 */
export class ModelStore {
  private readonly keys: Keys;
  private readonly index: OwnedIndex<ModelMeta>;

  constructor(
    redis: Redis,
    prefix: string,
    readonly objects: ObjectStore,
  ) {
    this.keys = keys(prefix);
    this.index = new OwnedIndex(redis, {
      meta: this.keys.model,
      all: this.keys.models,
      tenantPrefix: this.keys.tenantPrefix,
      kind: 'models',
      holds: this.keys.modelHolds,
    });
  }

  static newId = () => randomUUIDv7();

  private folder(id: string): string {
    if (!ID.test(id)) throw new Error(`not a model id: ${id}`);
    return `models/${id}`;
  }

  /**
   * An IOHandler that writes the three files into a staging directory, publishes it to the
   * store, then registers the model.
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
        const folder = this.folder(meta.id);
        const temp = path.join(this.objects.stagingRoot, `model-${meta.id}-${randomUUID()}`);
        await mkdir(temp, { recursive: true });
        try {
          await writeFile(path.join(temp, WEIGHTS_FILE), Buffer.from(weights));
          await writeFile(path.join(temp, MODEL_FILE), JSON.stringify(modelJson));
          await writeFile(path.join(temp, META_FILE), JSON.stringify(full, null, 2));
          // A retried job saves under the same id: this replaces, so there is exactly one model.
          await this.objects.publishDirectory(temp, folder);
          await this.objects.forget(folder);
          // A model a job trained is always kept: storage quotas are checked when jobs are submitted.
          await this.index.register(full);
        } catch (err) {
          await rm(temp, { recursive: true, force: true });
          await this.objects.deletePrefix(folder).catch(() => undefined);
          throw err;
        }
        return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts) };
      },
    };
  }

  /** An IOHandler that loads a stored model (from this machine's cache when the store is remote). */
  reader(id: string): tf.io.IOHandler {
    return {
      load: async () => {
        const copy = await this.open(id);
        try {
          const modelJson = JSON.parse(await readFile(path.join(copy.dir, MODEL_FILE), 'utf8')) as tf.io.ModelJSON;
          const buffer = await readFile(path.join(copy.dir, WEIGHTS_FILE));
          return tf.io.getModelArtifactsForJSON(modelJson, async () => [
            modelJson.weightsManifest.flatMap((g) => g.weights),
            buffer.buffer.slice(buffer.byteOffset, buffer.byteOffset + buffer.byteLength),
          ]);
        } finally {
          copy.release();
        }
      },
    };
  }

  /** The model's files on this machine, kept until released. */
  open(id: string): Promise<LocalCopy> {
    return this.objects.openDirectory(this.folder(id));
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

  /** An artifact file on this machine, for streaming it out; `release` when the stream ends. */
  async artifact(
    id: string,
    file: typeof MODEL_FILE | typeof WEIGHTS_FILE,
  ): Promise<{ path: string; size: number; release(): void }> {
    const copy = await this.open(id);
    try {
      const p = path.join(copy.dir, file);
      return { path: p, size: (await stat(p)).size, release: copy.release };
    } catch (err) {
      copy.release();
      throw err;
    }
  }

  /**
   * Unregisters first, so no reader finds a model whose files are going away. A model a
   * registry version points at is refused (409 naming the version), in the same step as the
   * unregistering (owned-unregister.lua), so no version can come to point at it in between.
   */
  async delete(id: string): Promise<boolean> {
    if (!ID.test(id)) return false;
    const removed = await this.index.unregister(id).catch((err: unknown) => {
      if (!(err instanceof HeldError)) throw err;
      const held = err.holders.map(parseHolder).sort((a, b) => a.name.localeCompare(b.name) || a.version - b.version);
      const named = held.map((h) => `version ${h.version} of registered model ${h.name}`).join(', ');
      const first = held[0];
      throw new AppError(
        409,
        'model_registered',
        `model ${id} is ${named}; delete the version first (DELETE /v1/registry/${first.name}/versions/${first.version})`,
      );
    });
    await this.objects.deletePrefix(this.folder(id));
    await this.objects.forget(this.folder(id));
    return removed !== undefined;
  }
}
