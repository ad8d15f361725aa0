import * as tf from '@tensorflow/tfjs';
import { AppError, type FieldError } from '../errors.ts';
import type { CompileSpec } from '../schemas/job-request.ts';
import { LOSSES, METRICS, OPTIMIZERS, lossName, metricName, optimizerName } from './keras-names.ts';

export interface CompileSettings {
  optimizer: { type: (typeof OPTIMIZERS)[number]; [option: string]: unknown };
  loss: (typeof LOSSES)[number];
  metrics: string[];
}

/** Checks names and puts the compile settings in canonical tfjs spelling. */
export function parseCompile(spec: CompileSpec): CompileSettings {
  const errors: FieldError[] = [];
  const { type: rawType, ...options } = typeof spec.optimizer === 'string' ? { type: spec.optimizer } : spec.optimizer;
  const type = optimizerName(rawType);
  if (!type) {
    const path = typeof spec.optimizer === 'string' ? '/compile/optimizer' : '/compile/optimizer/type';
    errors.push({ path, message: `unknown optimizer ${JSON.stringify(rawType)}; use one of ${OPTIMIZERS.join(', ')}` });
  }
  const loss = lossName(spec.loss);
  if (!loss) errors.push({ path: '/compile/loss', message: `unknown loss ${JSON.stringify(spec.loss)}; use one of ${LOSSES.join(', ')}` });
  const metrics = (spec.metrics ?? []).map((m, i) => {
    const name = metricName(m);
    if (!name) errors.push({ path: `/compile/metrics/${i}`, message: `unknown metric ${JSON.stringify(m)}; use one of ${METRICS.join(', ')}` });
    return name ?? m;
  });
  if (errors.length > 0) throw new AppError(400, 'invalid_compile', `${errors[0].path} ${errors[0].message}`, errors);
  return { optimizer: { type: type as CompileSettings['optimizer']['type'], ...options }, loss: loss as CompileSettings['loss'], metrics };
}

type Options = Record<string, number | boolean | undefined>;

/** Optimizers with Keras's defaults where tfjs's differ. */
const MAKERS: Record<CompileSettings['optimizer']['type'], (o: Options) => tf.Optimizer> = {
  sgd: (o) => (o.momentum ? tf.train.momentum(lr(o, 0.01), o.momentum as number, o.useNesterov as boolean) : tf.train.sgd(lr(o, 0.01))),
  momentum: (o) => tf.train.momentum(lr(o, 0.01), (o.momentum as number) ?? 0.9, o.useNesterov as boolean),
  rmsprop: (o) => tf.train.rmsprop(lr(o, 0.001), (o.rho ?? o.decay ?? 0.9) as number, (o.momentum as number) ?? 0, o.epsilon as number, o.centered as boolean),
  adam: (o) => tf.train.adam(lr(o, 0.001), o.beta1 as number, o.beta2 as number, o.epsilon as number),
  adamax: (o) => tf.train.adamax(lr(o, 0.002), o.beta1 as number, o.beta2 as number, o.epsilon as number, o.decay as number),
  adagrad: (o) => tf.train.adagrad(lr(o, 0.01), o.initialAccumulatorValue as number),
  adadelta: (o) => tf.train.adadelta(lr(o, 0.001), (o.rho as number) ?? 0.95, o.epsilon as number),
};

const lr = (o: Options, fallback: number) => (o.learningRate as number | undefined) ?? fallback;

export function compileModel(model: tf.LayersModel, settings: CompileSettings): void {
  const { type, ...options } = settings.optimizer;
  model.compile({ optimizer: MAKERS[type](options as Options), loss: settings.loss, metrics: settings.metrics });
}
