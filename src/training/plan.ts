import { AppError, type FieldError } from '../errors.ts';
import { describeData } from '../data/datasets.ts';
import { modelInputShape, targetShape, transformErrors, type Transforms } from '../data/transforms.ts';
import type { DataDescription } from '../data/types.ts';
import type { FitSpec, JobRequest } from '../schemas/job-request.ts';
import { buildModel, summarize, type ModelSummary } from './build-model.ts';
import { compileModel, parseCompile, type CompileSettings } from './compile.ts';
import { parseModel, type LayerDef } from './model-spec.ts';

/** Everything a worker needs to train a job, checked; the API makes it at submit (the dry run). */
export interface TrainingPlan {
  layers: LayerDef[];
  compile: CompileSettings;
  data: DataDescription;
  transforms: Transforms;
  fit: Required<Omit<FitSpec, 'seed'>> & { seed?: number };
  evaluate: boolean;
  summary: ModelSummary;
}

export const FIT_DEFAULTS = { epochs: 1, batchSize: 32, validationSplit: 0, shuffle: true };

/**
 * The dry run: parses the model, compile settings and data, builds the model against the
 * data's shapes and checks its output against the labels. Throws 400/422 naming the field;
 * returns the plan and the model's summary. Allocates weights only briefly.
 */
export function planJob(request: JobRequest, maxParams = Infinity): TrainingPlan {
  const layers = parseModel(request.model);
  const compile = parseCompile(request.compile);
  const data = describeData(request.data);
  const transforms: Transforms = { featureShape: data.featureShape, inputs: request.data.inputs ?? {}, labels: request.data.labels ?? {} };
  const fit = { ...FIT_DEFAULTS, ...request.fit };
  const evaluate = request.evaluate ?? false;
  const errors = [...transformErrors(data, transforms.inputs, transforms.labels), ...dataErrors(data, fit, evaluate)];
  if (errors.length > 0) throw new AppError(422, 'data_mismatch', `${errors[0].path} ${errors[0].message}`, errors);

  const model = buildModel(layers, modelInputShape(transforms), maxParams);
  try {
    const outputError = checkOutput(model.outputs[0].shape.slice(1) as number[], layers, data, transforms, compile.loss);
    if (outputError) throw new AppError(422, 'shape_mismatch', `${outputError.path} ${outputError.message}`, [outputError]);
    compileModel(model, compile);
    return { layers, compile, data, transforms, fit, evaluate, summary: summarize(model) };
  } finally {
    model.dispose();
  }
}

function dataErrors(data: DataDescription, fit: TrainingPlan['fit'], evaluate: boolean): FieldError[] {
  const errors: FieldError[] = [];
  const held = Math.floor(data.trainCount * fit.validationSplit);
  if (fit.validationSplit > 0 && (held === 0 || held === data.trainCount)) {
    errors.push({ path: '/fit/validationSplit', message: `${fit.validationSplit} of ${data.trainCount} samples leaves no validation or no training samples` });
  }
  if (evaluate && data.testCount === 0) {
    errors.push({ path: '/evaluate', message: 'needs test data: use a dataset with a test split, or give data.xTest and data.yTest' });
  }
  return errors;
}

function checkOutput(output: number[], layers: LayerDef[], data: DataDescription, t: Transforms, loss: string): FieldError | undefined {
  const last = layers[layers.length - 1];
  const path = last.type === 'dense' ? `${last.path}/units` : last.path;
  if (loss === 'sparseCategoricalCrossentropy') {
    const classes = data.numClasses;
    if (output.length !== 1 || (classes !== undefined && output[0] < classes) || t.labels.oneHot) {
      return { path, message: `outputs [${output}] per sample; sparse categorical crossentropy needs one output per class (${classes ?? '?'}) and plain class-index labels` };
    }
    return undefined;
  }
  const target = targetShape(data, t.labels);
  if (String(output) === String(target)) return undefined;
  const hint = data.numClasses && !t.labels.oneHot && output.length === 1 && output[0] === data.numClasses
    ? `; the labels are class indices 0..${data.numClasses - 1}: add data.labels.oneHot: ${data.numClasses}, or use loss sparseCategoricalCrossentropy`
    : '';
  return { path, message: `outputs [${output}] per sample but the labels are [${target}]${hint}` };
}
