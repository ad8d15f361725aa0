import * as tf from '@tensorflow/tfjs';
import { AppError, type FieldError } from '../errors.ts';
import type { CallbackSpec } from '../schemas/job-request.ts';

/**
 * Keras's fit callbacks, declared in the request: earlyStopping (tfjs has one, but without
 * restoreBestWeights or baseline), reduceLROnPlateau and modelCheckpoint (here: keep the
 * best epoch's weights, so the stored model is the best one by the monitored metric).
 */
export type CallbackType = 'earlyStopping' | 'reduceLROnPlateau' | 'modelCheckpoint';

export interface CallbackSettings {
  type: CallbackType;
  monitor: string;
  mode: 'min' | 'max';
  minDelta: number;
  patience: number;
  baseline?: number;
  restoreBestWeights: boolean;
  factor: number;
  cooldown: number;
  minLr: number;
}

const TYPES: CallbackType[] = ['earlyStopping', 'reduceLROnPlateau', 'modelCheckpoint'];

/** Keras names metrics `accuracy`, tfjs logs them as `acc`. */
const logName = (monitor: string) => monitor.replace(/(^|_)accuracy$/, '$1acc');

/** Checks the callbacks against the metrics the compiled model will log. */
export function parseCallbacks(
  specs: CallbackSpec[] | undefined,
  logged: string[],
  hasValidation: boolean,
): CallbackSettings[] {
  const errors: FieldError[] = [];
  const out = (specs ?? []).map((spec, i) => {
    const path = `/fit/callbacks/${i}`;
    const type = TYPES.find((t) => t.toLowerCase() === spec.type.replace(/_/g, '').toLowerCase());
    if (!type)
      errors.push({
        path: `${path}/type`,
        message: `unknown callback ${JSON.stringify(spec.type)}; use one of ${TYPES.join(', ')}`,
      });
    const monitor = logName(spec.monitor ?? 'val_loss');
    if (!logged.includes(monitor)) {
      const hint = monitor.startsWith('val_') && !hasValidation ? ' (val_* metrics need fit.validationSplit > 0)' : '';
      errors.push({
        path: `${path}/monitor`,
        message: `${JSON.stringify(spec.monitor ?? 'val_loss')} is not logged; available: ${logged.join(', ')}${hint}`,
      });
    }
    const auto = /acc|precision|recall|auc/.test(monitor) ? 'max' : 'min';
    const mode = spec.mode === 'min' || spec.mode === 'max' ? spec.mode : auto;
    return {
      type: type ?? 'earlyStopping',
      monitor,
      mode,
      minDelta: Math.abs(spec.minDelta ?? (type === 'reduceLROnPlateau' ? 1e-4 : 0)),
      patience: spec.patience ?? (type === 'reduceLROnPlateau' ? 10 : 0),
      baseline: spec.baseline,
      restoreBestWeights: spec.restoreBestWeights ?? type === 'modelCheckpoint',
      factor: spec.factor ?? 0.1,
      cooldown: spec.cooldown ?? 0,
      minLr: spec.minLr ?? 0,
    } satisfies CallbackSettings;
  });
  if (errors.length > 0) throw new AppError(422, 'invalid_callbacks', `${errors[0].path} ${errors[0].message}`, errors);
  return out;
}

/** What the callbacks did, for the job's history. */
export interface CallbackOutcome {
  stoppedEpoch?: number;
  bestEpoch?: number;
}

/** Drives the callbacks during one fit; `epochEnd` runs before the epoch's logs are reported. */
export class TrainingControl {
  private readonly state: { best: number; wait: number; cooldown: number }[];
  private bestWeights: tf.Tensor[] | undefined;
  private bestEpoch: number | undefined;
  private stoppedEpoch: number | undefined;

  constructor(
    private readonly model: tf.LayersModel,
    private readonly callbacks: CallbackSettings[],
  ) {
    this.state = callbacks.map((c) => ({
      best: c.baseline ?? (c.mode === 'min' ? Infinity : -Infinity),
      wait: 0,
      cooldown: 0,
    }));
  }

  epochEnd(epoch: number, logs: Record<string, number>): void {
    this.callbacks.forEach((c, i) => {
      const value = logs[c.monitor];
      if (value === undefined || !Number.isFinite(value)) return;
      const s = this.state[i];
      const better = c.mode === 'min' ? value < s.best - c.minDelta : value > s.best + c.minDelta;
      if (c.type === 'reduceLROnPlateau') {
        this.plateau(c, s, better, value, logs);
        return;
      }
      if (better) {
        s.best = value;
        s.wait = 0;
        if (c.restoreBestWeights) this.keepWeights(epoch);
        return;
      }
      s.wait += 1;
      if (c.type === 'earlyStopping' && s.wait > c.patience) {
        this.model.stopTraining = true;
        this.stoppedEpoch = epoch + 1;
      }
    });
    if (this.callbacks.some((c) => c.type === 'reduceLROnPlateau')) logs.lr = learningRate(this.model.optimizer);
  }

  private plateau(
    c: CallbackSettings,
    s: { best: number; wait: number; cooldown: number },
    better: boolean,
    value: number,
    logs: Record<string, number>,
  ) {
    if (s.cooldown > 0) s.cooldown -= 1;
    if (better) {
      s.best = value;
      s.wait = 0;
      return;
    }
    if (s.cooldown > 0) return;
    s.wait += 1;
    if (s.wait >= c.patience) {
      const lr = learningRate(this.model.optimizer);
      const next = Math.max(lr * c.factor, c.minLr);
      if (next < lr) setLearningRate(this.model.optimizer, next);
      s.cooldown = c.cooldown;
      s.wait = 0;
    }
    void logs;
  }

  private keepWeights(epoch: number) {
    tf.dispose(this.bestWeights);
    this.bestWeights = this.model.getWeights().map((w) => w.clone());
    this.bestEpoch = epoch + 1;
  }

  /** Puts the best epoch's weights back when a callback asked for that; returns what happened. */
  finish(): CallbackOutcome {
    if (this.bestWeights) {
      this.model.setWeights(this.bestWeights);
      tf.dispose(this.bestWeights);
      this.bestWeights = undefined;
    }
    return { stoppedEpoch: this.stoppedEpoch, bestEpoch: this.bestEpoch };
  }

  dispose() {
    tf.dispose(this.bestWeights);
    this.bestWeights = undefined;
  }
}

type WithRate = tf.Optimizer & { learningRate?: number; setLearningRate?: (lr: number) => void };

const learningRate = (o: tf.Optimizer) => (o as WithRate).learningRate ?? NaN;

/** SGD (and momentum) keep a derived scalar, so they have a setter; the others read the field each step. */
function setLearningRate(o: tf.Optimizer, lr: number) {
  const opt = o as WithRate;
  if (typeof opt.setLearningRate === 'function') opt.setLearningRate(lr);
  else opt.learningRate = lr;
}
