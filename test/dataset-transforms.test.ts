import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { Redis } from 'ioredis';
import { loadData, describeData } from '../src/data/datasets.ts';
import type { DatasetCatalog } from '../src/data/dataset-meta.ts';
import { shuffledBlocks } from '../src/data/disk-batches.ts';
import { ingestTable } from '../src/data/ingest.ts';
import { holdOut, validationSplit } from '../src/data/split.ts';
import {
  featuresTensor,
  fitStatistics,
  instancesTensor,
  labelsTensor,
  type Transforms,
} from '../src/data/transforms.ts';
import { DatasetStore } from '../src/storage/dataset-store.ts';
import { FileObjectStore } from '../src/storage/file-object-store.ts';
import { ReportAccumulator } from '../src/training/evaluation-report.ts';
import { csv } from './dataset-fixtures.ts';
import { cleanup, testConfig } from './helpers.ts';

const values = async (t: tf.Tensor) => {
  const out = Array.from(await t.data());
  t.dispose();
  return out.map((v) => Math.round(v * 1e4) / 1e4);
};

describe('splits', () => {
  test('holdOut is seeded: same seed, same split; another seed, another split; disjoint and complete', () => {
    const a = holdOut(100, 0.3, 42);
    const b = holdOut(100, 0.3, 42);
    const c = holdOut(100, 0.3, 43);
    assert.deepEqual(a, b);
    assert.notDeepEqual(Array.from(a.held), Array.from(c.held));
    assert.equal(a.held.length, 30);
    assert.deepEqual(
      [...a.held, ...a.kept].sort((x, y) => x - y),
      Array.from({ length: 100 }, (_, i) => i),
    );
  });

  test('stratified: every class gives up its share, even a rare one', () => {
    const strata = Array.from({ length: 100 }, (_, i) => (i < 90 ? 0 : 1));
    for (const seed of [1, 2, 3]) {
      const { held, kept } = holdOut(100, 0.2, seed, strata);
      assert.equal(held.length, 20);
      assert.equal(Array.from(held).filter((i) => strata[i] === 1).length, 2);
      assert.equal(Array.from(kept).filter((i) => strata[i] === 1).length, 8);
    }
    const split = validationSplit(100, 0.1, 'job', strata);
    assert.equal(Array.from(split.validation).filter((i) => strata[i] === 1).length, 1);
    assert.equal(split.train.length, 90);
  });
});

describe('transforms', () => {
  const base = (inputs: Transforms['inputs'], featureShape = [2]): Transforms => ({ featureShape, inputs, labels: {} });
  const x = Float32Array.from([1, 10, 3, 10, 5, 10, 100, 1000]); // 4 samples x 2 features; the last is not a training row

  test('standardize uses the training rows only, and survives a constant feature', async () => {
    const t = fitStatistics(base({ standardize: true }), x, 4, [0, 1, 2]);
    assert.deepEqual(t.statistics!.mean, [3, 10]);
    assert.deepEqual(
      t.statistics!.std!.map((s) => Math.round(s * 1e4) / 1e4),
      [1.633, 0],
    );
    assert.deepEqual(await values(featuresTensor(x.subarray(0, 6), 3, t)), [-1.2247, 0, 0, 0, 1.2247, 0]);
  });

  test('minMax maps the training range to 0..1; scale applies after it; reshape shapes it', async () => {
    const t = fitStatistics(base({ minMax: true, scale: 2, reshape: [2, 1] }), x, 4, [0, 1, 2]);
    assert.deepEqual(t.statistics, { min: [1, 10], max: [5, 10] });
    const tensor = featuresTensor(x.subarray(0, 4), 2, t);
    assert.deepEqual(tensor.shape, [2, 2, 1]);
    assert.deepEqual(await values(tensor), [0, 0, 1, 0]);
  });

  test('without standardize/minMax nothing is computed; scale multiplies', async () => {
    const t = fitStatistics(base({ scale: 0.5 }), x, 4);
    assert.equal(t.statistics, undefined);
    assert.deepEqual(await values(featuresTensor(x.subarray(0, 2), 1, t)), [0.5, 5]);
  });

  test('oneHot labels, and plain labels as stored', async () => {
    const data = { name: 't', featureShape: [2], labelShape: [], numClasses: 3, trainCount: 3, testCount: 0 };
    assert.deepEqual(
      await values(labelsTensor(Float32Array.from([2, 0, 1]), 3, data, { oneHot: 3 })),
      [0, 0, 1, 1, 0, 0, 0, 1, 0],
    );
    assert.deepEqual(await values(labelsTensor(Float32Array.from([2.5, 0]), 2, data, {})), [2.5, 0]);
  });

  test('text feature columns: one-hot at predict from records or rows; an unknown value is named', async () => {
    const t: Transforms = {
      featureShape: [4],
      inputs: {},
      labels: {},
      features: ['size', 'colour'],
      categories: { colour: ['red', 'green', 'blue'] },
    };
    assert.deepEqual(
      await values(instancesTensor([{ colour: 'blue', size: 2 }, [3, 'red']], t)),
      [2, 0, 0, 1, 3, 1, 0, 0],
    );
    assert.throws(
      () => instancesTensor([{ colour: 'mauve', size: 1 }], t),
      /column "colour" is "mauve"; the model knows red, green, blue/,
    );
  });

  test('predict instances: flat rows or records keyed by the feature columns, transformed like training', async () => {
    const t: Transforms = {
      ...base({ standardize: true }),
      features: ['a', 'b'],
      statistics: { mean: [1, 2], std: [2, 4] },
    };
    assert.deepEqual(await values(instancesTensor([[3, 6], { b: 2, a: 1 }], t)), [1, 1, 0, 0]);
    assert.throws(() => instancesTensor([{ a: 1 }], t), /instances\/0/);
  });
});

describe('evaluation report', () => {
  test('classification: confusion matrix and per-class precision, recall, F1 with class names', async () => {
    const report = new ReportAccumulator('categoricalCrossentropy', ['cat', 'dog']);
    await report.add(
      tf.tensor2d([
        [0.9, 0.1],
        [0.2, 0.8],
        [0.6, 0.4],
        [0.3, 0.7],
      ]),
      tf.tensor2d([
        [1, 0],
        [0, 1],
        [0, 1],
        [0, 1],
      ]),
    );
    const r = report.result();
    assert.deepEqual(r.confusionMatrix, [
      [1, 0],
      [1, 2],
    ]);
    assert.deepEqual(r.classes, ['cat', 'dog']);
    assert.equal(r.accuracy, 0.75);
    const [cat, dog] = r.perClass!;
    assert.deepEqual([cat.precision, cat.recall, cat.support], [0.5, 1, 1]);
    assert.deepEqual([dog.precision, Math.round(dog.recall * 1e4) / 1e4, dog.support], [1, 0.6667, 3]);
    assert.equal(Math.round(dog.f1 * 1e4) / 1e4, 0.8);
  });

  test('over 100 classes: per-class figures without the matrix', async () => {
    const report = new ReportAccumulator('sparseCategoricalCrossentropy');
    await report.add(tf.oneHot(tf.tensor1d([0, 5, 100], 'int32'), 101), tf.tensor2d([[0], [5], [7]]));
    const r = report.result();
    assert.equal(r.confusionMatrix, undefined);
    assert.equal(r.perClass!.length, 101);
    assert.equal(Math.round((r.accuracy as number) * 1e4) / 1e4, 0.6667);
  });

  test('binary: one sigmoid output, threshold 0.5', async () => {
    const report = new ReportAccumulator('binaryCrossentropy');
    await report.add(tf.tensor2d([[0.9], [0.2], [0.7]]), tf.tensor2d([[1], [0], [0]]));
    assert.deepEqual(report.result().confusionMatrix, [
      [1, 1],
      [0, 1],
    ]);
  });

  test('regression: MSE, MAE, R² over batches', async () => {
    const report = new ReportAccumulator('meanSquaredError');
    await report.add(tf.tensor2d([[1], [2]]), tf.tensor2d([[1], [3]]));
    await report.add(tf.tensor2d([[3]]), tf.tensor2d([[2]]));
    const r = report.result();
    assert.equal(Math.round((r.mse as number) * 1e4) / 1e4, 0.6667);
    assert.equal(Math.round((r.mae as number) * 1e4) / 1e4, 0.6667);
    assert.equal(r.r2, 0); // SS_res 2 = SS_tot 2
  });
});

describe('uploaded datasets as job data: columns, testSplit, seeds, stratification', () => {
  let redis: Redis;
  let store: DatasetStore;
  let catalog: DatasetCatalog;
  let id: string;
  let config: Awaited<ReturnType<typeof testConfig>>;
  let scratch: string;
  before(async () => {
    config = await testConfig();
    redis = new Redis(config.REDIS_URL);
    store = new DatasetStore(redis, config.REDIS_PREFIX, new FileObjectStore(config.DATA_DIR));
    scratch = await mkdtemp(path.join(tmpdir(), 'tts-ds-'));
    const rows = Array.from({ length: 100 }, (_, i) => [i, i * 2, i < 80 ? 'common' : 'rare']);
    const draft = await store.draft();
    const meta = await draft.commit(
      await ingestTable('csv', Readable.from([csv(['a', 'b', 'kind'], rows)]), draft.dir, {}),
    );
    id = meta.id;
    catalog = (await store.open({ dataset: id })).catalog;
  });
  after(async () => {
    redis.disconnect();
    await cleanup(config);
    await rm(scratch, { recursive: true, force: true });
  });

  test('the job chooses feature and label columns; text labels are label-encoded', async () => {
    const d = describeData({ dataset: id, features: ['b'], label: 'kind' }, catalog);
    assert.deepEqual(
      [d.featureShape, d.labelShape, d.numClasses, d.classNames, d.featureNames],
      [[1], [], 2, ['common', 'rare'], ['b']],
    );
    const data = await loadData({ dataset: id, features: ['b', 'a'] }, false, catalog);
    assert.deepEqual(Array.from(data.train.x.subarray(0, 4)), [0, 0, 2, 1]);
    assert.deepEqual([data.train.y[0], data.train.y[99]], [0, 1]);
    const numericLabel = describeData({ dataset: id, label: 'a', features: ['b'] }, catalog);
    assert.equal(numericLabel.classNames, undefined);
  });

  test("a text feature column is one-hot encoded; a test dataset's codes are mapped to the training classes", async () => {
    const d = describeData({ dataset: id, features: ['a', 'kind'], label: 'b' }, catalog);
    assert.deepEqual([d.featureShape, d.featureCategories], [[3], { kind: ['common', 'rare'] }]);
    const data = await loadData({ dataset: id, features: ['kind', 'a'], label: 'b' }, false, catalog);
    assert.deepEqual(Array.from(data.train.x.subarray(0, 3)), [1, 0, 0]);
    assert.deepEqual(Array.from(data.train.x.subarray(99 * 3, 100 * 3)), [0, 1, 99]);
    // A test upload whose first row is rare: its codes are the other way round.
    const draft = await store.draft();
    const test = await draft.commit(
      await ingestTable(
        'csv',
        Readable.from([
          csv(
            ['a', 'b', 'kind'],
            [
              [7, 14, 'rare'],
              [8, 16, 'common'],
            ],
          ),
        ]),
        draft.dir,
        {},
      ),
    );
    const both = (await store.open({ dataset: id, testDataset: test.id })).catalog;
    const withTest = await loadData({ dataset: id, testDataset: test.id, features: ['kind'], label: 'b' }, true, both);
    assert.deepEqual(Array.from(withTest.test!.x), [0, 1, 1, 0]);
    const onDisk = await loadData(
      { dataset: id, testDataset: test.id, features: ['kind'], label: 'b' },
      true,
      Object.assign(new Map(both), { memoryLimitBytes: 0 }),
    );
    const blocks = [];
    for await (const block of shuffledBlocks(onDisk.disk!.test!, onDisk.disk!.test!.rows, 8)) blocks.push(...block.x);
    assert.deepEqual(blocks, [0, 1, 1, 0]);
  });

  test('testSplit: seeded, disjoint, stratified on request, limits apply', async () => {
    const spec = { dataset: id, testSplit: 0.25 };
    const a = await loadData(spec, true, catalog, 5);
    const b = await loadData(spec, true, catalog, 5);
    const c = await loadData(spec, true, catalog, 6);
    assert.deepEqual([a.trainCount, a.testCount], [75, 25]);
    assert.deepEqual(a.test!.x, b.test!.x);
    assert.notDeepEqual(a.test!.x, c.test!.x);
    const rowsOf = (x: ArrayLike<number>) => Array.from(x).filter((_, i) => i % 2 === 0);
    const all = [...rowsOf(a.train.x), ...rowsOf(a.test!.x)].sort((p, q) => p - q);
    assert.deepEqual(
      all,
      Array.from({ length: 100 }, (_, i) => i),
    );
    for (const seed of [1, 2, 3]) {
      const s = await loadData({ ...spec, stratify: true }, true, catalog, seed);
      assert.equal(Array.from(s.test!.y).filter((v) => v === 1).length, 5, 'a quarter of the 20 rare rows');
      assert.equal(s.stratify, true);
    }
    const limited = await loadData({ ...spec, limit: { train: 10, test: 3 } }, true, catalog);
    assert.deepEqual([limited.train.count, limited.test!.count], [10, 3]);
  });

  test('over the memory limit the splits stay on disk; shuffled passes visit every row once, in mixed batches', async () => {
    const onDisk = Object.assign(new Map(catalog), { memoryLimitBytes: 0 });
    const data = await loadData({ dataset: id, testSplit: 0.2, features: ['a'] }, true, onDisk, 9);
    assert.ok(data.disk, 'streamed, not loaded');
    assert.deepEqual(
      [data.train.x.length, data.trainCount, data.disk.train.rows.length, data.disk.test!.rows.length],
      [0, 80, 80, 20],
    );
    const inMemory = await loadData({ dataset: id, testSplit: 0.2, features: ['a'] }, true, catalog, 9);
    assert.deepEqual(
      Array.from(data.disk.test!.rows),
      Array.from(inMemory.test!.x),
      'the same test rows either way (feature a is the row number)',
    );

    const pass = async (seed?: string) => {
      const batches: number[][] = [];
      for await (const block of shuffledBlocks(data.disk!.train, data.disk!.train.rows, 8, seed))
        batches.push(Array.from(block.x));
      return batches;
    };
    const ordered = await pass();
    assert.deepEqual(ordered.flat(), Array.from(data.disk.train.rows), 'no seed: file order');
    const shuffled = await pass('epoch-1');
    assert.deepEqual(
      [...shuffled.flat()].sort((p, q) => p - q),
      Array.from(data.disk.train.rows),
    );
    assert.notDeepEqual(shuffled.flat(), ordered.flat());
    assert.notDeepEqual(await pass('epoch-2'), shuffled);
    // Rows >= 80 are the rare class, all at the end of the file: a shuffled batch mixes them in.
    assert.ok(shuffled.some((batch) => batch.some((r) => r >= 80) && batch.some((r) => r < 80)));
  });
});
