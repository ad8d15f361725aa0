import { own } from '../json-guard.ts';

/**
 * Keras spells things in snake_case (`input_shape`, `categorical_crossentropy`), tfjs in
 * camelCase. Requests may use either; everything is turned into tfjs spelling on arrival.
 */

const snakeToCamel = (key: string) => key.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());

/** Deep copy with every object key in camelCase. Arrays of numbers are returned as they are. */
export function camelizeKeys(value: unknown): unknown {
  if (Array.isArray(value)) {
    // Inline training data can hold millions of numbers: skip what has no keys.
    if (value.length > 0 && typeof value[0] !== 'object') return value;
    return value.map(camelizeKeys);
  }
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [key, inner] of Object.entries(value)) out[snakeToCamel(key)] = camelizeKeys(inner);
  return out;
}

export const ACTIVATIONS = [
  'elu',
  'hardSigmoid',
  'linear',
  'relu',
  'relu6',
  'selu',
  'sigmoid',
  'softmax',
  'softplus',
  'softsign',
  'tanh',
  'swish',
  'mish',
  'gelu',
  'gelu_new',
] as const;

export const LOSSES = [
  'meanSquaredError',
  'meanAbsoluteError',
  'meanAbsolutePercentageError',
  'meanSquaredLogarithmicError',
  'squaredHinge',
  'hinge',
  'categoricalHinge',
  'logcosh',
  'categoricalCrossentropy',
  'sparseCategoricalCrossentropy',
  'binaryCrossentropy',
  'kullbackLeiblerDivergence',
  'poisson',
  'cosineProximity',
] as const;

export const METRICS = [
  'accuracy',
  'binaryAccuracy',
  'categoricalAccuracy',
  'sparseCategoricalAccuracy',
  'precision',
  'recall',
  'mse',
  'mae',
  'mape',
  'cosineProximity',
  'binaryCrossentropy',
  'categoricalCrossentropy',
] as const;

export const OPTIMIZERS = ['sgd', 'momentum', 'rmsprop', 'adam', 'adamax', 'adagrad', 'adadelta'] as const;

const ALIASES: Record<string, string> = {
  mse: 'meanSquaredError',
  mae: 'meanAbsoluteError',
  mape: 'meanAbsolutePercentageError',
  msle: 'meanSquaredLogarithmicError',
  kld: 'kullbackLeiblerDivergence',
  kullbackLeiblerDivergence: 'kullbackLeiblerDivergence',
  logCosh: 'logcosh',
  acc: 'accuracy',
  gelu_new: 'gelu_new',
  geluNew: 'gelu_new',
};

/** `categorical_crossentropy` -> `categoricalCrossentropy`; `RMSprop` -> `rmsprop` via `match`. */
function canonical(name: string, allowed: readonly string[], aliases: Record<string, string> = {}): string | undefined {
  const camel = snakeToCamel(name.trim());
  // Own keys only: a loss called `toString` must not find Object.prototype.toString.
  const aliased = own(aliases, camel) ?? own(aliases, name) ?? camel;
  return allowed.find((a) => a === aliased) ?? allowed.find((a) => a.toLowerCase() === aliased.toLowerCase());
}

export const activationName = (name: string) => canonical(name, ACTIVATIONS, ALIASES);
export const lossName = (name: string) => canonical(name, LOSSES, ALIASES);
export const optimizerName = (name: string) => canonical(name, OPTIMIZERS);
/** Metrics keep Keras's short names (`mse`) because tfjs reports history under them. */
export const metricName = (name: string) => canonical(name, METRICS, { acc: 'accuracy' });
