import { AppError } from '../errors.ts';
import type { Services } from './services.ts';

/**
 * 403 when a tenant already stores TENANT_MAX_STORED_BYTES in models and datasets: checked
 * before a job is queued (its model will need room) and before an upload is read. An upload
 * is checked again with its real size when it is stored; a model a job trains is always kept.
 */
export async function checkStorageQuota(services: Pick<Services, 'config' | 'datasets'>, tenant: string) {
  const max = services.config.TENANT_MAX_STORED_BYTES;
  if (max === 0) return;
  const used = await services.datasets.index.usage(tenant);
  if (used >= max) {
    throw new AppError(
      403,
      'storage_quota',
      `tenant ${tenant} stores ${used} bytes, at its quota of ${max} (TENANT_MAX_STORED_BYTES); delete models or datasets first`,
    );
  }
}
