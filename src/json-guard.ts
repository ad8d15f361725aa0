/**
 * Checks on parsed JSON from outside, before any other code walks it: object keys that could
 * reach a prototype (`__proto__`, `constructor`, `prototype`) are refused wherever they are,
 * and nesting is bounded so no recursive walker (Keras import, key normalizing, instance
 * flattening) can overflow the stack. Iterative, and its memory grows with the depth only.
 */

/** Keys no request may use at any depth. */
export const FORBIDDEN_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

export const isForbiddenKey = (key: string) => FORBIDDEN_KEYS.has(key);

export const forbiddenKeyMessage = (key: string) =>
  `${JSON.stringify(key)} is not allowed as a key anywhere in a request (it could reach an object prototype)`;

export const tooDeepMessage = (maxDepth: number) =>
  `nests arrays and objects deeper than ${maxDepth} levels; the limit is set by MAX_JSON_DEPTH`;

export interface JsonProblem {
  code: 'forbidden_key' | 'too_deep';
  /** JSON pointer of the offending key, or of the first value below the allowed depth. */
  path: string;
  message: string;
}

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
  if (stack.length >= maxDepth) return { code: 'too_deep', path: pathTo(stack, key), message: tooDeepMessage(maxDepth) };
  stack.push({ value: value as Cursor['value'], keys: Array.isArray(value) ? undefined : Object.keys(value), next: 0, key });
  return undefined;
}

/**
 * The first forbidden key or over-deep value in `root` (a parsed JSON document), if any.
 * Runs on every JSON body (a predict request's hundreds of numbers too), so it makes no
 * closures and skips primitives in one tight loop.
 */
export function findJsonProblem(root: unknown, maxDepth: number): JsonProblem | undefined {
  if (root === null || typeof root !== 'object') return undefined;
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
      }
    } else {
      const record = top.value as Record<string, unknown>;
      while (top.next < top.keys.length) {
        const key = top.keys[top.next++];
        if (FORBIDDEN_KEYS.has(key)) return { code: 'forbidden_key', path: pathTo(stack, key), message: forbiddenKeyMessage(key) };
        const item = record[key];
        if (item !== null && typeof item === 'object') {
          child = item;
          childKey = key;
          break;
        }
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
