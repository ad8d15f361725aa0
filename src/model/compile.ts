import * as tf from '@tensorflow/tfjs';
import { AppError, type FieldError } from '../errors.ts';
import type { CompileSpec } from '../schemas/job-request.ts';
import { LOSSES, METRICS, OPTIMIZERS, lossName, metricName, optimizerName } from './keras-names.ts';
import { accelerations } from '../compute/accelerations/index.ts';

export interface CompileSettings {
  optimizer: { type: (typeof OPTIMIZERS)[number]; [option: string]: unknown };
  loss: (typeof LOSSES)[number];
  metrics: string[];
}

/**
 * Checks names and puts the compile settings in canonical tfjs spelling. `fromModel` is a
 * Keras document's compile_config; each field the request gives overrides it.
 */
export function parseCompile(request: CompileSpec | undefined, fromModel?: CompileSpec): CompileSettings {
  const errors: FieldError[] = [];
  const spec: CompileSpec = { ...fromModel, ...request };
  spec.optimizer ??= 'rmsprop'; // Keras's default
  if (spec.loss === undefined) {
    const message = 'is required: give compile.loss, or a Keras model document with a compile_config';
    throw new AppError(400, 'invalid_compile', `/compile/loss ${message}`, [{ path: '/compile/loss', message }]);
  }
  const { type: rawType, ...options } = typeof spec.optimizer === 'string' ? { type: spec.optimizer } : spec.optimizer;
  const type = optimizerName(rawType);
  if (!type) {
    const path = typeof spec.optimizer === 'string' ? '/compile/optimizer' : '/compile/optimizer/type';
    errors.push({ path, message: `unknown optimizer ${JSON.stringify(rawType)}; use one of ${OPTIMIZERS.join(', ')}` });
  }
  const loss = lossName(spec.loss);
  if (!loss)
    errors.push({
      path: '/compile/loss',
      message: `unknown loss ${JSON.stringify(spec.loss)}; use one of ${LOSSES.join(', ')}`,
    });
  const metrics = (spec.metrics ?? []).map((m, i) => {
    const name = metricName(m);
    if (!name)
      errors.push({
        path: `/compile/metrics/${i}`,
        message: `unknown metric ${JSON.stringify(m)}; use one of ${METRICS.join(', ')}`,
      });
    return name ?? m;
  });
  if (errors.length > 0) throw new AppError(400, 'invalid_compile', `${errors[0].path} ${errors[0].message}`, errors);
  return {
    optimizer: { type: type as CompileSettings['optimizer']['type'], ...options },
    loss: loss as CompileSettings['loss'],
    metrics,
  };
}

type Options = Record<string, number | boolean | undefined>;

/** Optimizers with Keras's defaults where tfjs's differ. */
const MAKERS: Record<CompileSettings['optimizer']['type'], (o: Options) => tf.Optimizer> = {
  sgd: (o) =>
    o.momentum ? tf.train.momentum(lr(o, 0.01), o.momentum as number, nesterov(o)) : tf.train.sgd(lr(o, 0.01)),
  momentum: (o) => tf.train.momentum(lr(o, 0.01), (o.momentum as number) ?? 0.9, nesterov(o)),
  rmsprop: (o) =>
    tf.train.rmsprop(
      lr(o, 0.001),
      (o.rho ?? o.decay ?? 0.9) as number,
      (o.momentum as number) ?? 0,
      o.epsilon as number,
      o.centered as boolean,
    ),
  adam: (o) => tf.train.adam(lr(o, 0.001), o.beta1 as number, o.beta2 as number, o.epsilon as number),
  adamax: (o) =>
    tf.train.adamax(lr(o, 0.002), o.beta1 as number, o.beta2 as number, o.epsilon as number, o.decay as number),
  adagrad: (o) => tf.train.adagrad(lr(o, 0.01), o.initialAccumulatorValue as number),
  adadelta: (o) => tf.train.adadelta(lr(o, 0.001), (o.rho as number) ?? 0.95, o.epsilon as number),
};

const lr = (o: Options, fallback: number) => (o.learningRate as number | undefined) ?? fallback;
const nesterov = (o: Options) => Boolean(o.useNesterov ?? o.nesterov);

export function compileModel(model: tf.LayersModel, settings: CompileSettings): void {
  const { type, clipnorm, clipvalue, globalClipnorm, ...options } = settings.optimizer as CompileSettings['optimizer'] &
    Clipping;
  const optimizer = withClipping(accelerations().wrapOptimizer(MAKERS[type](options as Options)), {
    clipnorm,
    clipvalue,
    globalClipnorm,
  });
  model.compile({ optimizer, loss: settings.loss, metrics: settings.metrics });
}

interface Clipping {
  clipnorm?: number;
  clipvalue?: number;
  globalClipnorm?: number;
}

/**
 * Keras's `clipnorm` / `clipvalue` / `global_clipnorm`: tfjs optimizers have none, so the
 * gradients are clipped on their way into `applyGradients` (which `fit` calls every step).
 */
function withClipping(optimizer: tf.Optimizer, clip: Clipping): tf.Optimizer {
  if (!clip.clipnorm && !clip.clipvalue && !clip.globalClipnorm) return optimizer;
  const apply = optimizer.applyGradients.bind(optimizer);
  optimizer.applyGradients = (grads: tf.NamedTensorMap | { name: string; tensor: tf.Tensor }[]) => {
    const entries: [string, tf.Tensor][] = Array.isArray(grads)
      ? grads.map((g) => [g.name, g.tensor])
      : Object.entries(grads);
    const clipped = tf.tidy(() => {
      let out = entries.map(([, g]) => g);
      if (clip.clipvalue) out = out.map((g) => tf.clipByValue(g, -clip.clipvalue!, clip.clipvalue!));
      if (clip.clipnorm) out = out.map((g) => clipToNorm(g, tf.norm(g), clip.clipnorm!));
      if (clip.globalClipnorm) {
        const global = tf.sqrt(tf.addN(out.map((g) => tf.sum(tf.square(g)))));
        out = out.map((g) => clipToNorm(g, global, clip.globalClipnorm!));
      }
      return out;
    });
    try {
      apply(Object.fromEntries(entries.map(([name], i) => [name, clipped[i]])));
    } finally {
      tf.dispose(clipped);
    }
  };
  return optimizer;
}

const clipToNorm = (g: tf.Tensor, norm: tf.Tensor, max: number) => tf.mul(g, tf.div(max, tf.maximum(norm, max)));
