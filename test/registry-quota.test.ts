import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { keys } from '../src/storage/keys.ts';
import { OwnedIndex } from '../src/storage/owned-index.ts';
import { RegistryQuotaError, RegistryStore } from '../src/storage/registry-store.ts';
import { apiAs, smallMnistJob, startService, testConfig, type TestService } from './helpers.ts';

const ALICE = 'alice-key-0123456789abcdef';
const BOB = 'bob-key-0123456789abcdef00';

/**
 * The registry's caps against the real service (TENANT_MAX_REGISTERED_NAMES and
 * TENANT_MAX_VERSIONS_PER_NAME, here 2 and 2): a registration over one is a 403 naming the
 * setting, counted per tenant and per name, atomically; a job whose `register` meets a cap
 * still completes, keeps its model and says why it was not registered.
 */
describe('registry quotas', () => {
  let service: TestService;
  let alice: ReturnType<typeof apiAs>;
  let bob: ReturnType<typeof apiAs>;
  let index: OwnedIndex<{ id: string; tenant: string; bytes: number }>;

  /** A stored model's metadata alone, the tenant's (nothing here reads its files). */
  const storedModel = async (tenant: string) => {
    const id = randomUUID();
    await index.register({ id, tenant, bytes: 0 });
    return id;
  };

  before(async () => {
    const config = await testConfig({
      API_KEYS: `${ALICE}:alice,${BOB}:bob`,
      TENANT_MAX_REGISTERED_NAMES: '2',
      TENANT_MAX_VERSIONS_PER_NAME: '2',
    });
    service = await startService({ config });
    alice = apiAs(service.url, ALICE);
    bob = apiAs(service.url, BOB);
    const k = keys(config.REDIS_PREFIX);
    index = new OwnedIndex(service.app.services.redis, {
      meta: k.model,
      all: k.models,
      tenantPrefix: k.tenantPrefix,
      kind: 'models',
      holds: k.modelHolds,
    });
  });
  after(() => service?.close());

  const refused = (response: { status: number; body: any }, setting: string, what: string) => {
    assert.equal(response.status, 403, `${what}: ${JSON.stringify(response.body)}`);
    assert.equal(response.body.code, 'registry_quota', what);
    assert.match(response.body.detail, new RegExp(setting), what);
    assert.deepEqual(
      response.body.errors.map((e: any) => e.path),
      ['/params/name'],
      what,
    );
    assert.match(response.body.errors[0].message, new RegExp(`${setting} \\(2\\)`), what);
  };

  test('versions per name and names per tenant are capped; a deleted version makes room', async () => {
    const model = await storedModel('alice');
    const register = (name: string, as = alice, modelId = model) =>
      as.post(`/v1/registry/${name}/versions`, { modelId });
    for (const expected of [1, 2]) assert.equal((await register('capped')).body.version, expected);
    refused(await register('capped'), 'TENANT_MAX_VERSIONS_PER_NAME', 'a third version');
    assert.equal((await alice.get('/v1/registry/capped')).body.versionCount, 2, 'nothing was written');

    assert.equal((await alice.delete('/v1/registry/capped/versions/1')).status, 204);
    const again = await register('capped');
    assert.equal(again.status, 201, JSON.stringify(again.body));
    assert.equal(again.body.version, 3, 'numbers still never come back');

    assert.equal((await register('second')).status, 201);
    refused(await register('third'), 'TENANT_MAX_REGISTERED_NAMES', 'a third name');
    assert.equal((await alice.get('/v1/registry/third')).status, 404, 'the refused name was not created');
    assert.equal((await register('second')).status, 201, 'a name the tenant has is no new name');

    // The caps are the tenant's: bob's names are counted apart.
    const bobs = await storedModel('bob');
    for (const name of ['capped', 'second']) assert.equal((await register(name, bob, bobs)).status, 201, name);
  });

  test('concurrent registrations cannot pass a cap together (the count and the add are one script)', async () => {
    const { redis, config } = service.app.services;
    const registry = new RegistryStore(redis, config.REDIS_PREFIX, { maxNames: 3, maxVersionsPerName: 4 });
    const model = await storedModel('carol');
    const names = await Promise.allSettled(
      Array.from({ length: 12 }, (_, i) => registry.addVersion('carol', `name-${i}`, { modelId: model })),
    );
    assert.equal(names.filter((r) => r.status === 'fulfilled').length, 3, 'names');
    for (const r of names.filter((r) => r.status === 'rejected'))
      assert.ok(r.reason instanceof RegistryQuotaError && r.reason.setting === 'TENANT_MAX_REGISTERED_NAMES');
    const winner = (await registry.list('carol', { limit: 10 })).items[0].name;
    const versions = await Promise.allSettled(
      Array.from({ length: 12 }, () => registry.addVersion('carol', winner, { modelId: model })),
    );
    assert.equal(versions.filter((r) => r.status === 'fulfilled').length, 3, 'versions: 4 less the first');
    assert.equal((await registry.get('carol', winner, { limit: 10 }))?.versionCount, 4);
  });

  test('a job whose `register` meets a cap completes, keeps its model and records why it was not registered', async () => {
    // alice has two names already (the first test): a job registering a third one.
    const submitted = await alice.post('/v1/jobs', smallMnistJob({ name: 'over-cap', register: { name: 'from-job' } }));
    assert.equal(submitted.status, 202, JSON.stringify(submitted.body));
    const job = await alice.waitFor(submitted.body.id);
    assert.equal(job.status, 'completed', JSON.stringify(job.error));
    assert.equal(job.registered, undefined);
    assert.equal(job.registrationError?.code, 'registry_quota', JSON.stringify(job));
    assert.match(job.registrationError.message, /TENANT_MAX_REGISTERED_NAMES/);
    assert.equal((await alice.get(`/v1/models/${job.modelId}`)).status, 200, 'the model is kept');
    assert.equal((await alice.get('/v1/registry/from-job')).status, 404);
  });
});
