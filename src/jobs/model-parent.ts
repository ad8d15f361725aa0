import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { AppError } from '../errors.ts';
import { ALIAS_NAME, REGISTERED_NAME } from '../schemas/registry.ts';
import { MODEL_FILE, type ModelStore } from '../storage/model-store.ts';
import type { RegistryStore, VersionTarget } from '../storage/registry-store.ts';
import type { Tenant } from '../tenant.ts';
import type { ParentModel } from '../training/plan.ts';

/** `registry:<name>`, `registry:<name>@<version>` or `registry:<name>@<alias>`. */
const REGISTRY_REF = /^registry:([^@]+)(?:@(.+))?$/;

const unknown = (from: string, why: string) => {
  const message = `${JSON.stringify(from)} ${why}`;
  return new AppError(422, 'unknown_model', `/model/from ${message}`, [{ path: '/model/from', message }]);
};

/**
 * What a job's `model.from` names, resolved once at submit: a stored model id of the tenant's,
 * or a registered name's version (latest, numbered, or an alias's target now). Another
 * tenant's model reads as a missing one. A 422 on `/model/from`, as for an unknown dataset.
 */
export async function resolveParent(
  stores: { models: ModelStore; registry: RegistryStore },
  from: string,
  tenant: Tenant,
): Promise<ParentModel> {
  const ref = REGISTRY_REF.exec(from);
  if (!ref) {
    const meta = await stores.models.getFor(from, tenant);
    if (!meta) throw unknown(from, 'is not a stored model id (GET /v1/models lists them)');
    return readParent(stores.models, { modelId: from }, meta.transforms);
  }
  const [, name, at] = ref;
  const target: VersionTarget | undefined =
    at === undefined ? { latest: true } : /^[1-9]\d{0,8}$/.test(at) ? { version: Number(at) } : { alias: at };
  const valid =
    new RegExp(REGISTERED_NAME).test(name) && (!target || !('alias' in target) || new RegExp(ALIAS_NAME).test(at!));
  const found = valid ? await stores.registry.resolve(tenant.id, name, target) : 'no-name';
  if (found === 'no-name') throw unknown(from, `names no registered model (GET /v1/registry lists them)`);
  if (found === 'no-version')
    throw unknown(from, `names no ${at === undefined ? 'version' : `version or alias ${at}`} of ${name}`);
  const meta = await stores.models.getFor(found.modelId, tenant);
  if (!meta) throw unknown(from, `points at model ${found.modelId}, which no longer exists`);
  return readParent(stores.models, { modelId: found.modelId, name, version: found.version }, meta.transforms);
}

/**
 * The parent a queued job resolved at submit, read again when it runs (no tenant: the submit
 * checked it), with its weights' loader. The job pins it from submit to its end, so it cannot
 * be deleted meanwhile; a job queued before pins existed may still find it gone: it fails, saying so.
 */
export async function loadParent(models: ModelStore, parent: Pick<ParentModel, 'modelId' | 'name' | 'version'>) {
  const meta = await models.get(parent.modelId);
  if (!meta) {
    const message = `the model to start from, ${parent.modelId}, was deleted after the job was submitted`;
    throw new AppError(422, 'parent_missing', message, [{ path: '/model/from', message }]);
  }
  const read = await readParent(models, parent, meta.transforms);
  return { ...read, weights: models.reader(parent.modelId) };
}

async function readParent(
  models: ModelStore,
  parent: Pick<ParentModel, 'modelId' | 'name' | 'version'>,
  transforms: ParentModel['transforms'],
): Promise<ParentModel> {
  const copy = await models.open(parent.modelId);
  try {
    const json = JSON.parse(await readFile(path.join(copy.dir, MODEL_FILE), 'utf8')) as { modelTopology: unknown };
    return { ...parent, topology: json.modelTopology, transforms };
  } finally {
    copy.release();
  }
}
