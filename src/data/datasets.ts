import { AppError, unprocessable, type FieldError } from '../errors.ts';
import type { DataSpec } from '../schemas/job-request.ts';
import { own } from '../json-guard.ts';
import { packInline } from './inline.ts';
import { loadMnist, MNIST_DESCRIPTION } from './mnist.ts';
import type { DatasetCatalog } from './dataset-meta.ts';
import type { DataDescription, LoadedData } from './types.ts';
import { describeUploaded, loadUploaded } from './uploaded.ts';

/** Built-in datasets by name: what they look like, and how to load them. */
const BUILT_IN: Record<
  string,
  { description: DataDescription; load: (spec: DataSpec, withTest: boolean) => Promise<LoadedData> }
> = {
  mnist: { description: MNIST_DESCRIPTION, load: (spec, withTest) => loadMnist(spec.limit, withTest) },
};

export const builtInDatasets = () => Object.values(BUILT_IN).map((b) => b.description);

/**
 * Shapes and counts of the data a job names, for the dry run: cheap, loads nothing big.
 * Inline arrays are checked here, so a ragged array is refused before anything is queued.
 */
export function describeData(spec: DataSpec, catalog?: DatasetCatalog): DataDescription {
  checkSource(spec, catalog);
  if (catalog?.has(spec.dataset ?? '')) return describeUploaded(spec, catalog);
  if (spec.dataset !== undefined) {
    const { description } = own(BUILT_IN, spec.dataset)!;
    const trainCount = Math.min(spec.limit?.train ?? Infinity, description.trainCount);
    const testCount = Math.min(spec.limit?.test ?? Infinity, description.testCount);
    return { ...description, trainCount, testCount };
  }
  return inlineData(spec);
}

/** The data itself, in the worker. */
export async function loadData(
  spec: DataSpec,
  withTest: boolean,
  catalog?: DatasetCatalog,
  seed?: number,
): Promise<LoadedData> {
  checkSource(spec, catalog);
  if (catalog?.has(spec.dataset ?? '')) return loadUploaded(spec, catalog, withTest, seed);
  const data = spec.dataset !== undefined ? await own(BUILT_IN, spec.dataset)!.load(spec, withTest) : inlineData(spec);
  return { ...data, stratify: spec.stratify };
}

/** Options that only make sense for uploaded (tabular) datasets. */
const UPLOADED_ONLY = ['features', 'label', 'testDataset', 'testSplit', 'text'] as const;

function checkSource(spec: DataSpec, catalog?: DatasetCatalog) {
  const uploaded = catalog?.has(spec.dataset ?? '') ?? false;
  for (const option of UPLOADED_ONLY) {
    if (
      !uploaded &&
      spec[option] !== undefined &&
      (spec.dataset === undefined || Object.hasOwn(BUILT_IN, spec.dataset))
    ) {
      throw unprocessable(`data.${option} needs an uploaded dataset in data.dataset`, [
        { path: `/data/${option}`, message: 'applies to uploaded datasets only' },
      ]);
    }
  }
  if (uploaded) {
    if (spec.x !== undefined || spec.y !== undefined) {
      throw unprocessable('give either data.dataset or inline data.x/data.y, not both', [
        { path: '/data/dataset', message: 'cannot be combined with data.x/data.y' },
      ]);
    }
    return;
  }
  const inline = spec.x !== undefined || spec.y !== undefined;
  if (spec.dataset !== undefined && inline) {
    throw unprocessable('give either data.dataset or inline data.x/data.y, not both', [
      { path: '/data/dataset', message: 'cannot be combined with data.x/data.y' },
    ]);
  }
  if (spec.dataset !== undefined && !Object.hasOwn(BUILT_IN, spec.dataset)) {
    const message = `unknown dataset ${JSON.stringify(spec.dataset)}: neither a built-in (${Object.keys(BUILT_IN).join(', ')}) nor an uploaded dataset id (GET /v1/datasets lists them)`;
    throw new AppError(422, 'unknown_dataset', message, [{ path: '/data/dataset', message }]);
  }
  if (spec.dataset === undefined && (spec.x === undefined || spec.y === undefined)) {
    throw unprocessable('the job has no training data', [
      { path: spec.x === undefined ? '/data/x' : '/data/y', message: 'give data.dataset, or both data.x and data.y' },
    ]);
  }
  if ((spec.xTest === undefined) !== (spec.yTest === undefined)) {
    const missing = spec.xTest === undefined ? '/data/xTest' : '/data/yTest';
    throw unprocessable('inline test data needs both xTest and yTest', [
      { path: missing, message: 'is required with its partner' },
    ]);
  }
}

function inlineData(spec: DataSpec): LoadedData {
  const x = packInline(spec.x!, '/data/x');
  const y = packInline(spec.y!, '/data/y');
  const errors: FieldError[] = [];
  if (x.count !== y.count)
    errors.push({ path: '/data/y', message: `has ${y.count} labels for ${x.count} samples in data.x` });
  let test: LoadedData['test'];
  if (spec.xTest && spec.yTest) {
    const xt = packInline(spec.xTest, '/data/xTest');
    const yt = packInline(spec.yTest, '/data/yTest');
    if (xt.count !== yt.count)
      errors.push({ path: '/data/yTest', message: `has ${yt.count} labels for ${xt.count} samples in data.xTest` });
    if (String(xt.shape) !== String(x.shape))
      errors.push({ path: '/data/xTest/0', message: `has shape [${xt.shape}] but data.x samples have [${x.shape}]` });
    if (String(yt.shape) !== String(y.shape))
      errors.push({ path: '/data/yTest/0', message: `has shape [${yt.shape}] but data.y labels have [${y.shape}]` });
    test = { x: xt.values, y: yt.values, count: xt.count };
  }
  if (x.shape.includes(0)) errors.push({ path: '/data/x/0', message: 'a sample has no values' });
  if (errors.length > 0)
    throw unprocessable(`inline data is inconsistent: ${errors[0].path} ${errors[0].message}`, errors);
  const classLabels = y.shape.length === 0 && y.integral && y.values.every((v) => v >= 0);
  return {
    name: 'inline',
    featureShape: x.shape,
    labelShape: y.shape,
    numClasses: classLabels ? y.values.reduce((m, v) => Math.max(m, v), 0) + 1 : undefined,
    trainCount: x.count,
    testCount: test?.count ?? 0,
    train: { x: x.values, y: y.values, count: x.count },
    test,
  };
}
