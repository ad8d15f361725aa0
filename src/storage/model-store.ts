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
import { MODEL_FILE, WEIGHTS_FILE, writeTfjsArtifacts } from './tfjs-artifacts.ts';

/** A job as a member of the holds set of the model it fine-tunes (the job store adds and removes it). */
export const jobHolder = (jobId: string) => `job:${jobId}`;
const JOB_HOLDER = /^job:(.+)$/;

export { MODEL_FILE, WEIGHTS_FILE } from './tfjs-artifacts.ts';
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
        const temp = this.stagingDir(meta.id);
        await mkdir(temp, { recursive: true });
        try {
          await writeTfjsArtifacts(temp, artifacts);
        } catch (err) {
          await rm(temp, { recursive: true, force: true });
          throw err;
        }
        await this.publishStaged(meta, temp);
        return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts) };
      },
    };
  }

  /** A new folder's path (not yet made) for a model's files before publishStaged: on the store's staging filesystem. */
  stagingDir(id: string): string {
    this.folder(id);
    return path.join(this.objects.stagingRoot, `model-${id}-${randomUUID()}`);
  }

  /**
   * Publishes a staged folder holding model.json and weights.bin (writeTfjsArtifacts, e.g. from
   * a thread that built the model), with meta.json beside them, then registers the model. The
   * staged folder is gone afterwards, whatever happens.
   */
  async publishStaged(meta: Omit<ModelMeta, 'bytes'>, temp: string): Promise<void> {
    const folder = this.folder(meta.id);
    try {
      const full: ModelMeta = { ...meta, bytes: (await stat(path.join(temp, WEIGHTS_FILE))).size };
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
   * registry version points at, or a queued or running job fine-tunes, is refused (409 naming
   * the versions or the jobs), in the same step as the unregistering (owned-unregister.lua), so
   * no version or job can come to hold it in between.
   */
  async delete(id: string): Promise<boolean> {
    if (!ID.test(id)) return false;
    const removed = await this.index.unregister(id).catch((err: unknown) => {
      if (!(err instanceof HeldError)) throw err;
      throw heldConflict(id, err.holders);
    });
    await this.objects.deletePrefix(this.folder(id));
    await this.objects.forget(this.folder(id));
    return removed !== undefined;
  }
}

/** The 409 for a held model: the registry versions that point at it first, else the jobs that fine-tune it. */
function heldConflict(id: string, holders: string[]): AppError {
  const jobs = holders.flatMap((h) => JOB_HOLDER.exec(h)?.[1] ?? []).sort();
  const versions = holders
    .filter((h) => !JOB_HOLDER.test(h))
    .map(parseHolder)
    .sort((a, b) => a.name.localeCompare(b.name) || a.version - b.version);
  if (versions.length > 0) {
    const named = versions.map((h) => `version ${h.version} of registered model ${h.name}`).join(', ');
    const first = versions[0];
    return new AppError(
      409,
      'model_registered',
      `model ${id} is ${named}; delete the version first (DELETE /v1/registry/${first.name}/versions/${first.version})`,
    );
  }
  const [what, verb] = jobs.length > 1 ? ['jobs', 'start'] : ['job', 'starts'];
  return new AppError(
    409,
    'model_in_use',
    `model ${id} is what ${what} ${jobs.join(', ')} ${verb} from, queued or running; ` +
      `it can be deleted once they have ended (completed, failed or cancelled: POST /v1/jobs/${jobs[0]}/cancel cancels one)`,
  );
}
