import { AppError, type FieldError } from '../errors.ts';
import type { NumericArray } from './types.ts';
import type { Job } from '../schemas/job.ts';

export interface InlineArray {
  /** Shape of one sample. */
  shape: number[];
  values: Float32Array;
  count: number;
  /** True when every value is a whole number (candidate class labels). */
  integral: boolean;
}

const MAX_REPORTED = 10;

/**
 * Checks that inline samples are numbers or rectangular nested arrays of finite numbers and
 * packs them into one Float32Array. A ragged or non-numeric element is named by its path.
 */
export function packInline(samples: unknown[], path: string): InlineArray {
  const shape = shapeOf(samples[0]);
  const per = shape.reduce((a, b) => a * b, 1);
  const values = new Float32Array(samples.length * per);
  const errors: FieldError[] = [];
  let integral = true;
  let offset = 0;
  const walk = (value: unknown, depth: number, at: string) => {
    if (errors.length >= MAX_REPORTED) return;
    if (depth === shape.length) {
      if (typeof value !== 'number' || !Number.isFinite(value)) {
        errors.push({ path: at, message: `must be a finite number, got ${JSON.stringify(value)?.slice(0, 40)}` });
        offset++;
        return;
      }
      if (!Number.isInteger(value)) integral = false;
      values[offset++] = value;
      return;
    }
    if (!Array.isArray(value) || value.length !== shape[depth]) {
      const got = Array.isArray(value) ? `${value.length} entries` : JSON.stringify(value)?.slice(0, 40);
      errors.push({
        path: at,
        message: `must be an array of ${shape[depth]} entries like the first sample, got ${got}`,
      });
      offset += shape.slice(depth).reduce((a, b) => a * b, 1);
      return;
    }
    for (const [i, inner] of value.entries()) walk(inner, depth + 1, `${at}/${i}`);
  };
  for (const [i, sample] of samples.entries()) walk(sample, 0, `${path}/${i}`);
  if (errors.length > 0)
    throw new AppError(400, 'invalid_data', `${path}: ${errors[0].message} at ${errors[0].path}`, errors);
  return { shape, values, count: samples.length, integral };
}

function shapeOf(sample: unknown): number[] {
  const shape: number[] = [];
  let cursor = sample;
  while (Array.isArray(cursor)) {
    shape.push(cursor.length);
    cursor = cursor[0];
  }
  return shape;
}

export const isIntegral = (values: NumericArray) => values.every((v) => Number.isInteger(v));

/** The fields of a job's `data` that carry inline arrays. */
const INLINE_FIELDS = ['x', 'y', 'xTest', 'yTest'] as const;

/** What a job record says of inline data it keeps elsewhere (see CheckpointStore.saveInline). */
/** What a job record says of its inline arrays: samples per field (`{x: 2400, y: 2400}`) and bytes. */
export type InlineDataInfo = NonNullable<Job['inlineData']>;

/** Splits a request's inline arrays from the rest: the rest is what a job record keeps. */
export function separateInline<R extends { data: object }>(
  request: R,
): { request: R; arrays?: Record<string, unknown[]>; samples?: Record<string, number> } {
  const fields = request.data as Record<string, unknown>;
  const present = INLINE_FIELDS.filter((f) => Array.isArray(fields[f]));
  if (present.length === 0) return { request };
  const data: Record<string, unknown> = { ...fields };
  const arrays: Record<string, unknown[]> = {};
  for (const f of present) {
    arrays[f] = data[f] as unknown[];
    delete data[f];
  }
  const samples = Object.fromEntries(present.map((f) => [f, arrays[f].length]));
  return { request: { ...request, data }, arrays, samples };
}
