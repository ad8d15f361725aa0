import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { generateOpenApi } from '../scripts/openapi.ts';

test('openapi.yaml is generated from the routes and up to date (run `npm run openapi`)', async () => {
  const committed = await readFile(new URL('../openapi.yaml', import.meta.url), 'utf8');
  assert.equal(committed, await generateOpenApi());
});

test('the spec documents every route of the v1 contract', async () => {
  const spec = await generateOpenApi();
  for (const route of [
    '/v1/jobs:',
    '/v1/jobs/{id}:',
    '/v1/jobs/{id}/events:',
    '/v1/models:',
    '/v1/models/{id}:',
    '/v1/models/{id}/predict:',
    '/v1/models/{id}/model.json:',
    '/v1/models/validate:',
    '/healthz:',
    '/readyz:',
  ]) {
    assert.ok(spec.includes(`\n  ${route}`), `missing ${route}`);
  }
});
