import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { AppError, type FieldError } from '../errors.ts';
import type { DataSpec } from '../schemas/job-request.ts';
import type { ColumnInfo, DatasetCatalog, DatasetMeta, StoredDataset } from './dataset-meta.ts';
import { featureShapeOf } from './ingest.ts';
import { datasetGone, gatherRows, type ColumnData } from './gather-rows.ts';
import { holdOut } from './split.ts';
import { readTexts } from './text-column.ts';
import { checkText, textShape } from './text-selection.ts';
import type { TextSettings } from './text-vectorizer.ts';
import { sizeOf, type DataDescription, type Encoding, type LoadedData, type RowSet, type Split } from './types.ts';

/** The columns a job learns from, checked against the dataset. */
interface Selection {
  features: ColumnInfo[];
  label: ColumnInfo;
  featureShape: number[];
  labelShape: number[];
  numClasses?: number;
  classNames?: string[];
  /** data.text: the text column, vectorized ahead of the other features. */
  text?: { column: ColumnInfo; settings: TextSettings };
}

const mismatch = (errors: FieldError[]) =>
  new AppError(422, 'data_mismatch', `${errors[0].path} ${errors[0].message}`, errors);

/** Test split seed when fit.seed is not given: fixed, so every job on a dataset is scored on the same rows. */
const DEFAULT_TEST_SEED = 0;

function select(meta: DatasetMeta, spec: DataSpec, where = '/data'): Selection {
  const byName = new Map(meta.columns.map((c) => [c.name, c]));
  const errors: FieldError[] = [];
  const labelName = spec.label ?? meta.label;
  const label = byName.get(labelName);
  if (!label)
    errors.push({
      path: `${where}/label`,
      message: `dataset ${meta.id} has no column ${JSON.stringify(labelName)}; its columns are ${[...byName.keys()].join(', ')}`,
    });
  if (label?.type === 'text')
    errors.push({
      path: `${where}/label`,
      message: `column ${JSON.stringify(labelName)} holds raw text (uploaded with text=); a label needs numbers or classes`,
    });
  const text = spec.text ? checkText(meta, spec, labelName, where, errors) : undefined;
  // With data.text the text alone is the input unless data.features names columns to append.
  const featureNames =
    spec.features ??
    (text ? [] : meta.columns.filter((c) => c.name !== labelName && c.type === 'numeric').map((c) => c.name));
  const features: ColumnInfo[] = [];
  featureNames.forEach((name, i) => {
    const column = byName.get(name);
    const at = `${where}/features/${i}`;
    if (!column) errors.push({ path: at, message: `dataset ${meta.id} has no column ${JSON.stringify(name)}` });
    else if (name === labelName)
      errors.push({ path: at, message: `column ${JSON.stringify(name)} is the label; it cannot also be a feature` });
    else if (column.type === 'text')
      errors.push({
        path: at,
        message: `column ${JSON.stringify(name)} holds raw text: vectorize it with data.text (one text column per job)`,
      });
    else features.push(column);
  });
  if (text?.settings.mode === 'int' && featureNames.length > 0)
    errors.push({
      path: `${where}/features`,
      message:
        'int mode gives token sequences for an embedding layer; other columns can be appended in multiHot, count or tfIdf mode only',
    });
  if (featureNames.length === 0 && !text)
    errors.push({ path: `${where}/features`, message: 'the dataset has no numeric column besides the label' });
  if (errors.length > 0) throw mismatch(errors);
  const numericClasses =
    label!.type === 'numeric' && label!.shape.length === 0 && label!.classes
      ? Number(label!.classes.at(-1)!.name) + 1
      : undefined;
  return {
    features,
    label: label!,
    featureShape: text ? textShape(text.settings, features) : featureShapeOf(features),
    labelShape: label!.shape,
    text,
    numClasses: label!.type === 'string' ? label!.classes!.length : numericClasses,
    classNames: label!.type === 'string' ? label!.classes!.map((c) => c.name) : undefined,
  };
}

function lookup(catalog: DatasetCatalog | undefined, id: string, path: string): StoredDataset {
  const found = catalog?.get(id);
  if (!found)
    throw new AppError(422, 'unknown_dataset', `${path}: no dataset ${JSON.stringify(id)}`, [
      { path, message: `no dataset ${JSON.stringify(id)}: upload it with POST /v1/datasets or name a built-in one` },
    ]);
  return found;
}

/** The test dataset must offer the same feature columns and a label the training classes cover. */
function selectTest(train: Selection, test: DatasetMeta, spec: DataSpec): Selection {
  const selected = select(
    test,
    { ...spec, features: train.features.map((c) => c.name), label: train.label.name },
    '/data/testDataset',
  );
  const errors: FieldError[] = [];
  selected.features.forEach((c, i) => {
    if (String(c.shape) !== String(train.features[i].shape))
      errors.push({
        path: '/data/testDataset',
        message: `column ${c.name} has shape [${c.shape}] but [${train.features[i].shape}] in the training dataset`,
      });
  });
  if (selected.label.type !== train.label.type || String(selected.labelShape) !== String(train.labelShape)) {
    errors.push({
      path: '/data/testDataset',
      message: `label column ${train.label.name} is ${selected.label.type} [${selected.labelShape}] here but ${train.label.type} [${train.labelShape}] in the training dataset`,
    });
  }
  selected.features.forEach((c, i) => {
    const trained = train.features[i];
    if (c.type !== trained.type)
      errors.push({
        path: '/data/testDataset',
        message: `column ${c.name} is ${c.type} here but ${trained.type} in the training dataset`,
      });
    const unknown =
      c.type === 'string' && trained.type === 'string'
        ? c.classes!.filter((k) => !trained.classes!.some((t) => t.name === k.name))
        : [];
    if (unknown.length > 0)
      errors.push({
        path: '/data/testDataset',
        message: `column ${c.name} has values the training data lacks: ${unknown
          .slice(0, 5)
          .map((k) => k.name)
          .join(', ')}`,
      });
  });
  const unseen = selected.classNames?.filter((name) => !train.classNames!.includes(name)) ?? [];
  if (unseen.length > 0)
    errors.push({
      path: '/data/testDataset',
      message: `has classes the training data lacks: ${unseen.slice(0, 5).join(', ')}`,
    });
  if (errors.length > 0) throw mismatch(errors);
  return selected;
}

function counts(meta: DatasetMeta, spec: DataSpec, test?: DatasetMeta) {
  const held = spec.testSplit ? Math.floor(meta.rows * spec.testSplit) : 0;
  const train = meta.rows - held;
  const testRows = test ? test.rows : held;
  return {
    train: Math.min(spec.limit?.train ?? Infinity, train),
    test: Math.min(spec.limit?.test ?? Infinity, testRows),
  };
}

/** What the dry run needs to know of a job's uploaded data, from metadata only. */
export function describeUploaded(spec: DataSpec, catalog: DatasetCatalog | undefined): DataDescription {
  const { meta } = lookup(catalog, spec.dataset!, '/data/dataset');
  const selection = select(meta, spec);
  let testMeta: DatasetMeta | undefined;
  if (spec.testDataset !== undefined) {
    if (spec.testSplit !== undefined)
      throw mismatch([{ path: '/data/testSplit', message: 'cannot be combined with data.testDataset' }]);
    testMeta = lookup(catalog, spec.testDataset, '/data/testDataset').meta;
    selectTest(selection, testMeta, spec);
  }
  if (spec.stratify && selection.numClasses === undefined) {
    throw mismatch([
      { path: '/data/stratify', message: `needs class labels, but column ${selection.label.name} holds other numbers` },
    ]);
  }
  const { train, test } = counts(meta, spec, testMeta);
  if (spec.testSplit !== undefined && (test === 0 || train === 0)) {
    throw mismatch([
      { path: '/data/testSplit', message: `${spec.testSplit} of ${meta.rows} rows leaves no test or no training rows` },
    ]);
  }
  if (selection.text) checkTextMemory(selection, train + test, catalog?.memoryLimitBytes);
  return {
    name: meta.name,
    description: `uploaded ${meta.format} dataset ${meta.id}`,
    featureShape: selection.featureShape,
    labelShape: selection.labelShape,
    numClasses: selection.numClasses,
    classNames: selection.classNames,
    featureNames: meta.format === 'idx' || meta.format === 'images' ? undefined : selection.features.map((c) => c.name),
    // The image spec holds while the job learns from the image column alone (the default features).
    image:
      meta.image && selection.features.length === 1 && selection.features[0].name === 'image' ? meta.image : undefined,
    featureCategories: categoriesOf(selection.features),
    trainCount: train,
    testCount: test,
    ...(selection.text ? { text: selection.text.settings } : {}),
  };
}

/**
 * Vectorized text is held in memory whole (N x width float32, the test split too): over
 * DATASET_MEMORY_LIMIT_BYTES the job is refused at submit rather than streamed from disk.
 */
function checkTextMemory(selection: Selection, rows: number, limit = Infinity) {
  const bytes = rows * (sizeOf(selection.featureShape) + Math.max(sizeOf(selection.labelShape), 1)) * 4;
  if (bytes <= limit) return;
  const field = selection.text!.settings.mode === 'int' ? 'outputSequenceLength' : 'maxTokens';
  throw mismatch([
    {
      path: `/data/text/${field}`,
      message: `${rows} documents of ${sizeOf(selection.featureShape)} values take ${bytes} bytes vectorized, over the ${limit} bytes a job may hold in memory (DATASET_MEMORY_LIMIT_BYTES): lower ${field} or use data.limit`,
    },
  ]);
}

function categoriesOf(features: ColumnInfo[]): Record<string, string[]> | undefined {
  const text = features.filter((c) => c.type === 'string');
  return text.length > 0 ? Object.fromEntries(text.map((c) => [c.name, c.classes!.map((k) => k.name)])) : undefined;
}

/** Encodings of `own`'s feature columns (a test dataset's, or the training one's) by the training columns. */
export function encodingsOf(train: ColumnInfo[], own: ColumnInfo[] = train): Encoding[] {
  return train.map((c, i) => {
    if (c.type !== 'string') return {};
    const names = c.classes!.map((k) => k.name);
    const codeMap = own === train ? undefined : Float32Array.from(own[i].classes!, (k) => names.indexOf(k.name));
    return { oneHot: names.length, codeMap };
  });
}

async function readColumn(dir: string, column: ColumnInfo): Promise<ColumnData> {
  const buffer = await readFile(path.join(dir, column.file)).catch(datasetGone);
  const bytes = buffer.buffer.slice(buffer.byteOffset, buffer.byteOffset + buffer.byteLength);
  return column.dtype === 'uint8' ? new Uint8Array(bytes) : new Float32Array(bytes);
}

async function loadSplit(
  stored: StoredDataset,
  selection: Selection,
  rows: ArrayLike<number>,
  codeMap?: Float32Array,
  encodings = encodingsOf(selection.features),
): Promise<Split> {
  const features = await Promise.all(
    selection.features.map(async (c, i) => ({
      data: await readColumn(stored.dir, c),
      size: sizeOf(c.shape),
      ...encodings[i],
    })),
  );
  const label = { data: await readColumn(stored.dir, selection.label), size: sizeOf(selection.label.shape) };
  const x = gatherRows(features, rows);
  let y = gatherRows([label], rows);
  if (codeMap) y = Float32Array.from(y, (code) => codeMap[code]);
  // Text is vectorized once the vocabulary is learned (training.ts): x holds the other features.
  const texts = selection.text ? await readTexts(stored.dir, selection.text.column, rows) : undefined;
  return { x, y, count: rows.length, ...(texts ? { texts } : {}) };
}

const range = (n: number) => Int32Array.from({ length: n }, (_, i) => i);
const sorted = (rows: Int32Array) => Int32Array.from(rows).sort();

/**
 * Loads a job's uploaded data: the selected columns of the rows of each split. A test split
 * (`testSplit`) is a seeded, optionally stratified, shuffle; rows keep file order within a split.
 */
export async function loadUploaded(
  spec: DataSpec,
  catalog: DatasetCatalog | undefined,
  withTest: boolean,
  seed?: number,
): Promise<LoadedData> {
  const description = describeUploaded(spec, catalog);
  const stored = lookup(catalog, spec.dataset!, '/data/dataset');
  const selection = select(stored.meta, spec);
  const memoryLimit = catalog?.memoryLimitBytes ?? Infinity;
  const bytesNeeded =
    description.trainCount * (sizeOf(selection.featureShape) + Math.max(sizeOf(selection.labelShape), 1)) * 4;
  let trainRows: Int32Array = range(stored.meta.rows);
  let testRows: Int32Array | undefined;
  if (spec.testSplit !== undefined) {
    const strata = spec.stratify
      ? (await loadSplit(stored, { ...selection, features: [], text: undefined }, range(stored.meta.rows))).y
      : undefined;
    const { held, kept } = holdOut(stored.meta.rows, spec.testSplit, seed ?? DEFAULT_TEST_SEED, strata);
    trainRows = sorted(kept);
    testRows = sorted(held);
  }
  if (bytesNeeded > memoryLimit)
    return onDisk(spec, catalog, stored, selection, description, trainRows, testRows, withTest);
  const train = await loadSplit(stored, selection, trainRows.subarray(0, description.trainCount));
  let test: Split | undefined;
  if (withTest && spec.testDataset !== undefined) {
    const testStored = lookup(catalog, spec.testDataset, '/data/testDataset');
    const testSelection = selectTest(selection, testStored.meta, spec);
    const codeMap = testSelection.classNames
      ? Float32Array.from(testSelection.classNames, (name) => selection.classNames!.indexOf(name))
      : undefined;
    test = await loadSplit(
      testStored,
      testSelection,
      range(description.testCount),
      codeMap,
      encodingsOf(selection.features, testSelection.features),
    );
  } else if (withTest && testRows) {
    test = await loadSplit(stored, selection, testRows.subarray(0, description.testCount));
  }
  return { ...description, trainCount: train.count, testCount: test?.count ?? 0, train, test, stratify: spec.stratify };
}

/** The same splits as row sets to stream from disk, for data over the in-memory limit. */
function onDisk(
  spec: DataSpec,
  catalog: DatasetCatalog | undefined,
  stored: StoredDataset,
  selection: Selection,
  description: DataDescription,
  trainRows: Int32Array,
  testRows: Int32Array | undefined,
  withTest: boolean,
): LoadedData {
  const rowSet = (where: StoredDataset, s: Selection, rows: Int32Array, codeMap?: Float32Array): RowSet => ({
    dir: where.dir,
    features: s.features,
    label: s.label,
    rows,
    codeMap,
    encodings: encodingsOf(selection.features, s.features),
  });
  let test: RowSet | undefined;
  if (withTest && spec.testDataset !== undefined) {
    const testStored = lookup(catalog, spec.testDataset, '/data/testDataset');
    const testSelection = selectTest(selection, testStored.meta, spec);
    const codeMap = testSelection.classNames
      ? Float32Array.from(testSelection.classNames, (name) => selection.classNames!.indexOf(name))
      : undefined;
    test = rowSet(testStored, testSelection, range(description.testCount), codeMap);
  } else if (withTest && testRows) {
    test = rowSet(stored, selection, testRows.subarray(0, description.testCount));
  }
  const empty = { x: new Float32Array(0), y: new Float32Array(0) };
  return {
    ...description,
    testCount: test?.rows.length ?? 0,
    train: { ...empty, count: description.trainCount },
    disk: { train: rowSet(stored, selection, trainRows.subarray(0, description.trainCount)), test },
    stratify: spec.stratify,
  };
}
