import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { describeData } from '../src/data/datasets.ts';
import type { DatasetCatalog, StoredDataset } from '../src/data/dataset-meta.ts';
import { readTexts, TextColumnFile } from '../src/data/text-column.ts';
import { learnVocabulary, textSettings, TextVectorizer, tokenize } from '../src/data/text-vectorizer.ts';
import type { TextSpec } from '../src/schemas/job-request.ts';
import { upload, uploadForm } from './dataset-fixtures.ts';
import { getJson, postJson, startService, trainToCompletion, type TestService } from './helpers.ts';

/** A CSV whose every cell is quoted: reviews hold commas and quotes. */
const csv = (header: string[], rows: (string | number)[][]) =>
  `${[header, ...rows].map((r) => r.map((cell) => `"${String(cell).replace(/"/g, '""')}"`).join(',')).join('\n')}\n`;

async function uploadOk(url: string, body: string, type: string, query: string) {
  const answer = await upload(url, body, type, query);
  assert.equal(answer.status, 201, JSON.stringify(answer.body));
  return answer.body;
}

const TRAIN = ['The cat sat.', 'the cat, the dog!', 'Dog'];
const vectors = (spec: Omit<TextSpec, 'column'>, texts: string[], train = TRAIN) => {
  const vectorizer = new TextVectorizer(learnVocabulary(train, textSettings({ column: 'c', ...spec })));
  return texts.map((text) => {
    const out = new Float32Array(vectorizer.width);
    vectorizer.write(text, out, 0);
    return Array.from(out);
  });
};
const close = (actual: number[], expected: number[]) =>
  assert.deepEqual(
    actual.map((v) => Math.round(v * 1e5) / 1e5),
    expected.map((v) => Math.round(v * 1e5) / 1e5),
  );

/**
 * Hand-computed Keras TextVectorization values. On TRAIN: the 3, cat 2, dog 2, sat 1; Keras
 * orders by count, ties the greater token first (np.lexsort reversed): the, dog, cat, sat.
 */
describe('text vectorization as Keras does it', () => {
  test('vocabulary order, OOV at index 0 and maxTokens counting it (multiHot)', () => {
    const v = learnVocabulary(TRAIN, textSettings({ column: 'c', mode: 'multiHot', maxTokens: 5 }));
    assert.deepEqual(v.vocabulary, ['the', 'dog', 'cat', 'sat']);
    assert.equal(v.vocabularySize, 5);
    assert.deepEqual(vectors({ mode: 'multiHot', maxTokens: 5 }, ['the bird sat', 'the the the']), [
      [1, 1, 0, 0, 1],
      [0, 1, 0, 0, 0],
    ]);
    // maxTokens 4 keeps three learned tokens: sat is out of the vocabulary now.
    assert.deepEqual(vectors({ mode: 'multiHot', maxTokens: 4 }, ['the bird sat']), [[1, 1, 0, 0]]);
    // Wider than the vocabulary: padded to maxTokens with slots that stay 0.
    assert.deepEqual(vectors({ mode: 'multiHot', maxTokens: 7 }, ['cat']), [[0, 0, 0, 1, 0, 0, 0]]);
  });

  test('count mode counts repeats, OOV included', () => {
    assert.deepEqual(vectors({ mode: 'count', maxTokens: 5 }, ['the the bird fish dog']), [[2, 2, 1, 0, 0]]);
  });

  test('tfIdf: count x log(1 + N/(1 + df)), the OOV weighted by the mean idf', () => {
    // N = 3; df: the 2, dog 2, cat 2, sat 1.
    const l2 = Math.log(2);
    const l25 = Math.log(2.5);
    const mean = (3 * l2 + l25) / 4;
    const v = learnVocabulary(TRAIN, textSettings({ column: 'c', mode: 'tfIdf', maxTokens: 5 }));
    close(v.idf!, [mean, l2, l2, l2, l25]);
    close(vectors({ mode: 'tfIdf', maxTokens: 5 }, ['the the bird sat'])[0], [mean, 2 * l2, 0, 0, l25]);
  });

  test('int mode: 0 pads, 1 is the OOV, learned tokens from 2; padded or cut to outputSequenceLength', () => {
    const v = learnVocabulary(
      TRAIN,
      textSettings({ column: 'c', mode: 'int', maxTokens: 10, outputSequenceLength: 4 }),
    );
    assert.equal(v.vocabularySize, 6);
    assert.deepEqual(
      vectors({ mode: 'int', maxTokens: 10, outputSequenceLength: 4 }, ['The bird sat', 'the cat the dog the']),
      [
        [2, 1, 5, 0],
        [2, 4, 2, 3],
      ],
    );
    // maxTokens counts the padding and the OOV: 4 leaves two learned tokens.
    assert.deepEqual(vectors({ mode: 'int', maxTokens: 4, outputSequenceLength: 3 }, ['cat dog the']), [[1, 3, 2]]);
  });

  test('a vocabulary over 8 MiB (long tokens) is refused, naming maxTokens', () => {
    const documents = Array.from({ length: 9 }, (_, i) => String.fromCharCode(97 + i).repeat(1024 * 1024));
    const settings = textSettings({ column: 'c', mode: 'multiHot', maxTokens: 100 });
    assert.throws(
      () => learnVocabulary(documents, settings),
      (err: { status: number; code: string; errors: { path: string }[] }) =>
        err.status === 422 && err.code === 'vocabulary_too_large' && err.errors[0].path === '/data/text/maxTokens',
    );
    assert.equal(learnVocabulary(documents.slice(0, 7), settings).vocabulary.length, 7);
  });

  test('standardize, split, ngrams and Unicode', () => {
    const s = (spec: Omit<TextSpec, 'column'>) => textSettings({ column: 'c', ...spec });
    // NFC first: a decomposed é and a composed one are one token; lowercasing is Unicode-aware.
    assert.deepEqual(tokenize('Cafe\u0301 CAFÉ École ПРИВЕТ, мир! 🙂', s({})), [
      'café',
      'café',
      'école',
      'привет',
      'мир',
      '🙂',
    ]);
    assert.deepEqual(tokenize("Don't STOP-me", s({ standardize: 'lower' })), ["don't", 'stop-me']);
    assert.deepEqual(tokenize("Don't", s({ standardize: 'none' })), ["Don't"]);
    // Character split by code points: an emoji with a skin tone is two, a CJK word one per character.
    assert.deepEqual(tokenize('电影 👍🏽', s({ split: 'character' })), ['电', '影', ' ', '👍', '🏽']);
    assert.deepEqual(tokenize('a b c', s({ ngrams: 2 })), ['a', 'b', 'c', 'a b', 'b c']);
    const v = learnVocabulary(['好 电影 好', '电影 🙂'], s({ mode: 'multiHot', maxTokens: 10 }));
    assert.deepEqual(v.vocabulary, ['电影', '好', '🙂']);
  });
});

test('a text column is appended chunk by chunk and read back by row', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'text-column-'));
  try {
    const column = new TextColumnFile('review', 'c0.txt', 'c0.off', dir);
    const texts = ['first', '', 'ζ 🙂 中文', 'x'.repeat(1_100_000), 'last'];
    for (const [i, text] of texts.entries()) {
      column.push(text);
      // The 1,100,000-character row fills a chunk (1 MiB); a flush between rows appends what came since the last one.
      if (column.full || i === 1) await column.flush();
    }
    const info = await column.close();
    assert.equal(info.maxChars, 1_100_000);
    assert.deepEqual(await readTexts(dir, info, [0, 1, 2, 3, 4]), texts);
    assert.deepEqual(await readTexts(dir, info, [4, 2]), ['last', 'ζ 🙂 中文']);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

describe('text columns end to end', () => {
  let service: TestService;
  before(async () => {
    service = await startService();
  });
  after(() => service.close());

  const POSITIVE = ['a great film', 'wonderful acting, great story', 'loved it 😍', 'great fun', 'a wonderful film'];
  const NEGATIVE = ['a terrible film', 'boring and awful', 'hated it 😡', 'awful acting, boring story', 'terrible fun'];
  /** Labelled reviews: many copies of a few clear ones, with a row number so no two are equal. */
  const reviews = (n: number) =>
    Array.from({ length: n }, (_, i) => {
      const positive = i % 2 === 0;
      const pool = positive ? POSITIVE : NEGATIVE;
      return [`${pool[i % pool.length]}`, (i % 7) / 7, positive ? 'pos' : 'neg'];
    });
  /** `n` reviews uploaded with their `review` column stored as text. */
  const uploadReviews = (n: number) =>
    uploadOk(service.url, csv(['review', 'score', 'sentiment'], reviews(n)), 'text/csv', '?text=review');

  const trainJob = (job: unknown) => trainToCompletion(service.url, job);
  const datasetCount = async () => (await getJson(`${service.url}/v1/datasets?limit=100`)).body.items.length;

  test('uploads keep text columns as raw UTF-8: non-Latin scripts, emoji, quotes, cells over DATASET_MAX_CELL_CHARS', async () => {
    const long = 'слово '.repeat(400); // 2,400 characters: over the 1,024 of other cells
    const rows = [
      ['"Quoted, with a comma" and ""quotes""', 'x1', 1],
      ['Привет мир 🙂', 'x2', 2],
      ['电影很好看', 'x1', 3],
      [long, 'x2', 4],
      ['', 'x1', 5],
    ];
    const body = `review,tag,n\n${rows.map((r) => [`"${String(r[0]).replace(/"/g, '""')}"`, r[1], r[2]].join(',')).join('\n')}\n`;
    const { status, body: dataset } = await upload(service.url, body, 'text/csv', '?text=review&label=tag');
    assert.equal(status, 201, JSON.stringify(dataset));
    const review = dataset.columns.find((c: { name: string }) => c.name === 'review');
    assert.equal(review.type, 'text');
    assert.equal(review.maxChars, long.length);
    assert.equal(review.classes, undefined);
    assert.deepEqual(dataset.features, ['n'], 'text columns are not default features');
    // Stored as sent, byte for byte, and read back by row number in any order.
    const { catalog, release } = await service.app.services.datasets.open({ dataset: dataset.id });
    try {
      const stored = catalog.get(dataset.id)!;
      const column = stored.meta.columns.find((c) => c.name === 'review')!;
      assert.deepEqual(
        await readTexts(stored.dir, column, [4, 3, 1, 0, 2]),
        [4, 3, 1, 0, 2].map((i) => rows[i][0]),
      );
    } finally {
      release();
    }

    // JSON records take the option too.
    const records = [
      { body: 'ὕαλον ϕαγεῖν δύναμαι', y: 0 },
      { body: 'emoji 👍🏽 only', y: 1 },
    ];
    const json = await upload(service.url, JSON.stringify(records), 'application/json', '?text=body');
    assert.equal(json.status, 201, JSON.stringify(json.body));
    assert.equal(json.body.columns[0].type, 'text');

    // A form takes the option as a field before the file.
    const form = await uploadForm(service.url, {
      text: 'note',
      file: { data: 'note,y\n"Ünïcödé, ok",1\n', filename: 'notes.csv' },
    });
    assert.equal(form.status, 201, JSON.stringify(form.body));
    assert.equal(form.body.columns[0].type, 'text');

    // A column not uploaded as text keeps the cell cap; an unknown text column is refused; nothing is stored.
    const before = await datasetCount();
    const tooLong = await upload(service.url, `review,y\n"${long}",1\n`, 'text/csv');
    assert.equal(tooLong.status, 400);
    assert.match(tooLong.body.detail, /DATASET_MAX_CELL_CHARS/);
    const unknown = await upload(service.url, 'review,y\nhello,1\n', 'text/csv', '?text=review,comment');
    assert.equal(unknown.status, 400);
    assert.equal(unknown.body.errors[0].path, '/text/1');
    const tensors = await upload(
      service.url,
      JSON.stringify({ x: [[1], [2]], y: [0, 1] }),
      'application/json',
      '?text=x',
    );
    assert.equal(tensors.status, 400);
    assert.equal(tensors.body.errors[0].path, '/text/0');
    assert.equal(await datasetCount(), before);
  });

  test('the vocabulary is learned on the fit rows only: not the test split, not the validation split', async () => {
    // 40 rows, each with a token of its own: testSplit 0.25 leaves 30, validationSplit 0.2 leaves 24 to fit on.
    const rows = Array.from({ length: 40 }, (_, i) => [`only${i} ${i % 2 ? 'good' : 'bad'}`, i % 2]);
    const dataset = await uploadOk(service.url, csv(['doc', 'y'], rows), 'text/csv', '?text=doc');
    const job = await trainJob({
      model: { layers: [{ type: 'dense', units: 1, activation: 'sigmoid' }] },
      compile: { loss: 'binaryCrossentropy' },
      data: { dataset: dataset.id, testSplit: 0.25, text: { column: 'doc', mode: 'multiHot', maxTokens: 1000 } },
      fit: { epochs: 1, validationSplit: 0.2, seed: 3 },
    });
    const model = (await getJson(`${service.url}/v1/models/${job.modelId}`)).body;
    // 24 own tokens, good and bad, and the OOV.
    assert.equal(model.transforms.text.vocabularySize, 24 + 2 + 1);
    assert.equal(model.transforms.text.vocabulary, undefined, 'the record shows the top tokens, not the vocabulary');
    assert.deepEqual(model.transforms.text.topTokens.slice(0, 2).sort(), ['bad', 'good']);
  });

  test('multiHot Dense stack (the IMDB network) trains through the queue and predicts raw strings', async () => {
    const dataset = await uploadReviews(200);
    const job = await trainJob({
      model: {
        layers: [
          { type: 'dense', units: 16, activation: 'relu' },
          { type: 'dense', units: 16, activation: 'relu' },
          { type: 'dense', units: 1, activation: 'sigmoid' },
        ],
      },
      compile: { optimizer: { type: 'adam', learningRate: 0.01 }, loss: 'binaryCrossentropy', metrics: ['accuracy'] },
      data: { dataset: dataset.id, testSplit: 0.2, text: { column: 'review', mode: 'multiHot', maxTokens: 100 } },
      fit: { epochs: 10, batchSize: 16, seed: 1 },
      evaluate: true,
    });
    assert.ok(job.evaluation.acc > 0.9, JSON.stringify(job.evaluation));
    const model = (await getJson(`${service.url}/v1/models/${job.modelId}`)).body;
    assert.deepEqual(model.transforms.featureShape, [100]);
    assert.ok(model.transforms.text.topTokens.includes('great'));
    const predicted = await postJson(`${service.url}/v1/models/${job.modelId}/predict`, {
      instances: ['A GREAT film!', 'boring, awful and terrible', { review: 'wonderful 😍' }, 'zzz unknown words'],
    });
    assert.equal(predicted.status, 200, JSON.stringify(predicted.body));
    assert.deepEqual(predicted.body.labels.slice(0, 3), ['pos', 'neg', 'pos']);
    const bad = await postJson(`${service.url}/v1/models/${job.modelId}/predict`, { instances: ['fine', 42] });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.errors[0].path, '/instances/1');
  });

  test("fine-tuning a text model keeps its parent's vocabulary; other text settings are a 422", async () => {
    const text = { column: 'review', mode: 'int', maxTokens: 50, outputSequenceLength: 6 } as const;
    const parent = await trainJob({
      model: {
        layers: [
          { type: 'embedding', inputDim: 50, outputDim: 4 },
          { type: 'globalAveragePooling1d' },
          { type: 'dense', units: 1, activation: 'sigmoid' },
        ],
      },
      compile: { optimizer: 'adam', loss: 'binaryCrossentropy' },
      data: { dataset: (await uploadReviews(40)).id, text },
      fit: { epochs: 1, seed: 1 },
    });
    // The child's data has words the parent never saw: learning again would give another vocabulary.
    const other = await uploadOk(
      service.url,
      csv(
        ['review', 'score', 'sentiment'],
        Array.from({ length: 40 }, (_, i) => [`zebra quartz ${i % 2 ? 'pos' : 'neg'}`, 0, i % 2 ? 'pos' : 'neg']),
      ),
      'text/csv',
      '?text=review',
    );
    const child = await trainJob({
      model: { from: parent.modelId },
      compile: { optimizer: 'adam', loss: 'binaryCrossentropy' },
      data: { dataset: other.id, text },
      fit: { epochs: 1, seed: 1 },
    });
    const vocabularyOf = async (id: string) =>
      (await getJson(`${service.url}/v1/models/${id}`)).body.transforms.text as { topTokens: string[] };
    const [was, is] = [await vocabularyOf(parent.modelId), await vocabularyOf(child.modelId)];
    assert.ok(!is.topTokens.includes('zebra'), JSON.stringify(is));
    assert.deepEqual(is, was);
    const refused = await postJson(`${service.url}/v1/jobs`, {
      model: { from: parent.modelId },
      compile: { optimizer: 'adam', loss: 'binaryCrossentropy' },
      data: { dataset: other.id, text: { ...text, maxTokens: 60 } },
    });
    assert.equal(refused.status, 422, JSON.stringify(refused.body));
    assert.equal(refused.body.errors[0].path, '/data/text/maxTokens');
  });

  test('int mode feeds embedding -> globalAveragePooling1d', async () => {
    const dataset = await uploadReviews(200);
    const job = await trainJob({
      model: {
        layers: [
          { type: 'embedding', inputDim: 50, outputDim: 8 },
          { type: 'globalAveragePooling1d' },
          { type: 'dense', units: 1, activation: 'sigmoid' },
        ],
      },
      compile: { optimizer: { type: 'adam', learningRate: 0.05 }, loss: 'binaryCrossentropy', metrics: ['accuracy'] },
      data: {
        dataset: dataset.id,
        testSplit: 0.2,
        text: { column: 'review', mode: 'int', maxTokens: 50, outputSequenceLength: 6 },
      },
      fit: { epochs: 15, batchSize: 16, seed: 1 },
      evaluate: true,
    });
    assert.ok(job.evaluation.acc > 0.9, JSON.stringify(job.evaluation));
    const predicted = await postJson(`${service.url}/v1/models/${job.modelId}/predict`, {
      instances: ['a great film', 'a terrible film'],
    });
    assert.deepEqual(predicted.body.labels, ['pos', 'neg']);
  });

  test('tfIdf text combined with a tabular column; predict takes records', async () => {
    const dataset = await uploadReviews(120);
    const job = await trainJob({
      model: {
        layers: [
          { type: 'dense', units: 8, activation: 'relu' },
          { type: 'dense', units: 1, activation: 'sigmoid' },
        ],
      },
      compile: { optimizer: { type: 'adam', learningRate: 0.02 }, loss: 'binaryCrossentropy', metrics: ['accuracy'] },
      data: {
        dataset: dataset.id,
        features: ['score'],
        text: { column: 'review', mode: 'tfIdf', maxTokens: 40, ngrams: 2 },
      },
      fit: { epochs: 8, batchSize: 16, seed: 1 },
    });
    const model = (await getJson(`${service.url}/v1/models/${job.modelId}`)).body;
    assert.deepEqual(model.transforms.featureShape, [41], '40 text values and the score');
    assert.deepEqual(model.transforms.features, ['score']);
    const predicted = await postJson(`${service.url}/v1/models/${job.modelId}/predict`, {
      instances: [
        { review: 'a great film', score: 0.5 },
        { review: 'boring and awful', score: 0.1 },
      ],
    });
    assert.equal(predicted.status, 200, JSON.stringify(predicted.body));
    assert.deepEqual(predicted.body.labels, ['pos', 'neg']);
    // Without the score the record is incomplete: a 400 naming the instance.
    const missing = await postJson(`${service.url}/v1/models/${job.modelId}/predict`, { instances: ['a great film'] });
    assert.equal(missing.status, 400);
    assert.equal(missing.body.errors[0].path, '/instances/0');
  });

  test('the dry run checks data.text and names the field', async () => {
    const dataset = await uploadReviews(20);
    // `extra` adds to data, but its `model` replaces the job's.
    const job = (text: Record<string, unknown>, { model, ...extra }: Record<string, unknown> = {}) => ({
      model: model ?? { layers: [{ type: 'dense', units: 1, activation: 'sigmoid' }] },
      compile: { loss: 'binaryCrossentropy' },
      data: { dataset: dataset.id, text, ...extra },
    });
    // int mode's sequences feed embedding -> lstm, gru, conv1d or pooling.
    const sequence = { column: 'review', mode: 'int', maxTokens: 100, outputSequenceLength: 8 };
    for (const middle of [
      [{ type: 'lstm', units: 4 }],
      [{ type: 'gru', units: 4 }],
      [{ type: 'conv1d', filters: 4, kernelSize: 3, activation: 'relu' }, { type: 'globalAveragePooling1d' }],
    ]) {
      const layers = [
        { type: 'embedding', inputDim: 100, outputDim: 4 },
        ...middle,
        { type: 'dense', units: 1, activation: 'sigmoid' },
      ];
      const answer = await postJson(`${service.url}/v1/models/validate`, job(sequence, { model: { layers } }));
      assert.equal(answer.status, 200, `${JSON.stringify(middle)}: ${JSON.stringify(answer.body)}`);
      assert.deepEqual(answer.body.summary.layers[0].outputShape, [null, 8, 4]);
    }
    const cases: [Record<string, unknown>, Record<string, unknown>, number, string][] = [
      [{ column: 'nope', mode: 'multiHot' }, {}, 422, '/data/text/column'],
      [{ column: 'score', mode: 'multiHot' }, {}, 422, '/data/text/column'],
      [{ column: 'review', mode: 'multiHot', outputSequenceLength: 5 }, {}, 400, '/data/text/outputSequenceLength'],
      [{ column: 'review', mode: 'int' }, {}, 400, '/data/text/outputSequenceLength'],
      [{ column: 'review', mode: 'bagOfWords' }, {}, 400, '/data/text/mode'],
      [{ column: 'review', mode: 'multiHot', maxTokens: 200_000 }, {}, 400, '/data/text/maxTokens'],
      [{ column: 'review', mode: 'multiHot', ngrams: 3 }, {}, 400, '/data/text/ngrams'],
      [{ column: 'review', mode: 'int', outputSequenceLength: 4 }, { features: ['score'] }, 422, '/data/features'],
      [{ column: 'review', mode: 'multiHot' }, { features: ['review'] }, 422, '/data/features/0'],
      [{ column: 'review', mode: 'multiHot' }, { label: 'review' }, 422, '/data/label'],
      [
        { column: 'review', mode: 'int', maxTokens: 100, outputSequenceLength: 8 },
        {
          model: {
            layers: [
              { type: 'embedding', inputDim: 50, outputDim: 4 },
              { type: 'flatten' },
              { type: 'dense', units: 1 },
            ],
          },
        },
        422,
        '/model/layers/0/inputDim',
      ],
    ];
    const jobsBefore = (await getJson(`${service.url}/v1/jobs?limit=100`)).body.items.length;
    for (const [text, extra, status, path] of cases) {
      for (const route of ['/v1/models/validate', '/v1/jobs']) {
        const answer = await postJson(`${service.url}${route}`, job(text, extra));
        assert.equal(answer.status, status, `${route} ${JSON.stringify(text)}: ${JSON.stringify(answer.body)}`);
        assert.ok(
          answer.body.errors.some((e: { path: string }) => e.path === path),
          `${JSON.stringify(text)}: ${JSON.stringify(answer.body.errors)}`,
        );
      }
    }
    assert.equal((await getJson(`${service.url}/v1/jobs?limit=100`)).body.items.length, jobsBefore, 'nothing queued');
  });
});

describe('text and the in-memory limit', () => {
  test('vectorized text over DATASET_MEMORY_LIMIT_BYTES is refused at submit, naming maxTokens', () => {
    const meta = {
      id: 'd1',
      name: 'reviews',
      format: 'csv' as const,
      rows: 1000,
      columns: [
        {
          name: 'review',
          type: 'text' as const,
          shape: [],
          dtype: 'uint8' as const,
          file: 'c0.txt',
          offsets: 'c0.off',
        },
        { name: 'y', type: 'numeric' as const, shape: [], dtype: 'float32' as const, file: 'c1.bin' },
      ],
      label: 'y',
      features: [],
      featureShape: [1],
      bytes: 0,
      createdAt: new Date().toISOString(),
    };
    const catalog: DatasetCatalog = Object.assign(new Map<string, StoredDataset>([['d1', { meta, dir: '' }]]), {
      memoryLimitBytes: 1000 * 1001 * 4,
    });
    const spec = (maxTokens: number) => ({
      dataset: 'd1',
      text: { column: 'review', mode: 'multiHot' as const, maxTokens },
    });
    assert.deepEqual(describeData(spec(1000), catalog).featureShape, [1000]);
    assert.throws(
      () => describeData(spec(2000), catalog),
      (err: { status: number; errors: { path: string; message: string }[] }) =>
        err.status === 422 &&
        err.errors[0].path === '/data/text/maxTokens' &&
        /DATASET_MEMORY_LIMIT_BYTES/.test(err.errors[0].message),
    );
  });
});
