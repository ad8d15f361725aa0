import { writeOrCheck } from './generated-file.ts';
import { fileURLToPath } from 'node:url';
import type { TSchema } from '@sinclair/typebox';
import { ConfigSchema } from '../src/config.ts';

const target = fileURLToPath(new URL('../docs/configuration.md', import.meta.url));

const code = (value: unknown) => `\`${typeof value === 'string' ? value : JSON.stringify(value)}\``;

/** 1073741824 → "1 GiB": byte sizes read better in binary units when they are whole ones. */
function binary(n: number): string | undefined {
  for (const [unit, size] of [
    ['GiB', 1024 ** 3],
    ['MiB', 1024 ** 2],
    ['KiB', 1024],
  ] as const) {
    if (n >= size && n % size === 0) return `${n / size} ${unit}`;
  }
  return undefined;
}

function typeOf(schema: TSchema): string {
  if (schema.anyOf) return (schema.anyOf as TSchema[]).map((s) => code(s.const)).join(' \\| ');
  return schema.type as string;
}

function defaultOf(key: string, schema: TSchema): string {
  const value = schema.default;
  if (value === '') return 'empty';
  const human = typeof value === 'number' && /BYTES$/.test(key) ? binary(value) : undefined;
  return human ? `${code(value)} (${human})` : code(value);
}

function boundsOf(schema: TSchema): string {
  const bounds: string[] = [];
  if (schema.minimum !== undefined) bounds.push(`≥ ${schema.minimum}`);
  if (schema.maximum !== undefined) bounds.push(`≤ ${schema.maximum}`);
  if (schema.minLength !== undefined)
    bounds.push(`at least ${schema.minLength} character${schema.minLength === 1 ? '' : 's'}`);
  if (schema.pattern !== undefined) bounds.push(`matches ${code(schema.pattern)}`);
  return bounds.join(', ');
}

/** docs/configuration.md as generated from ConfigSchema: every key, its type, default, bounds and description. */
export function generateConfigurationDoc(): string {
  const rows = Object.entries(ConfigSchema.properties as Record<string, TSchema>).map(([key, schema]) => {
    const description = String(schema.description ?? '').replaceAll('|', '\\|');
    // A `|` splits a table cell even inside a code span (patterns have them): escape it there too.
    const bounds = boundsOf(schema).replaceAll('|', '\\|');
    return `| \`${key}\` | ${typeOf(schema)} | ${defaultOf(key, schema)} | ${bounds} | ${description} |`;
  });
  return [
    '# Configuration',
    '',
    '<!-- Generated from ConfigSchema in src/config.ts by `npm run docs:config`; do not edit by hand. -->',
    '',
    'Every setting is an environment variable, read and validated once at start: a bad value stops',
    'the process naming the variable and the reason; an unset or empty one takes its default.',
    "Workers get the API's rules only through their own environment, so give API and workers the",
    'same settings. The limits these settings set, and the answer each gives, are in',
    '[security.md](security.md#input-limits).',
    '',
    '| variable | type | default | bounds | meaning |',
    '| --- | --- | --- | --- | --- |',
    ...rows,
    '',
  ].join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  await writeOrCheck(target, generateConfigurationDoc(), 'docs/configuration.md', 'npm run docs:config');
}
