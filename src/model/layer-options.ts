import * as tf from '@tensorflow/tfjs';
import type { FieldError } from '../errors.ts';
import { own } from '../json-guard.ts';
import { activationName } from './keras-names.ts';

/**
 * Initializers, regularizers and constraints arrive as a name (`heNormal`, `he_normal`,
 * `l2`), as our `{type, ...config}`, or as Keras's `{className, config}`. The parser turns
 * them into one JSON form ({name, config}); the builder makes tfjs objects from that form.
 * Nothing here ever evaluates code: every name is looked up in a fixed table.
 */
export interface NamedOption {
  name: string;
  config: Record<string, unknown>;
}

const INITIALIZERS = [
  'zeros',
  'ones',
  'constant',
  'glorotNormal',
  'glorotUniform',
  'heNormal',
  'heUniform',
  'leCunNormal',
  'leCunUniform',
  'randomNormal',
  'randomUniform',
  'truncatedNormal',
  'varianceScaling',
  'orthogonal',
  'identity',
] as const;
const CONSTRAINTS = ['maxNorm', 'minMaxNorm', 'nonNeg', 'unitNorm'] as const;
const REGULARIZERS = ['l1', 'l2', 'l1l2'] as const;

/** Keras spellings of string values inside configs (`fan_avg`, `truncated_normal`). */
const camelValue = (v: unknown) =>
  typeof v === 'string' ? v.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase()) : v;

function find(name: string, names: readonly string[]) {
  const key = name.replace(/_/g, '').toLowerCase();
  return names.find((n) => n.toLowerCase() === key);
}

/** Splits any accepted spelling into a name and a config, or says what is wrong. */
function split(value: unknown): { name: string; config: Record<string, unknown> } | string {
  if (typeof value === 'string') return { name: value, config: {} };
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'must be a name or an object';
  const { className, config, type, module, registeredName, ...rest } = value as Record<string, unknown>;
  if (typeof module === 'string' && !module.startsWith('keras'))
    return `comes from module ${JSON.stringify(module)}, which this service does not load`;
  const name = className ?? type;
  if (typeof name !== 'string') return 'needs a `type` (or Keras `className`)';
  const cfg = (config ?? rest) as Record<string, unknown>;
  if (typeof cfg !== 'object' || cfg === null) return '`config` must be an object';
  const clean: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(cfg)) if (v !== null && k !== 'name') clean[k] = camelValue(v);
  return { name, config: clean };
}

export function parseInitializer(value: unknown, path: string, errors: FieldError[]): NamedOption | undefined {
  const parts = split(value);
  if (typeof parts === 'string') return void errors.push({ path, message: parts });
  const name = find(parts.name, INITIALIZERS);
  if (!name)
    return void errors.push({
      path,
      message: `unknown initializer ${JSON.stringify(parts.name)}; use one of ${INITIALIZERS.join(', ')}`,
    });
  return { name, config: parts.config };
}

export function parseConstraint(value: unknown, path: string, errors: FieldError[]): NamedOption | undefined {
  const parts = split(value);
  if (typeof parts === 'string') return void errors.push({ path, message: parts });
  const name = find(parts.name, CONSTRAINTS);
  if (!name)
    return void errors.push({
      path,
      message: `unknown constraint ${JSON.stringify(parts.name)}; use one of ${CONSTRAINTS.join(', ')}`,
    });
  return { name, config: parts.config };
}

/** Keras's `l2` alone means l2=0.01, as in `kernel_regularizer='l2'`. */
export function parseRegularizer(value: unknown, path: string, errors: FieldError[]): NamedOption | undefined {
  const plain = typeof value === 'object' && value !== null && !('className' in value) && !('type' in value);
  const parts = plain ? { name: 'l1l2', config: value as Record<string, unknown> } : split(value);
  if (typeof parts === 'string') return void errors.push({ path, message: parts });
  const name = find(parts.name, REGULARIZERS);
  if (!name)
    return void errors.push({
      path,
      message: `unknown regularizer ${JSON.stringify(parts.name)}; use one of ${REGULARIZERS.join(', ')} or {l1, l2}`,
    });
  const { l1, l2 } = parts.config as { l1?: unknown; l2?: unknown };
  for (const [key, v] of Object.entries({ l1, l2 })) {
    if (v !== undefined && (typeof v !== 'number' || !(v >= 0)))
      return void errors.push({ path: `${path}/${key}`, message: 'must be a number >= 0' });
  }
  const config = name === 'l1' ? { l1: l1 ?? 0.01 } : name === 'l2' ? { l2: l2 ?? 0.01 } : { l1: l1 ?? 0, l2: l2 ?? 0 };
  return { name: 'l1l2', config };
}

/** Option keys of each kind, for every layer type; wrapped layers reuse them. */
export const OPTION_KINDS: Record<string, 'initializer' | 'regularizer' | 'constraint'> = {};
for (const prefix of [
  'kernel',
  'bias',
  'recurrent',
  'depthwise',
  'pointwise',
  'embeddings',
  'beta',
  'gamma',
  'movingMean',
  'movingVariance',
]) {
  OPTION_KINDS[`${prefix}Initializer`] = 'initializer';
  OPTION_KINDS[`${prefix}Regularizer`] = 'regularizer';
  OPTION_KINDS[`${prefix}Constraint`] = 'constraint';
}
OPTION_KINDS.activityRegularizer = 'regularizer';

const ACTIVATION_KEYS = ['activation', 'recurrentActivation'];

/** Checks and normalizes a layer's named options in place. */
export function normalizeOptions(args: Record<string, unknown>, path: string, errors: FieldError[]) {
  for (const [key, value] of Object.entries(args)) {
    if (value === undefined) continue;
    const kind = own(OPTION_KINDS, key);
    const at = `${path}/${key}`;
    if (kind === 'initializer') args[key] = parseInitializer(value, at, errors);
    else if (kind === 'regularizer') args[key] = parseRegularizer(value, at, errors);
    else if (kind === 'constraint') args[key] = parseConstraint(value, at, errors);
    else if (ACTIVATION_KEYS.includes(key)) {
      const name = typeof value === 'string' ? activationName(value) : undefined;
      if (!name) errors.push({ path: at, message: `unknown activation ${JSON.stringify(value)}` });
      args[key] = name;
    }
  }
}

/** Initializers that fill a weight without randomness or a decomposition: cheap at any size. */
const CHEAP_INITIALIZERS = new Set(['zeros', 'ones', 'constant', 'identity']);

/**
 * The tfjs objects for a layer's normalized options (a copy; the definition stays JSON).
 * `shapesOnly` is for dry runs, which need the weights' shapes and never their values: every
 * initializer that draws random numbers or factorises (orthogonal is a QR decomposition,
 * seconds for one 784 x 784 kernel) becomes zeros, including the defaults a layer would pick.
 */
export function tfjsOptions(args: Record<string, unknown>, shapesOnly = false): Record<string, unknown> {
  const out: Record<string, unknown> = { ...args };
  if (shapesOnly) {
    for (const key of Object.keys(OPTION_KINDS)) {
      const named = args[key] as NamedOption | undefined;
      if (own(OPTION_KINDS, key) === 'initializer' && !(named && CHEAP_INITIALIZERS.has(named.name)))
        out[key] = 'zeros';
    }
  }
  for (const [key, value] of Object.entries(args)) {
    const kind = own(OPTION_KINDS, key);
    if (!kind || value === undefined) continue;
    const { name, config } = value as NamedOption;
    if (kind === 'initializer' && out[key] === 'zeros' && shapesOnly) continue;
    if (kind === 'initializer')
      out[key] = (tf.initializers as unknown as Record<string, (c: unknown) => unknown>)[name](config);
    else if (kind === 'regularizer') out[key] = tf.regularizers.l1l2(config as { l1?: number; l2?: number });
    else out[key] = (tf.constraints as unknown as Record<string, (c: unknown) => unknown>)[name](config);
  }
  return out;
}
