import * as tf from '@tensorflow/tfjs';
import { loadData } from '../data/datasets.ts';
import { featuresTensor, fitStatistics, labelsTensor } from '../data/transforms.ts';
import { validationSplit } from '../data/split.ts';
import { vectorizeText } from '../data/text-data.ts';
import type { DataSpec } from '../schemas/job-request.ts';
import { startModel } from './start-model.ts';
import { compileModel } from '../model/compile.ts';
import type { TrainingPlan } from './plan.ts';
import type { EvaluationReport } from '../schemas/evaluation.ts';
import { reportFor } from './evaluation-report.ts';
import { trainFromDisk } from './train-from-disk.ts';
import { fit, type TrainingResult, type TrainingSink } from './fit.ts';
import { disposeModel } from '../model/dispose.ts';
import { Augmenter } from './augmentation.ts';
import { augmentedMemoryInput } from './augmented-batches.ts';

/**
 * Loads the data, builds and fits the model, and evaluates it on the test split: Keras's
 * `fit` + `evaluate`. The caller owns (and disposes) the returned model.
 */
export async function train(
  plan: TrainingPlan,
  dataSpec: DataSpec,
  sink: TrainingSink,
  seed: string,
): Promise<TrainingResult> {
  const data = await loadData(dataSpec, plan.evaluate, plan.datasets, plan.fit.seed);
  if (data.disk) return trainFromDisk(plan, { ...data, disk: data.disk }, sink, seed);
  const tensors: tf.Tensor[] = [];
  const keep = <T extends tf.Tensor>(t: T) => {
    tensors.push(t);
    return t;
  };
  const model = await startModel(plan);
  try {
    compileModel(model, plan.compile);
    const split =
      plan.fit.validationSplit > 0
        ? validationSplit(
            data.train.count,
            plan.fit.validationSplit,
            plan.fit.seed ?? seed,
            data.stratify ? data.train.y : undefined,
          )
        : undefined;
    // data.text: the vocabulary is learned on the rows fit trains on (not validation, not test).
    const text = vectorizeText(plan.transforms, data, split?.train);
    const transforms = fitStatistics(text.transforms, text.train.x, data.train.count, split?.train);
    const x = keep(featuresTensor(text.train.x, data.train.count, transforms));
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
    // Augmented training batches are made per batch; validation and test data never are.
    const input = plan.augment
      ? augmentedMemoryInput(
          fitX,
          fitY,
          plan.fit.batchSize,
          new Augmenter(plan.augment, plan.augment.seed ?? plan.fit.seed ?? seed),
          plan.fit.shuffle ? (plan.fit.seed ?? seed) : undefined,
          validationData,
        )
      : { x: fitX, y: fitY, validationData };
    const history = await fit(model, input, plan, sink);
    const stopped = sink.supervisor?.stopReason;
    if (stopped) return { model, history, evaluation: null, transforms, stopped };
    let evaluation: EvaluationReport | null = null;
    if (plan.evaluate && data.test) {
      const xt = keep(featuresTensor(text.test?.x ?? data.test.x, data.test.count, transforms));
      const yt = keep(labelsTensor(data.test.y, data.test.count, data, plan.transforms.labels));
      evaluation = await evaluate(model, xt, yt, plan.fit.batchSize);
      Object.assign(
        evaluation,
        await reportFor(model, xt, yt, plan.compile.loss, plan.fit.batchSize, transforms.classNames),
      );
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

async function evaluate(model: tf.LayersModel, x: tf.Tensor, y: tf.Tensor, batchSize: number) {
  const result = model.evaluate(x, y, { batchSize });
  const scalars = Array.isArray(result) ? result : [result];
  const values = await Promise.all(scalars.map((s) => s.data()));
  for (const s of scalars) s.dispose();
  return Object.fromEntries(model.metricsNames.map((name, i) => [name, values[i][0]]));
}
