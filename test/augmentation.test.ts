import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import seedrandom from 'seedrandom';
import { initBackend } from '../src/compute/backend.ts';
import { AppError } from '../src/errors.ts';
import {
  augmentImages,
  Augmenter,
  planAugmentation,
  type Augmentation,
  type ImageDraw,
} from '../src/training/augmentation.ts';
import { csv, upload } from './dataset-fixtures.ts';
import {
  getJson,
  postJson,
  smallMnistJob,
  startService,
  testBackend,
  testConfig,
  waitForJob,
  type TestService,
} from './helpers.ts';

const still: ImageDraw = { flipHorizontal: false, flipVertical: false, angle: 0, zoom: 1, dx: 0, dy: 0 };
const settings = (over: Partial<Augmentation> = {}): Augmentation => ({
  flipHorizontal: false,
  flipVertical: false,
  rotation: 0,
  zoom: 0,
  translation: 0,
  fillMode: 'reflect',
  fillValue: 0,
  ...over,
});
/** A 3×4 one-channel image 1..12, row by row. */
const image = () =>
  tf.tensor4d(
    Array.from({ length: 12 }, (_, i) => i + 1),
    [1, 3, 4, 1],
  );
const rows = (t: tf.Tensor) => (t.arraySync() as number[][][][])[0].map((row) => row.map((p) => p[0]));
const near = (actual: number[][], expected: number[][]) => {
  for (const [r, row] of actual.entries())
    for (const [c, v] of row.entries()) assert.ok(Math.abs(v - expected[r][c]) < 1e-4, `${actual} vs ${expected}`);
};

describe('augmentation ops (the real backend)', () => {
  before(async () => {
    await initBackend(...testBackend());
  });

  test('a horizontal flip is the mirror image; a vertical flip the upside-down one', () => {
    const img = image();
    assert.deepEqual(rows(augmentImages(img, [{ ...still, flipHorizontal: true }], settings())), [
      [4, 3, 2, 1],
      [8, 7, 6, 5],
      [12, 11, 10, 9],
    ]);
    assert.deepEqual(rows(augmentImages(img, [{ ...still, flipVertical: true }], settings())), [
      [9, 10, 11, 12],
      [5, 6, 7, 8],
      [1, 2, 3, 4],
    ]);
  });

  test('no rotation, zoom or shift is the identity in every fill mode; all-zero factors plan no augmentation', () => {
    const img = image();
    for (const fillMode of ['reflect', 'constant', 'nearest', 'wrap'] as const)
      assert.deepEqual(rows(augmentImages(img, [still], settings({ fillMode }))), rows(img), fillMode);
    assert.equal(planAugmentation({ rotation: 0, zoom: 0, translation: 0 }, [3, 4, 1]), undefined);
  });

  test("a quarter turn is counter-clockwise (Keras's sign), about the centre", () => {
    const square = tf.tensor4d([1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 3, 3, 1]);
    near(rows(augmentImages(square, [{ ...still, angle: Math.PI / 2 }], settings())), [
      [3, 6, 9],
      [2, 5, 8],
      [1, 4, 7],
    ]);
  });

  test('fill modes: a shift of two columns brings in reflect, constant, nearest and wrap pixels as Keras does', () => {
    const img = image();
    const shifted = (fillMode: Augmentation['fillMode']) =>
      rows(augmentImages(img, [{ ...still, dx: 2 }], settings({ fillMode, fillValue: -1 })))[0];
    // Row one is 1 2 3 4; reflect is (d c b a | a b c d), so the two new columns are 2 1.
    assert.deepEqual(shifted('reflect'), [2, 1, 1, 2]);
    assert.deepEqual(shifted('constant'), [-1, -1, 1, 2]);
    assert.deepEqual(shifted('nearest'), [1, 1, 1, 2]);
    assert.deepEqual(shifted('wrap'), [3, 4, 1, 2]);
    // And from the other side and from above (where the stock wasm reflect reads the far edge).
    const up = rows(augmentImages(img, [{ ...still, dx: -1, dy: 1 }], settings()));
    assert.deepEqual(up, [
      [2, 3, 4, 4],
      [2, 3, 4, 4],
      [6, 7, 8, 8],
    ]);
  });

  test('the augmenter flips each image or not by its seed, keeps shapes, and its draws repeat by seed and epoch', () => {
    const a = planAugmentation({ flip: 'horizontal' }, [3, 4])!;
    const batch = tf.tile(
      tf.tensor3d(
        Array.from({ length: 12 }, (_, i) => i + 1),
        [1, 3, 4],
      ),
      [16, 1, 1],
    );
    const original = (batch.arraySync() as number[][][])[0];
    const mirrored = original.map((row) => [...row].reverse());
    const out = new Augmenter(a, 7).apply(batch);
    assert.deepEqual(out.shape, [16, 3, 4]);
    const images = out.arraySync() as number[][][];
    const flipped = images.map((img) => {
      if (JSON.stringify(img) === JSON.stringify(mirrored)) return true;
      assert.deepEqual(img, original);
      return false;
    });
    assert.ok(flipped.includes(true) && flipped.includes(false), String(flipped));
    // Same seed, same epoch: the same flips. Another epoch or the next batch: others.
    assert.deepEqual(new Augmenter(a, 7).apply(batch).arraySync(), images);
    const again = new Augmenter(a, 7);
    again.startEpoch(1);
    assert.notDeepEqual(again.apply(batch).arraySync(), images);
    const twice = new Augmenter(a, 7);
    twice.apply(batch);
    assert.notDeepEqual(twice.apply(batch).arraySync(), images);
  });

  test('all four together: outputs stay within the input range, repeat by seed, and hold no tensors', () => {
    const random = seedrandom('pixels');
    const batch = tf.tensor4d(
      Float32Array.from({ length: 8 * 10 * 12 * 3 }, () => random()),
      [8, 10, 12, 3],
    );
    const a = planAugmentation(
      { flip: 'horizontal_and_vertical', rotation: 0.2, zoom: 0.3, translation: 0.2 },
      [10, 12, 3],
    )!;
    const before = tf.memory().numTensors;
    const out = new Augmenter(a, 'run').apply(batch);
    assert.equal(tf.memory().numTensors, before + 1, 'only the output is left');
    const values = out.dataSync();
    const [min, max] = [Math.min(...values), Math.max(...values)];
    assert.ok(min >= 0 && max <= 1, `${min}..${max}`);
    assert.notDeepEqual(Array.from(values), Array.from(batch.dataSync()));
    assert.deepEqual(Array.from(new Augmenter(a, 'run').apply(batch).dataSync()), Array.from(values));
    assert.notDeepEqual(Array.from(new Augmenter(a, 'other').apply(batch).dataSync()), Array.from(values));
  });

  test('the plan refuses non-image samples and out-of-range factors with a 400 naming the field', () => {
    const refused = (spec: Parameters<typeof planAugmentation>[0], shape: number[], path: string) =>
      assert.throws(
        () => planAugmentation(spec, shape),
        (err: unknown) => err instanceof AppError && err.status === 400 && err.errors.some((e) => e.path === path),
      );
    refused({ flip: 'horizontal' }, [784], '/data/augment');
    refused({ flip: 'horizontal' }, [2, 3, 4, 5], '/data/augment');
    refused({ rotation: 1.5 }, [28, 28, 1], '/data/augment/rotation');
    refused({ zoom: 1 }, [28, 28, 1], '/data/augment/zoom');
    refused({ translation: -0.1 }, [28, 28, 1], '/data/augment/translation');
  });
});

/** MNIST as 28×28×1 images, a dense layer without biases: with a vanishing learning rate its weights never move. */
const frozenMnistJob = (augment?: Record<string, unknown>) =>
  smallMnistJob({
    model: {
      layers: [
        { type: 'flatten', inputShape: [28, 28, 1] },
        { type: 'dense', units: 10, activation: 'softmax', useBias: false },
      ],
    },
    compile: {
      optimizer: { type: 'sgd', learningRate: 1e-30 },
      loss: 'categoricalCrossentropy',
      metrics: ['accuracy'],
    },
    data: {
      dataset: 'mnist',
      limit: { train: 256, test: 64 },
      inputs: { reshape: [28, 28, 1], scale: 1 / 255 },
      labels: { oneHot: 10 },
      ...(augment ? { augment } : {}),
    },
    fit: { epochs: 2, batchSize: 32, validationSplit: 0.25, shuffle: true, seed: 11 },
    evaluate: true,
  });

const close = (a: number, b: number) => Math.abs(a - b) <= 1e-5 * Math.max(1, Math.abs(a));

describe('augmented training on the real queue', () => {
  let service: TestService;
  before(async () => {
    // 0: uploads train from disk; the built-in MNIST stays in memory.
    service = await startService({ config: await testConfig({ DATASET_MEMORY_LIMIT_BYTES: '0' }) });
  });
  after(() => service.close());

  const run = async (body: unknown) => {
    const submitted = await postJson(`${service.url}/v1/jobs`, body);
    assert.equal(submitted.status, 202, JSON.stringify(submitted.body));
    const job = await waitForJob(service.url, submitted.body.id);
    assert.equal(job.status, 'completed', JSON.stringify(job.error));
    return job;
  };

  /**
   * The weights never move, so a job with augmentation and one without score the same on
   * anything unaugmented: equal val_* and evaluation show those were computed on plain data,
   * a different training loss that the training batches were augmented.
   */
  const assertOnlyTrainingAugmented = (augmented: any, plain: any) => {
    assert.ok(plain.history.val_loss?.length > 0, JSON.stringify(plain.history));
    for (const [name, values] of Object.entries(plain.history as Record<string, number[]>)) {
      if (!name.startsWith('val_')) continue;
      for (const [i, v] of values.entries())
        assert.ok(close(augmented.history[name][i], v), `${name}: ${augmented.history[name]} vs ${values}`);
    }
    assert.ok(
      close(augmented.evaluation.loss, plain.evaluation.loss),
      JSON.stringify([augmented.evaluation, plain.evaluation]),
    );
    const [a, p] = [augmented.history.loss[0], plain.history.loss[0]];
    assert.ok(Math.abs(a - p) > 1e-3, `training loss ${a} with augmentation vs ${p} without`);
  };

  test('in memory: augmented jobs complete, repeat exactly by seed, and validation and evaluation see plain data', async () => {
    const augment = { flip: 'horizontal', rotation: 0.1, zoom: 0.1, translation: 0.1 };
    const augmented = await run(frozenMnistJob(augment));
    const repeated = await run(frozenMnistJob(augment));
    const plain = await run(frozenMnistJob());
    assert.equal(augmented.history.loss.length, 2);
    assert.deepEqual(repeated.history, augmented.history);
    assert.notEqual(augmented.history.loss[0], augmented.history.loss[1], 'each epoch draws new augmentations');
    assertOnlyTrainingAugmented(augmented, plain);
    const model = (await getJson(`${service.url}/v1/models/${augmented.modelId}`)).body;
    assert.equal(model.transforms.augment, undefined, 'predict never augments');
  });

  test('from disk: the training batches are augmented, validation and test batches are not', async () => {
    // 4×4 images: a bright left half is class 1, a bright right half class 0.
    const random = seedrandom('halves');
    const header = [...Array.from({ length: 16 }, (_, i) => `p${i}`), 'side'];
    const rowsOut = Array.from({ length: 120 }, (_, n) => {
      const left = n % 2;
      const pixels = Array.from({ length: 16 }, (_, i) => (i % 4 < 2 === !!left ? 0.8 : 0.1) + random() * 0.1);
      return [...pixels.map((p) => p.toFixed(3)), left ? 'left' : 'right'];
    });
    const { body: dataset } = await upload(service.url, csv(header, rowsOut), 'text/csv');
    const job = (augment?: Record<string, unknown>) => ({
      model: {
        layers: [
          { type: 'flatten', inputShape: [4, 4, 1] },
          { type: 'dense', units: 2, activation: 'softmax', useBias: false },
        ],
      },
      compile: { optimizer: { type: 'sgd', learningRate: 1e-30 }, loss: 'sparseCategoricalCrossentropy' },
      data: {
        dataset: dataset.id,
        label: 'side',
        testSplit: 0.25,
        inputs: { reshape: [4, 4, 1] },
        ...(augment ? { augment } : {}),
      },
      fit: { epochs: 2, batchSize: 16, validationSplit: 0.2, seed: 4 },
      evaluate: true,
    });
    const augmented = await run(job({ flip: 'horizontal' }));
    const plain = await run(job());
    assertOnlyTrainingAugmented(augmented, plain);
    // With a learning rate, augmentation that keeps the classes (an upside-down left half is a left half) still learns.
    const learning = await run({
      ...job({ flip: 'vertical', rotation: 0.01, fillMode: 'nearest' }),
      compile: {
        optimizer: { type: 'adam', learningRate: 0.1 },
        loss: 'sparseCategoricalCrossentropy',
        metrics: ['accuracy'],
      },
      fit: { epochs: 10, batchSize: 16, seed: 4 },
    });
    assert.ok(learning.evaluation.accuracy > 0.9, JSON.stringify(learning.evaluation));
  });

  test('bad augment specs are 400s naming the field, and nothing is queued', async () => {
    const queued = async () =>
      Object.values(await service.app.services.queue().getJobCounts()).reduce((a, b) => a + b, 0);
    const listed = async () => (await getJson(`${service.url}/v1/jobs`)).body.items.length;
    const [queuedBefore, listedBefore] = [await queued(), await listed()];
    const cases: [Record<string, unknown>, Record<string, unknown> | undefined, string][] = [
      [{ rotation: 1.5 }, undefined, '/data/augment/rotation'],
      [{ rotation: -0.1 }, undefined, '/data/augment/rotation'],
      [{ zoom: 1 }, undefined, '/data/augment/zoom'],
      [{ translation: -1 }, undefined, '/data/augment/translation'],
      [{ flip: 'diagonal' }, undefined, '/data/augment/flip'],
      [{ fillMode: 'mirror' }, undefined, '/data/augment/fillMode'],
      [{ shear: 0.1 }, undefined, '/data/augment/shear'],
      // Flat samples (MNIST's 784 values without a reshape to an image) cannot be augmented.
      [{ flip: 'horizontal' }, { reshape: [784], scale: 1 / 255 }, '/data/augment'],
    ];
    for (const [augment, inputs, path] of cases) {
      const body = frozenMnistJob(augment);
      if (inputs) Object.assign(body, { data: { ...body.data, inputs }, model: smallMnistJob().model });
      const response = await postJson(`${service.url}/v1/jobs`, body);
      assert.equal(response.status, 400, `${JSON.stringify(augment)}: ${JSON.stringify(response.body)}`);
      assert.ok(
        response.body.errors.some((e: { path: string }) => e.path === path),
        `${path}: ${JSON.stringify(response.body.errors)}`,
      );
    }
    const flip = await postJson(`${service.url}/v1/jobs`, frozenMnistJob({ flip: 'diagonal' }));
    assert.deepEqual(flip.body.errors, [
      {
        path: '/data/augment/flip',
        message: 'must be one of horizontal, vertical, horizontal_and_vertical, horizontalAndVertical',
      },
    ]);
    assert.equal(await queued(), queuedBefore);
    assert.equal(await listed(), listedBefore);
  });
});
