import type { RegisterSpec } from '../schemas/registry.ts';
import { RegistryQuotaError, type RegistryStore } from '../storage/registry-store.ts';
import type { JobRecord } from './job-record.ts';

export interface JobRegistration {
  /**
   * What the job record shows: the version the model became, or why it became none (the
   * registry was at a cap: the model is kept and the job still completes).
   */
  fields: Pick<JobRecord, 'registered' | 'registrationError'>;
  /** Takes it back (aliases first, then the version): for a job that turned out not to complete. */
  undo(): Promise<void>;
}

/**
 * Makes a job's stored model the next version of the request's `register.name` and points its
 * aliases at it. It runs before the job is marked completed, so a client that sees the job
 * completed finds the version and the aliases already there.
 */
export async function registerJobModel(
  registry: RegistryStore,
  tenant: string,
  spec: RegisterSpec,
  modelId: string,
): Promise<JobRegistration> {
  const added = await registry.addVersion(tenant, spec.name, { modelId }).catch((err: unknown) => {
    // A cap reached is the tenant's registry, not the training: the model it paid for is kept.
    if (err instanceof RegistryQuotaError) return err;
    throw err;
  });
  if (added instanceof RegistryQuotaError) {
    const registrationError = { code: 'registry_quota', message: `not registered: ${added.message}` };
    return { fields: { registrationError }, undo: async () => {} };
  }
  if (!added) throw new Error(`model ${modelId} vanished before it could be registered as ${spec.name}`);
  const { version } = added;
  const moved: { alias: string; previousVersion: number | null }[] = [];
  // The API processes load the model before its aliases move to it (best effort: a missed one loads on first use).
  if (spec.aliases?.length) await registry.announceWarm(modelId).catch(() => undefined);
  for (const alias of spec.aliases ?? []) {
    const move = await registry.setAlias(tenant, spec.name, alias, version);
    if (move) moved.push({ alias, ...move });
  }
  return {
    fields: { registered: { name: spec.name, version } },
    undo: async () => {
      for (const { alias, previousVersion } of moved.reverse()) {
        // Only an alias still where this job put it goes back; one moved since is someone else's decision.
        if ((await registry.getAlias(tenant, spec.name, alias))?.version !== version) continue;
        if (previousVersion === null) await registry.deleteAlias(tenant, spec.name, alias);
        else await registry.setAlias(tenant, spec.name, alias, previousVersion);
      }
      await registry.deleteVersion(tenant, spec.name, version);
    },
  };
}
