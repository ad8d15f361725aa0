import { ValuePointer } from '@sinclair/typebox/value';
import { AppError, type FieldError } from '../../errors.ts';
import { isForbiddenKey } from '../../json-guard.ts';
import type { Domain } from '../../schemas/sweep.ts';

/*
 * The search space: JSON Pointers into a job request, each with a domain of values. A trial
 * is one value per pointer, written into a copy of the base job.
 */

/** pointer -> the value one trial takes. */
export type Parameters = Record<string, unknown>;

/** Where a sweep may vary a job: not its name nor its `register`, which the sweep owns. */
const VARIABLE_ROOTS = ['model', 'compile', 'data', 'fit', 'evaluate'];
/** The most values one domain may offer a grid. */
const MAX_GRID_VALUES = 100;

/** The field path of a parameter in the sweep request: `/parameters/<pointer, escaped>`. */
export const parameterPath = (pointer: string) => `/parameters/${pointer.replaceAll('~', '~0').replaceAll('/', '~1')}`;

const segments = (pointer: string) => [...ValuePointer.Format(pointer)];

/**
 * Checks each pointer names a place in `job` a trial can write (its parents, where they
 * exist, are objects or arrays) and each domain is sound; every problem at once, as a 400.
 */
export function checkSpace(job: unknown, space: Record<string, Domain>) {
  const errors: FieldError[] = [];
  const entries = Object.entries(space);
  if (entries.length === 0) errors.push({ path: '/parameters', message: 'names no parameter: give at least one' });
  for (const [pointer, domain] of entries) {
    const path = parameterPath(pointer);
    const message = pointerProblem(job, pointer) ?? domainProblem(domain);
    if (message) errors.push({ path, message });
  }
  if (errors.length > 0)
    throw new AppError(400, 'invalid_search_space', errors.map((e) => `${e.path} ${e.message}`).join('; '), errors);
}

function pointerProblem(job: unknown, pointer: string): string | undefined {
  const parts = segments(pointer);
  if (!VARIABLE_ROOTS.includes(parts[0]))
    return `points at /${parts[0]}; a sweep varies only ${VARIABLE_ROOTS.map((r) => `/${r}`).join(', ')}`;
  const forbidden = parts.find(isForbiddenKey);
  if (forbidden) return `holds the segment ${JSON.stringify(forbidden)}, which no request field has`;
  let at: unknown = job;
  for (const [i, part] of parts.slice(0, -1).entries()) {
    at = (at as Record<string, unknown>)[part];
    if (at === undefined) return undefined; // created as an object when a trial writes it
    if (typeof at !== 'object' || at === null) {
      return `goes through ${parent(parts, i)}, which is ${JSON.stringify(at)} in the job, not an object (e.g. write an optimizer as {"type": "adam"} to vary its learningRate)`;
    }
    if (Array.isArray(at)) {
      const next = parts[i + 1];
      if (!/^(0|[1-9]\d*)$/.test(next) || Number(next) >= at.length)
        return `indexes ${parent(parts, i)} at ${JSON.stringify(next)}, which has ${at.length} items`;
    }
  }
  return undefined;
}

const parent = (parts: string[], i: number) => `/${parts.slice(0, i + 1).join('/')}`;

function domainProblem(domain: Domain): string | undefined {
  if ('values' in domain) return undefined;
  if (domain.min > domain.max) return `has min ${domain.min} above max ${domain.max}`;
  if ('scale' in domain) {
    if (domain.scale === 'log' && domain.min <= 0) return `is log-scaled, so min must be above 0 (it is ${domain.min})`;
    return undefined;
  }
  const count = Math.floor((domain.max - domain.min) / (domain.step ?? 1)) + 1;
  if (count > 1_000_000) return `offers ${count} values; narrow it or raise step`;
  return undefined;
}

/** A readable number: 6 significant digits (a learning rate of 0.00316228, not 0.0031622776601683794). */
const tidy = (x: number) => Number(x.toPrecision(6));

/** The point a fraction t in [0, 1] of the way through a float domain, on its scale. */
function between(domain: Extract<Domain, { scale: unknown }>, t: number) {
  if (domain.scale === 'linear') return tidy(domain.min + t * (domain.max - domain.min));
  const [lo, hi] = [Math.log(domain.min), Math.log(domain.max)];
  return tidy(Math.exp(lo + t * (hi - lo)));
}

/** One value from the domain, given a uniform number u in [0, 1). */
export function sample(domain: Domain, u: number): unknown {
  if ('values' in domain) return domain.values[Math.floor(u * domain.values.length)];
  if ('scale' in domain) return between(domain, u);
  const step = domain.step ?? 1;
  const count = Math.floor((domain.max - domain.min) / step) + 1;
  return domain.min + step * Math.floor(u * count);
}

/** The values a grid takes from the domain: all of a categorical or integer one, `gridPoints` of a float one. */
export function gridValues(domain: Domain, pointer: string): unknown[] {
  if ('values' in domain) return domain.values;
  if ('scale' in domain) {
    const n = domain.gridPoints ?? 3;
    return Array.from({ length: n }, (_, i) => (i === n - 1 ? domain.max : between(domain, i / (n - 1))));
  }
  const step = domain.step ?? 1;
  const count = Math.floor((domain.max - domain.min) / step) + 1;
  if (count > MAX_GRID_VALUES) {
    const message = `offers ${count} integers, more than a grid takes (${MAX_GRID_VALUES}); raise step or use random search`;
    throw new AppError(400, 'invalid_search_space', `${parameterPath(pointer)} ${message}`, [
      { path: parameterPath(pointer), message },
    ]);
  }
  return Array.from({ length: count }, (_, i) => domain.min + i * step);
}

/** A copy of the base job with the trial's values written at their pointers. */
export function applyParameters<T>(job: T, parameters: Parameters): T {
  const copy = structuredClone(job);
  for (const [pointer, value] of Object.entries(parameters)) ValuePointer.Set(copy, pointer, structuredClone(value));
  return copy;
}
