import * as tf from '@tensorflow/tfjs';
import { AppError } from '../errors.ts';
import { loadData } from '../data/datasets.ts';
import { featuresTensor, fitStatistics, labelsTensor, type Transforms } from '../data/transforms.ts';
import { validationSplit } from '../data/split.ts';
import type { DataSpec } from '../schemas/job-request.ts';
import { buildModel } from './build-model.ts';
import { TrainingControl } from './callbacks.ts';
import type { StopReason, Supervisor } from './supervision.ts';
import { compileModel } from './compile.ts';
import { modelInputShape } from '../data/transforms.ts';
import type { TrainingPlan } from './plan.ts';
import type { EvaluationReport } from '../schemas/evaluation.ts';
import { reportFor } from './evaluation-report.ts';
import { trainFromDisk } from './train-from-disk.ts';
import { disposeModel } from './dispose.ts';

export interface EpochReport {
  epoch: number;
  epochs: number;
  metrics: Record<string, number>;
  elapsedMs: number;
}

export interface BatchReport {
  epoch: number;
  batch: number;
  batches: number;
  metrics: Record<string, number>;
}

/** Where training reports to; the worker writes these to Redis. */
export interface TrainingSink {
  epoch(report: EpochReport, history: Record<string, number[]>): Promise<void>;
  batch(report: BatchReport): Promise<void>;
  evaluation(metrics: EvaluationReport): Promise<void>;
  /** Optional supervision: cancel, shutdown and time limits, checkpoints, resume. */
  supervisor?: Supervisor;
}

export interface TrainingResult {
  model: tf.LayersModel;
  history: Record<string, number[]>;
  evaluation: EvaluationReport | null;
  /** The plan's transforms with the training-split statistics (standardize/minMax) filled in. */
  transforms: Transforms;
  /** Why training stopped early, when a supervisor stopped it (no evaluation then). */
  stopped?: StopReason;
}

const BATCH_EVENT_INTERVAL_MS = 2_000;

/**
 * Loads the data, builds and fits the model, and evaluates it on the test split: Keras's
 * `fit` + `evaluate`. The caller owns (and disposes) the returned model.
 */
export async function train(plan: TrainingPlan, dataSpec: DataSpec, sink: TrainingSink, seed: string): Promise<TrainingResult> {
  const data = await loadData(dataSpec, plan.evaluate, plan.datasets, plan.fit.seed);
  if (data.disk) return trainFromDisk(plan, { ...data, disk: data.disk }, sink, seed, fit);
  const tensors: tf.Tensor[] = [];
  const keep = <T extends tf.Tensor>(t: T) => (tensors.push(t), t);
  const model = buildModel(plan.model, modelInputShape(plan.transforms));
  try {
    compileModel(model, plan.compile);
    const split = plan.fit.validationSplit > 0
      ? validationSplit(data.train.count, plan.fit.validationSplit, plan.fit.seed ?? seed, data.stratify ? data.train.y : undefined)
      : undefined;
    const transforms = fitStatistics(plan.transforms, data.train.x, data.train.count, split?.train);
    const x = keep(featuresTensor(data.train.x, data.train.count, transforms));
    const y = keep(labelsTensor(data.train.y, data.train.count, data, plan.transforms.labels));
    let fitX = x;
    let fitY = y;
    let validationData: [tf.Tensor, tf.Tensor] | undefined;
    if (split) {
      const trainIdx = keep(tf.tensor1d(split.train, 'int32'));
      const valIdx = keep(tf.tensor1d(split.validation, 'int32'));
      fitX = keep(tf.gather(x, trainIdx));
      fitY = keep(tf.gather(y, trainIdx));
      validationData = [keep(tf.gather(x, valIdx)), keep(tf.gather(y, valIdx))];
    }
    const history = await fit(model, { x: fitX, y: fitY, validationData }, plan, sink);
    const stopped = sink.supervisor?.stopReason;
    if (stopped) return { model, history, evaluation: null, transforms, stopped };
    let evaluation: EvaluationReport | null = null;
    if (plan.evaluate && data.test) {
      const xt = keep(featuresTensor(data.test.x, data.test.count, transforms));
      const yt = keep(labelsTensor(data.test.y, data.test.count, data, plan.transforms.labels));
      evaluation = await evaluate(model, xt, yt, plan.fit.batchSize);
      Object.assign(evaluation, await reportFor(model, xt, yt, plan.compile.loss, plan.fit.batchSize, transforms.classNames));
      await sink.evaluation(evaluation);
    }
    return { model, history, evaluation, transforms };
  } catch (err) {
    disposeModel(model);
    throw err;
  } finally {
    for (const t of tensors) t.dispose();
  }
}

/** What `fit` trains on: tensors in memory, or ready batches streamed from disk (`fitDataset`). */
export type FitInput =
  | { x: tf.Tensor; y: tf.Tensor; validationData?: [tf.Tensor, tf.Tensor] }
  | { dataset: tf.data.Dataset<tf.TensorContainer>; validationDataset?: tf.data.Dataset<tf.TensorContainer>; samples: number };

async function fit(model: tf.LayersModel, input: FitInput, plan: TrainingPlan, sink: TrainingSink): Promise<Record<string, number[]>> {
  const { epochs, batchSize, shuffle } = plan.fit;
  const batches = Math.ceil(('x' in input ? input.x.shape[0] : input.samples) / batchSize);
  const resumed = await sink.supervisor?.restore(model);
  const history: Record<string, number[]> = resumed?.history ?? {};
  let epochStart = Date.now();
  let lastBatchEvent = Date.now();
  let currentEpoch = 0;
  let numericalTrouble: string | undefined;
  const control = new TrainingControl(model, plan.callbacks ?? []);
  try {
    const options: { epochs: number; initialEpoch: number; verbose: 0; callbacks: tf.CustomCallbackArgs } = {
      epochs,
      initialEpoch: resumed?.initialEpoch ?? 0,
      verbose: 0,
      callbacks: {
        onEpochBegin: async (epoch) => {
          currentEpoch = epoch + 1;
          epochStart = Date.now();
        },
        onBatchEnd: async (batch, logs) => {
          const loss = logs?.loss;
          if (loss !== undefined && !Number.isFinite(loss)) {
            numericalTrouble = `loss became ${loss} in epoch ${currentEpoch}, batch ${batch + 1}`;
            model.stopTraining = true;
            return;
          }
          if (await sink.supervisor?.shouldStop()) {
            model.stopTraining = true;
            return;
          }
          if (Date.now() - lastBatchEvent >= BATCH_EVENT_INTERVAL_MS) {
            lastBatchEvent = Date.now();
            await sink.batch({ epoch: currentEpoch, batch: batch + 1, batches, metrics: numbers(logs) });
          }
        },
        onEpochEnd: async (epoch, logs) => {
          // A fit stopped mid-epoch (NaN, cancel, shutdown, time limit) did not finish this epoch.
          if (numericalTrouble || sink.supervisor?.stopReason) return;
          const metrics = numbers(logs);
          control.epochEnd(epoch, metrics); // early stopping, learning-rate changes, best weights
          for (const [name, value] of Object.entries(metrics)) (history[name] ??= []).push(value);
          await sink.supervisor?.epochDone(epoch + 1, epochs, model, history);
          await sink.epoch({ epoch: epoch + 1, epochs, metrics, elapsedMs: Date.now() - epochStart }, history);
        },
      },
    };
    await ('x' in input
      ? model.fit(input.x, input.y, { ...options, batchSize, shuffle, validationData: input.validationData })
      : model.fitDataset(input.dataset, { ...options, validationData: input.validationDataset }));
  } finally {
    if (numericalTrouble) control.dispose();
    else control.finish();
  }
  if (numericalTrouble) {
    throw new AppError(422, 'numerical_error', `${numericalTrouble}; try a lower learning rate or scaled inputs`);
  }
  return history;
}

async function evaluate(model: tf.LayersModel, x: tf.Tensor, y: tf.Tensor, batchSize: number) {
  const result = model.evaluate(x, y, { batchSize });
  const scalars = Array.isArray(result) ? result : [result];
  const values = await Promise.all(scalars.map((s) => s.data()));
  scalars.forEach((s) => s.dispose());
  return Object.fromEntries(model.metricsNames.map((name, i) => [name, values[i][0]]));
}

/** Metric values only: tfjs also puts the batch index and size into batch logs. */
const numbers = (logs: tf.Logs | undefined) =>
  Object.fromEntries(Object.entries(logs ?? {}).filter(([k, v]) => typeof v === 'number' && k !== 'batch' && k !== 'size')) as Record<string, number>;
