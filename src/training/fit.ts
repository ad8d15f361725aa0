import type * as tf from '@tensorflow/tfjs';
import type { Transforms } from '../data/transforms.ts';
import { AppError } from '../errors.ts';
import type { EvaluationReport } from '../schemas/evaluation.ts';
import { TrainingControl } from './callbacks.ts';
import type { TrainingPlan } from './plan.ts';

/*
 * Keras's fit loop and what training reports and returns, shared by training in memory
 * (train.ts) and from disk (train-from-disk.ts).
 */

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

export type StopReason = 'cancel' | 'yield' | 'timeout';

/**
 * What watches a fit from outside: stops it between batches, checkpoints it after epochs,
 * restores it on resume. Declared here so the fit loop does not depend on who supervises
 * (src/jobs/supervision.ts implements it for a stored job).
 */
export interface Supervisor {
  readonly stopReason: StopReason | undefined;
  /** Called after every batch; true stops the fit. */
  shouldStop(): Promise<boolean>;
  /** Called after every finished epoch (1-based), before its event is recorded. */
  epochDone(epoch: number, epochs: number, model: tf.LayersModel, history: Record<string, number[]>): Promise<void>;
  /** Loads a checkpoint into a freshly compiled model; the epochs already done, if any. */
  restore(model: tf.LayersModel): Promise<{ initialEpoch: number; history: Record<string, number[]> } | undefined>;
}

/** Where training reports to; the worker writes these to Redis. */
export interface TrainingSink {
  /** After each finished epoch; `stop` ends training after it (a sweep's search stopping a trial early). */
  epoch(report: EpochReport, history: Record<string, number[]>): Promise<'stop' | undefined>;
  batch(report: BatchReport): Promise<void>;
  evaluation(metrics: EvaluationReport): Promise<void>;
  /** Optional supervision: cancel, shutdown and time limits, checkpoints, resume. */
  supervisor?: Supervisor;
  /** After each finished epoch: its wall time (as the epoch report's) and the training samples it went through. */
  epochTimed?(timing: { seconds: number; samples: number }): Promise<void>;
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

/** What `fit` trains on: tensors in memory, or ready batches streamed from disk (`fitDataset`). */
export type FitInput =
  | { x: tf.Tensor; y: tf.Tensor; validationData?: [tf.Tensor, tf.Tensor] }
  | {
      dataset: tf.data.Dataset<tf.TensorContainer>;
      validationDataset?: tf.data.Dataset<tf.TensorContainer> | [tf.Tensor, tf.Tensor];
      samples: number;
      /** Told each epoch (0-based, counting resumed ones) before its batches are made: seeds per-epoch draws. */
      epochBegins?: (epoch: number) => void;
    };

export async function fit(
  model: tf.LayersModel,
  input: FitInput,
  plan: TrainingPlan,
  sink: TrainingSink,
): Promise<Record<string, number[]>> {
  const { epochs, batchSize, shuffle } = plan.fit;
  const samples = 'x' in input ? input.x.shape[0] : input.samples;
  const batches = Math.ceil(samples / batchSize);
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
          // fitDataset asks for the epoch's iterator after this callback, so its batches see the epoch.
          if ('dataset' in input) input.epochBegins?.(epoch);
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
          for (const [name, value] of Object.entries(metrics)) {
            history[name] ??= [];
            history[name].push(value);
          }
          await sink.supervisor?.epochDone(epoch + 1, epochs, model, history);
          const elapsedMs = Date.now() - epochStart;
          if ((await sink.epoch({ epoch: epoch + 1, epochs, metrics, elapsedMs }, history)) === 'stop')
            model.stopTraining = true;
          await sink.epochTimed?.({ seconds: elapsedMs / 1000, samples });
        },
      },
    };
    await ('x' in input
      ? model.fit(input.x, input.y, { ...options, batchSize, shuffle, validationData: input.validationData })
      : model.fitDataset(input.dataset, {
          ...options,
          validationData: input.validationDataset,
          validationBatchSize: batchSize,
        }));
  } finally {
    if (numericalTrouble) control.dispose();
    else control.finish();
  }
  if (numericalTrouble) {
    throw new AppError(422, 'numerical_error', `${numericalTrouble}; try a lower learning rate or scaled inputs`);
  }
  return history;
}

/** Metric values only: tfjs also puts the batch index and size into batch logs. */
const numbers = (logs: tf.Logs | undefined) =>
  Object.fromEntries(
    Object.entries(logs ?? {}).filter(([k, v]) => typeof v === 'number' && k !== 'batch' && k !== 'size'),
  ) as Record<string, number>;
