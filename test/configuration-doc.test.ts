import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import type { TSchema } from '@sinclair/typebox';
import { generateConfigurationDoc } from '../scripts/configuration-doc.ts';
import { ConfigSchema } from '../src/config.ts';

test('docs/configuration.md is generated from ConfigSchema and up to date (run `npm run docs:config`)', async () => {
  const committed = await readFile(new URL('../docs/configuration.md', import.meta.url), 'utf8');
  assert.equal(committed, generateConfigurationDoc());
});

test('every setting has a description and a default, and the doc lists each one', () => {
  const doc = generateConfigurationDoc();
  for (const [key, schema] of Object.entries(ConfigSchema.properties as Record<string, TSchema>)) {
    assert.ok(typeof schema.description === 'string' && schema.description.length > 0, `${key} has no description`);
    assert.ok(schema.default !== undefined, `${key} has no default`);
    assert.match(doc, new RegExp(`^\\| \`${key}\` \\|`, 'm'), `${key} is missing from the doc`);
  }
});
