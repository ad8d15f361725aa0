import * as tf from '@tensorflow/tfjs';
import { diskDataset, readBlocks, type Block } from '../data/disk-batches.ts';
import { validationSplit } from '../data/split.ts';
import { FeatureStatistics, featuresTensor, labelsTensor, type Transforms } from '../data/transforms.ts';
import { sizeOf, type DiskSource, type LoadedData, type RowSet } from '../data/types.ts';
import type { EvaluationReport } from '../schemas/evaluation.ts';
import { startModel } from './start-model.ts';
import { compileModel } from '../model/compile.ts';
import { ReportAccumulator } from './evaluation-report.ts';
import type { TrainingPlan } from './plan.ts';
import { fit, type TrainingResult, type TrainingSink } from './fit.ts';
import { disposeModel } from '../model/dispose.ts';
import { Augmenter } from './augmentation.ts';

/** Blocks read for statistics and labels: big enough for few reads, small enough to stay bounded. */
const SCAN_BLOCK = 4096;

/** `rows[indices]`, ascending, so blocks read forward through the files. */
const pick = (rows: Int32Array, indices: Int32Array) => Int32Array.from(indices, (i) => rows[i]).sort();

/**
 * Trains on data over the in-memory limit: `fitDataset` over batches read from the column
 * files, so the worker holds a batch (plus the model) rather than the dataset. Validation
 * split, statistics and evaluation are computed in passes over blocks too.
 */
export async function trainFromDisk(
  plan: TrainingPlan,
  data: LoadedData & { disk: DiskSource },
  sink: TrainingSink,
  seed: string,
): Promise<TrainingResult> {
  const { disk } = data;
  const { batchSize } = plan.fit;
  let trainRows = disk.train.rows;
  let validationRows: Int32Array | undefined;
  if (plan.fit.validationSplit > 0) {
    const strata = data.stratify ? await labelsOf(disk.train, trainRows) : undefined;
    const split = validationSplit(trainRows.length, plan.fit.validationSplit, plan.fit.seed ?? seed, strata);
    validationRows = pick(trainRows, split.validation);
    trainRows = pick(trainRows, split.train);
  }
  let transforms: Transforms = plan.transforms;
  if (!transforms.statistics && (transforms.inputs.standardize || transforms.inputs.minMax)) {
    const statistics = new FeatureStatistics(sizeOf(transforms.featureShape));
    for await (const block of readBlocks(disk.train, trainRows, SCAN_BLOCK))
      statistics.add(block.x, { length: block.count });
    transforms = statistics.apply(transforms);
  }
  const toTensors = (block: Block) =>
    tf.tidy(() => ({
      xs: featuresTensor(block.x, block.count, transforms),
      ys: labelsTensor(block.y, block.count, data, plan.transforms.labels),
    }));

  const model = await startModel(plan);
  try {
    compileModel(model, plan.compile);
    // Only the training batches are augmented; validation and test batches come from toTensors as they are.
    const augmenter = plan.augment && new Augmenter(plan.augment, plan.augment.seed ?? plan.fit.seed ?? seed);
    const toTrainingTensors = augmenter
      ? (block: Block) => {
          const { xs, ys } = toTensors(block);
          const augmented = augmenter.apply(xs);
          xs.dispose();
          return { xs: augmented, ys };
        }
      : toTensors;
    const dataset = diskDataset(
      disk.train,
      trainRows,
      batchSize,
      toTrainingTensors,
      plan.fit.shuffle ? { seed: plan.fit.seed ?? seed } : undefined,
    );
    const validationDataset = validationRows
      ? diskDataset(disk.train, validationRows, batchSize, toTensors)
      : undefined;
    const epochBegins = augmenter ? (epoch: number) => augmenter.startEpoch(epoch) : undefined;
    const history = await fit(
      model,
      { dataset, validationDataset, samples: trainRows.length, epochBegins },
      plan,
      sink,
    );
    const stopped = sink.supervisor?.stopReason;
    if (stopped) return { model, history, evaluation: null, transforms, stopped };
    let evaluation: EvaluationReport | null = null;
    if (plan.evaluate && disk.test) {
      evaluation = await evaluateFromDisk(
        model,
        disk.test,
        batchSize,
        toTensors,
        plan.compile.loss,
        transforms.classNames,
      );
      await sink.evaluation(evaluation);
    }
    return { model, history, evaluation, transforms };
  } catch (err) {
    disposeModel(model);
    throw err;
  }
}

async function labelsOf(set: RowSet, rows: Int32Array): Promise<Float32Array> {
  const labels = new Float32Array(rows.length);
  let offset = 0;
  for await (const block of readBlocks({ ...set, features: [] }, rows, SCAN_BLOCK)) {
    labels.set(block.y, offset);
    offset += block.count;
  }
  return labels;
}

/** Keras's evaluate over batches (metrics weighted by batch size) plus the evaluation report. */
async function evaluateFromDisk(
  model: tf.LayersModel,
  test: RowSet,
  batchSize: number,
  toTensors: (block: Block) => { xs: tf.Tensor; ys: tf.Tensor },
  loss: string,
  classNames?: string[],
): Promise<EvaluationReport> {
  const sums = new Array<number>(model.metricsNames.length).fill(0);
  let n = 0;
  const report = new ReportAccumulator(loss, classNames);
  for await (const block of readBlocks(test, test.rows, batchSize)) {
    const { xs, ys } = toTensors(block);
    try {
      const result = model.evaluate(xs, ys, { batchSize });
      const scalars = Array.isArray(result) ? result : [result];
      const values = await Promise.all(scalars.map((s) => s.data()));
      tf.dispose(scalars);
      for (const [i, v] of values.entries()) sums[i] += v[0] * block.count;
      n += block.count;
      const predicted = model.predict(xs) as tf.Tensor;
      await report.add(predicted, ys);
      predicted.dispose();
    } finally {
      tf.dispose([xs, ys]);
    }
  }
  const metrics = Object.fromEntries(model.metricsNames.map((name, i) => [name, sums[i] / Math.max(n, 1)]));
  return { ...metrics, ...report.result() };
}
