import { Ajv, type ErrorObject } from 'ajv';
import type { FastifySchemaCompiler } from 'fastify';
import type { FieldError } from '../errors.ts';

/**
 * Bodies are validated strictly: no type coercion ("5" is not 5), unknown fields are errors,
 * not silently dropped. Query strings and params arrive as text, so they are coerced.
 */
// verbose: errors carry their schema, so a pattern failure can say what the pattern means (its description).
const common = { allErrors: true, useDefaults: true, strict: false, removeAdditional: false, verbose: true } as const;
const bodyAjv = new Ajv({ ...common, coerceTypes: false });
const textAjv = new Ajv({ ...common, coerceTypes: true });
for (const ajv of [bodyAjv, textAjv]) ajv.addFormat('date-time', true);

export const validatorCompiler: FastifySchemaCompiler<object> = ({ schema, httpPart }) =>
  (httpPart === 'body' ? bodyAjv : textAjv).compile(schema);

/** Ajv's errors as JSON pointers to the offending field, one message each. */
export function fieldErrors(errors: ErrorObject[], part: string): FieldError[] {
  const base = part === 'body' ? '' : `/${part}`;
  const seen = new Set<string>();
  const out: FieldError[] = [];
  for (const e of errors) {
    let path = base + e.instancePath;
    let message = e.message ?? 'is not valid';
    if (e.keyword === 'additionalProperties') {
      path += `/${(e.params as { additionalProperty: string }).additionalProperty}`;
      message = 'is not a known field';
    } else if (e.keyword === 'required') {
      path += `/${(e.params as { missingProperty: string }).missingProperty}`;
      message = 'is required';
    } else if (e.keyword === 'pattern' && typeof e.parentSchema?.description === 'string') {
      message = `must be ${e.parentSchema.description}`;
    } else if (e.keyword === 'enum') {
      message = `must be one of ${(e.params as { allowedValues: unknown[] }).allowedValues.join(', ')}`;
    }
    const key = `${path} ${message}`;
    if (!seen.has(key)) out.push({ path: path || '/', message });
    seen.add(key);
  }
  return out;
}
