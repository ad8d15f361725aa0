/**
 * Who a request acts for. Every job, model and dataset belongs to the tenant that created it;
 * other tenants cannot see it at all, admins see everything.
 */
export interface Tenant {
  id: string;
  admin: boolean;
}

/** Tenant ids become parts of Redis keys, so they are plain names. */
export const TENANT_ID = /^[A-Za-z0-9_.-]{1,64}$/;

/** The tenant of a service run without API keys (local use), and of records made before keys existed. */
export const LOCAL_TENANT: Tenant = { id: 'local', admin: true };

/** Whether `tenant` may see a resource owned by `owner` (missing owner: made before tenancy, by `local`). */
export const canSee = (tenant: Tenant, owner: string | undefined) =>
  tenant.admin || (owner ?? LOCAL_TENANT.id) === tenant.id;

/** The index scope of a listing: a tenant's own resources, or everything for admins. */
export const listScope = (tenant: Tenant) => (tenant.admin ? undefined : tenant.id);
