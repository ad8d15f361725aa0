/**
 * Checks on parsed JSON from outside, before any other code walks it: object keys that could
 * reach a prototype (`__proto__`, `constructor`, `prototype`) are refused wherever they are,
 * nesting is bounded so no recursive walker (Keras import, key normalizing, instance
 * flattening) can overflow the stack, and numbers must be finite (`JSON.parse` turns `1e999`
 * into Infinity, which every later check would take for a number and JSON would answer as
 * `null`). Iterative, and its memory grows with the depth only.
 */

/** Keys no request may use at any depth. */
export const FORBIDDEN_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

export const isForbiddenKey = (key: string) => FORBIDDEN_KEYS.has(key);

export const forbiddenKeyMessage = (key: string) =>
  `${JSON.stringify(key)} is not allowed as a key anywhere in a request (it could reach an object prototype)`;

export const tooDeepMessage = (maxDepth: number) =>
  `nests arrays and objects deeper than ${maxDepth} levels; the limit is set by MAX_JSON_DEPTH`;

/** The largest float32 magnitude: models compute in float32, where anything larger is Infinity. */
export const FLOAT32_MAX = 3.4028234663852886e38;

export const nonFiniteMessage =
  'is a number beyond the range of a double (it parses as ±Infinity); numbers must be finite';

export const beyondFloat32Message = (value: number) =>
  `is ${value}, beyond the float32 range the model computes in (±${FLOAT32_MAX}); it would become Infinity`;

export interface JsonProblem {
  code: 'forbidden_key' | 'too_deep' | 'non_finite_number' | 'beyond_float32';
  /** JSON pointer of the offending key or number, or of the first value below the allowed depth. */
  path: string;
  message: string;
}

export interface JsonLimits {
  maxDepth: number;
  /** Numbers must also fit float32 (predict instances, which become a float32 tensor). */
  float32?: boolean;
}

/** Any own property of a plain object, or undefined: for looking up names people chose (`toString` is not inherited). */
export const own = <T>(record: Readonly<Record<string, T>> | undefined, key: string): T | undefined =>
  record !== undefined && Object.hasOwn(record, key) ? record[key] : undefined;

const pointer = (keys: string[]) => keys.map((k) => `/${k.replace(/~/g, '~0').replace(/\//g, '~1')}`).join('') || '/';

interface Cursor {
  value: Record<string, unknown> | unknown[];
  /** Object keys; undefined for arrays. */
  keys: string[] | undefined;
  next: number;
  key: string;
}

/** The JSON pointer of `last` below the keys on the stack (the root's own key left out). */
const pathTo = (stack: Cursor[], last: string) => pointer([...stack.slice(1).map((c) => c.key), last]);

/** Pushes an object or array to walk, or answers the problem if that is one level too deep. */
function enter(stack: Cursor[], value: object, key: string, maxDepth: number): JsonProblem | undefined {
  if (stack.length >= maxDepth)
    return { code: 'too_deep', path: pathTo(stack, key), message: tooDeepMessage(maxDepth) };
  stack.push({
    value: value as Cursor['value'],
    keys: Array.isArray(value) ? undefined : Object.keys(value),
    next: 0,
    key,
  });
  return undefined;
}

/** A number out of range, or undefined; `limit` is Number.MAX_VALUE (finite numbers pass) or FLOAT32_MAX. Every other value passes. */
function numberProblem(value: unknown, limit: number, stack: Cursor[], key: string): JsonProblem | undefined {
  if (typeof value !== 'number' || (value <= limit && value >= -limit)) return undefined;
  return Number.isFinite(value)
    ? { code: 'beyond_float32', path: pathTo(stack, key), message: beyondFloat32Message(value) }
    : { code: 'non_finite_number', path: pathTo(stack, key), message: nonFiniteMessage };
}

/**
 * The first forbidden key, over-deep value or out-of-range number in `root` (a parsed JSON
 * document), if any. Runs on every JSON body (a predict request's hundreds of numbers too),
 * so it makes no closures and skips other primitives in one tight loop. `maxDepth` alone is
 * `{maxDepth}`.
 */
export function findJsonProblem(root: unknown, limits: JsonLimits | number): JsonProblem | undefined {
  const { maxDepth, float32 } = typeof limits === 'number' ? { maxDepth: limits, float32: false } : limits;
  const limit = float32 ? FLOAT32_MAX : Number.MAX_VALUE;
  if (root === null || typeof root !== 'object') return numberProblem(root, limit, [], '');
  const stack: Cursor[] = [];
  enter(stack, root, '', maxDepth);
  while (stack.length > 0) {
    const top = stack[stack.length - 1];
    let child: object | undefined;
    let childKey = '';
    if (top.keys === undefined) {
      const items = top.value as unknown[];
      while (top.next < items.length) {
        const item = items[top.next++];
        if (item !== null && typeof item === 'object') {
          child = item;
          childKey = String(top.next - 1);
          break;
        }
        if (typeof item === 'number' && !(item <= limit && item >= -limit))
          return numberProblem(item, limit, stack, String(top.next - 1));
      }
    } else {
      const record = top.value as Record<string, unknown>;
      while (top.next < top.keys.length) {
        const key = top.keys[top.next++];
        if (FORBIDDEN_KEYS.has(key))
          return { code: 'forbidden_key', path: pathTo(stack, key), message: forbiddenKeyMessage(key) };
        const item = record[key];
        if (item !== null && typeof item === 'object') {
          child = item;
          childKey = key;
          break;
        }
        if (typeof item === 'number' && !(item <= limit && item >= -limit))
          return numberProblem(item, limit, stack, key);
      }
    }
    if (child === undefined) {
      stack.pop();
      continue;
    }
    const problem = enter(stack, child, childKey, maxDepth);
    if (problem) return problem;
  }
  return undefined;
}
