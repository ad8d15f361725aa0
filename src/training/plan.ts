import type * as tf from '@tensorflow/tfjs';
import { AppError, type FieldError } from '../errors.ts';
import { describeData } from '../data/datasets.ts';
import { modelInputShape, targetShape, transformErrors, type Transforms } from '../data/transforms.ts';
import { inheritVectorization, isLearned } from '../data/text-vectorizer.ts';
import type { Config } from '../config.ts';
import type { DatasetCatalog } from '../data/dataset-meta.ts';
import type { DataDescription } from '../data/types.ts';
import type { FitSpec, JobRequest } from '../schemas/job-request.ts';
import { buildWithEstimates, summarize, type ModelSummary } from '../model/build-model.ts';
import { parseCallbacks, type CallbackSettings } from './callbacks.ts';
import { textModelErrors } from './text-checks.ts';
import { compileModel, parseCompile, type CompileSettings } from '../model/compile.ts';
import { estimateCost, type CostEstimate, type LayerEstimate } from '../model/model-estimates.ts';
import { modelWarnings } from '../model/model-warnings.ts';
import { parseModel, type ModelDef } from '../model/model-spec.ts';
import { combineModel, isFineTune } from '../model/fine-tune.ts';
import { disposeModel } from '../model/dispose.ts';
import { planAugmentation, type Augmentation } from './augmentation.ts';

/** Everything a worker needs to train a job, checked; the API makes it at submit (the dry run). */
export interface TrainingPlan {
  model: ModelDef;
  compile: CompileSettings;
  data: DataDescription;
  transforms: Transforms;
  /** Uploaded datasets the job names, looked up before planning; the worker loads from them. */
  datasets?: DatasetCatalog;
  fit: Required<Omit<FitSpec, 'seed' | 'callbacks' | 'maxDurationSeconds' | 'saveModelOnTimeout'>> &
    Pick<FitSpec, 'seed' | 'maxDurationSeconds' | 'saveModelOnTimeout'>;
  callbacks: CallbackSettings[];
  evaluate: boolean;
  summary: ModelSummary;
  estimates: CostEstimate;
  warnings: string[];
  /** A fine-tuning job's parent (`model.from`), as the caller read it. */
  parent?: ParentModel;
  /** Training-time image augmentation (`data.augment`), when it changes anything. */
  augment?: Augmentation;
}

/**
 * The stored model a fine-tuning job starts from, read by the caller (the API at submit, the
 * worker when it runs the job): the planner never reads storage, and the dry run's thread cannot.
 */
export interface ParentModel {
  modelId: string;
  /** When `from` named a registered model: the name and the version it resolved to. */
  name?: string;
  version?: number;
  /** model.json's `modelTopology`: the layers, which the plan rebuilds with pop/add/freeze applied. */
  topology: unknown;
  /** The parent's transforms: a job whose data gives no `inputs` inherits its input transforms. */
  transforms: Transforms;
  /** The worker's: loads the parent's weights (ModelStore.reader). */
  weights?: tf.io.IOHandler;
}

/** Caps on what one job may ask for; a request over one is a 422 giving the number and the cap. */
export interface PlanLimits {
  maxParams?: number;
  maxLayers?: number;
  maxEpochs?: number;
  maxBatchSize?: number;
  maxBatchMemoryBytes?: number;
  /** Epochs × training rows: the samples one job would push through its model. */
  maxTrainingSamples?: number;
  /**
   * The work of one training step, which nothing interrupts: cancel, time limits and
   * shutdown act between batches, so these bound how long they can take.
   */
  maxBatchFlops?: number;
  maxSequentialSteps?: number;
  /** A dry run (the API's): weights are made for their shapes only (see `tfjsOptions`). */
  shapesOnly?: boolean;
}

/** The limits a service configuration sets. */
export const planLimits = (
  c: Pick<
    Config,
    | 'MAX_MODEL_PARAMS'
    | 'MAX_MODEL_LAYERS'
    | 'MAX_EPOCHS'
    | 'MAX_BATCH_SIZE'
    | 'MAX_BATCH_MEMORY_BYTES'
    | 'MAX_TRAINING_SAMPLES'
    | 'MAX_BATCH_FLOPS'
    | 'MAX_SEQUENTIAL_STEPS'
  >,
): PlanLimits => ({
  maxParams: c.MAX_MODEL_PARAMS,
  maxLayers: c.MAX_MODEL_LAYERS,
  maxEpochs: c.MAX_EPOCHS,
  maxBatchSize: c.MAX_BATCH_SIZE,
  maxBatchMemoryBytes: c.MAX_BATCH_MEMORY_BYTES,
  maxTrainingSamples: c.MAX_TRAINING_SAMPLES,
  maxBatchFlops: c.MAX_BATCH_FLOPS,
  maxSequentialSteps: c.MAX_SEQUENTIAL_STEPS,
});

export const FIT_DEFAULTS = { epochs: 1, batchSize: 32, validationSplit: 0, shuffle: true };

/**
 * The dry run: parses the model, compile settings and data, builds the model against the
 * data's shapes and checks its output against the labels. Throws 400/422 naming the field;
 * returns the plan and the model's summary. Allocates weights only briefly.
 */
export function planJob(
  request: JobRequest,
  limits: PlanLimits | number = {},
  datasets?: DatasetCatalog,
  parent?: ParentModel,
): TrainingPlan {
  const caps: PlanLimits = typeof limits === 'number' ? { maxParams: limits } : limits;
  const model = planModel(request, parent);
  const compile = parseCompile(request.compile, model.compile);
  const data = describeData(request.data, datasets);
  const transforms: Transforms = {
    featureShape: data.featureShape,
    inputs: request.data.inputs ?? parent?.transforms.inputs ?? {},
    labels: request.data.labels ?? {},
  };
  // Inherited input transforms keep the parent's statistics: the features must mean what they meant to it.
  if (parent && !request.data.inputs && parent.transforms.statistics)
    transforms.statistics = parent.transforms.statistics;
  if (data.featureNames) transforms.features = data.featureNames;
  if (data.classNames) transforms.classNames = data.classNames;
  if (data.image) transforms.image = data.image;
  if (data.featureCategories) transforms.categories = data.featureCategories;
  if (data.text)
    transforms.text =
      parent?.transforms.text && isLearned(parent.transforms.text)
        ? inheritVectorization(parent.transforms.text, data.text)
        : data.text;
  const { callbacks: callbackSpecs, ...fitSpec } = request.fit ?? {};
  const fit = { ...FIT_DEFAULTS, ...fitSpec };
  const evaluate = request.evaluate ?? false;
  const errors = [
    ...transformErrors(data, transforms.inputs, transforms.labels),
    ...dataErrors(data, fit, evaluate),
    ...textModelErrors(model, transforms),
  ];
  if (errors.length > 0) throw new AppError(422, 'data_mismatch', `${errors[0].path} ${errors[0].message}`, errors);
  checkFitLimits(fit, caps);
  checkTrainingSamples(fit.epochs, data.trainCount, caps.maxTrainingSamples);

  const inputShape = modelInputShape(transforms);
  if (parent) checkParentInput(parent, inputShape, request.data.inputs !== undefined);
  const augment = planAugmentation(request.data.augment, inputShape);
  const { model: tfModel, plan } = buildWithEstimates(model, inputShape, caps);
  try {
    const outputError = checkOutput(
      tfModel.outputs[0].shape.slice(1) as number[],
      model,
      data,
      transforms,
      compile.loss,
    );
    if (outputError)
      throw new AppError(422, 'shape_mismatch', `${outputError.path} ${outputError.message}`, [outputError]);
    compileModel(tfModel, compile);
    const logged = [
      ...tfModel.metricsNames,
      ...(fit.validationSplit > 0 ? tfModel.metricsNames.map((m) => `val_${m}`) : []),
    ];
    const callbacks = parseCallbacks(callbackSpecs, logged, fit.validationSplit > 0);
    const estimates = estimateCost(
      plan.estimates,
      inputShape.reduce((a, b) => a * b, 1),
      fit.batchSize,
      compile.optimizer.type,
    );
    overCap(
      '/fit/batchSize',
      'estimated memory per training batch',
      estimates.memoryPerBatchBytes,
      caps.maxBatchMemoryBytes,
      ' bytes',
    );
    checkBatchWork(estimates, plan.estimates, model, caps);
    const summary = summarize(tfModel);
    const warnings = [...model.warnings, ...modelWarnings(model, summary, compile)];
    return {
      model,
      compile,
      data,
      transforms,
      datasets,
      fit,
      callbacks,
      evaluate,
      summary,
      estimates,
      warnings,
      ...(parent ? { parent } : {}),
      ...(augment ? { augment } : {}),
    };
  } finally {
    disposeModel(tfModel);
  }
}

/** The request's model, or for `model.from` the parent's layers with pop, add and freeze applied. */
function planModel(request: JobRequest, parent: ParentModel | undefined): ModelDef {
  if (!isFineTune(request.model)) return parseModel(request.model);
  if (!parent) {
    const message = 'the model to start from was not resolved';
    throw new AppError(422, 'unknown_model', `/model/from ${message}`, [{ path: '/model/from', message }]);
  }
  return combineModel(parent.topology, request.model);
}

/** A fine-tuned model keeps its parent's input layer: the data must give samples of that shape. */
function checkParentInput(parent: ParentModel, inputShape: number[], ownInputs: boolean) {
  const expected = modelInputShape(parent.transforms);
  if (String(expected) === String(inputShape)) return;
  const path = ownInputs ? '/data/inputs' : '/data';
  const message = `gives samples of shape [${inputShape}] but the parent model ${parent.modelId} takes [${expected}]${ownInputs ? '' : ' (its data.inputs transforms are inherited)'}`;
  throw new AppError(422, 'shape_mismatch', `${path} ${message}`, [{ path, message }]);
}

/** One training step is never interrupted, so its work is bounded: FLOPs, and recurrent steps run one by one. */
function checkBatchWork(cost: CostEstimate, layers: LayerEstimate[], model: ModelDef, caps: PlanLimits) {
  const n = (v: number) => v.toLocaleString('en');
  if (caps.maxSequentialSteps !== undefined && cost.sequentialStepsPerBatch > caps.maxSequentialSteps) {
    const longest = layers.reduce((a, e) => ((e.sequentialSteps ?? 0) > (a.sequentialSteps ?? 0) ? e : a));
    const path = model.layers.find((l) => l.name === longest.name)?.path ?? '/model';
    const message = `one training step would run ${n(cost.sequentialStepsPerBatch)} recurrent time steps one after another (${longest.name}: ${n(longest.sequentialSteps ?? 0)}); the limit is ${n(caps.maxSequentialSteps)} (MAX_SEQUENTIAL_STEPS): use shorter sequences`;
    throw new AppError(422, 'over_limit', message, [{ path, message }]);
  }
  if (caps.maxBatchFlops !== undefined && cost.trainFlopsPerBatch > caps.maxBatchFlops) {
    const message = `one training step would take about ${n(cost.trainFlopsPerBatch)} FLOPs (${n(cost.trainFlopsPerSample)} per sample × batch size ${n(cost.batchSize)}); the limit is ${n(caps.maxBatchFlops)} (MAX_BATCH_FLOPS): use a smaller batch or model`;
    throw new AppError(422, 'over_limit', message, [{ path: '/fit/batchSize', message }]);
  }
}

function checkFitLimits(fit: TrainingPlan['fit'], caps: PlanLimits) {
  overCap('/fit/epochs', 'epochs', fit.epochs, caps.maxEpochs);
  overCap('/fit/batchSize', 'batch size', fit.batchSize, caps.maxBatchSize);
}

/** Epochs × rows bounds the work of one job however small its batches: a cheap check before anything is built. */
function checkTrainingSamples(epochs: number, rows: number, cap: number | undefined) {
  if (cap === undefined || epochs * rows <= cap) return;
  const n = (v: number) => v.toLocaleString('en');
  const message = `epochs × training rows is ${n(epochs)} × ${n(rows)} = ${n(epochs * rows)} samples; the limit is ${n(cap)} (MAX_TRAINING_SAMPLES)`;
  throw new AppError(422, 'over_limit', message, [{ path: '/fit/epochs', message }]);
}

function overCap(path: string, what: string, value: number, cap: number | undefined, unit = '') {
  if (cap === undefined || value <= cap) return;
  const message = `${what} is ${value.toLocaleString('en')}${unit}; the limit is ${cap.toLocaleString('en')}${unit}`;
  throw new AppError(422, 'over_limit', message, [{ path, message }]);
}

function dataErrors(data: DataDescription, fit: TrainingPlan['fit'], evaluate: boolean): FieldError[] {
  const errors: FieldError[] = [];
  const held = Math.floor(data.trainCount * fit.validationSplit);
  if (fit.validationSplit > 0 && (held === 0 || held === data.trainCount)) {
    errors.push({
      path: '/fit/validationSplit',
      message: `${fit.validationSplit} of ${data.trainCount} samples leaves no validation or no training samples`,
    });
  }
  if (evaluate && data.testCount === 0) {
    errors.push({
      path: '/evaluate',
      message: 'needs test data: use a dataset with a test split, or give data.xTest and data.yTest',
    });
  }
  return errors;
}

function checkOutput(
  output: number[],
  model: ModelDef,
  data: DataDescription,
  t: Transforms,
  loss: string,
): FieldError | undefined {
  const last = model.graph
    ? model.layers.find((l) => l.name === model.graph!.output)!
    : model.layers[model.layers.length - 1];
  const path = last.type === 'dense' ? `${last.path}/units` : last.path;
  if (loss === 'sparseCategoricalCrossentropy') {
    const classes = data.numClasses;
    if (output.length !== 1 || (classes !== undefined && output[0] < classes) || t.labels.oneHot) {
      return {
        path,
        message: `outputs [${output}] per sample; sparse categorical crossentropy needs one output per class (${classes ?? '?'}) and plain class-index labels`,
      };
    }
    return undefined;
  }
  const target = targetShape(data, t.labels);
  if (String(output) === String(target)) return undefined;
  const hint =
    data.numClasses && !t.labels.oneHot && output.length === 1 && output[0] === data.numClasses
      ? `; the labels are class indices 0..${data.numClasses - 1}: add data.labels.oneHot: ${data.numClasses}, or use loss sparseCategoricalCrossentropy`
      : '';
  return { path, message: `outputs [${output}] per sample but the labels are [${target}]${hint}` };
}
