import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { parse } from 'yaml';
import { ConfigSchema } from '../src/config.ts';

/** docker-compose.yml as Compose reads it (`<<` merges), without interpolating `${...}`. */
const compose = parse(await readFile(new URL('../docker-compose.yml', import.meta.url), 'utf8'), { merge: true });
const services: Record<string, any> = compose.services;
const app = ['api', 'worker'] as const;

/** What a service mounts: named volumes and host paths (`source:target[:mode]` or the long form). */
const mounts = (service: any): string[] =>
  (service.volumes ?? []).map((v: string | { source: string }) => (typeof v === 'string' ? v.split(':')[0] : v.source));

test('API and workers share no volume: models, datasets and checkpoints are in the object store', () => {
  const [api, worker] = app.map((name) => new Set(mounts(services[name])));
  assert.deepEqual(
    [...api].filter((source) => worker.has(source)),
    [],
  );
  for (const name of app) {
    const env = services[name].environment;
    assert.match(env.STORAGE_URL, /^s3:\/\/[^/]+\/.+/, `${name} stores in a bucket`);
    assert.equal(env.S3_ENDPOINT, 'http://minio:9000');
    assert.equal(env.S3_FORCE_PATH_STYLE, 'true');
    assert.ok(env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY, `${name} has S3 credentials`);
  }
});

test('every setting API and workers get is one the service reads (no typo goes unnoticed)', () => {
  for (const name of app) {
    for (const key of Object.keys(services[name].environment)) {
      assert.ok(key in ConfigSchema.properties || key.startsWith('AWS_'), `${name}: ${key} is no setting`);
    }
  }
});

test('two workers; MinIO with its bucket created before API and workers start; Redis with AOF', () => {
  assert.equal(services.worker.deploy?.replicas, 2);

  assert.match(services.minio.image, /^minio\/minio(:|$)/);
  assert.ok(services.minio.healthcheck?.test, 'MinIO has a health check');
  const init = Object.entries(services).find(([, s]) => /^minio\/mc(:|$)/.test(s.image));
  assert.ok(init, 'a minio/mc service creates the bucket');
  const [initName, initService] = init;
  assert.match([initService.entrypoint, initService.command].flat().join(' '), /mc mb --ignore-existing/);
  assert.equal(initService.depends_on.minio.condition, 'service_healthy');
  for (const name of app) {
    assert.equal(services[name].depends_on[initName].condition, 'service_completed_successfully', name);
  }

  const redisArgs = services.redis.command.join(' ');
  assert.match(redisArgs, /--appendonly yes/);
  assert.match(redisArgs, /--maxmemory-policy noeviction/);
  assert.ok(
    mounts(services.redis).length === 1 && !app.some((n) => mounts(services[n]).includes(mounts(services.redis)[0])),
  );
});

test('Prometheus (profile `metrics`) scrapes the API with METRICS_TOKEN as bearer', async () => {
  const prometheus = services.prometheus;
  assert.deepEqual(prometheus.profiles, ['metrics']);
  const configFile =
    compose.configs[prometheus.configs.find((c: any) => c.target.endsWith('prometheus.yml')).source].file;
  const scrape = parse(await readFile(new URL(`../${configFile}`, import.meta.url), 'utf8')).scrape_configs[0];
  assert.equal(scrape.metrics_path, '/metrics');
  assert.deepEqual(scrape.static_configs[0].targets, ['api:3000']);
  assert.equal(scrape.authorization.type, 'Bearer');
  const token = prometheus.configs.find((c: any) => c.target === scrape.authorization.credentials_file);
  assert.ok(token, 'the credentials file is mounted');
  assert.equal(compose.configs[token.source].content, services.api.environment.METRICS_TOKEN, "it is the API's token");
});
