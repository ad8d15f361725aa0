import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { parse } from 'csv-parse/sync';
import { readCsv } from '../src/data/csv-reader.ts';
import type { ColumnInfo } from '../src/data/dataset-meta.ts';
import { readIdx } from '../src/data/idx-reader.ts';
import { DEFAULT_INGEST_LIMITS, type IngestLimits } from '../src/data/ingest-limits.ts';
import { readJson } from '../src/data/json-reader.ts';
import { LIST_CLASSES } from '../src/http/datasets.ts';
import { idxFile } from './dataset-fixtures.ts';
import { apiAs, startService, testConfig, type TestService } from './helpers.ts';

/**
 * Uploads are parsed on the API's event loop: they must give it a turn between slices of their
 * input whatever its shape, read the same whatever the chunks it arrives in, refuse a row of
 * absurdly many fields before holding it, and listings of datasets stay bounded.
 */

let dir: string;
before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'tts-pacing-'));
});
after(() => rm(dir, { recursive: true, force: true }));

let runs = 0;
const freshDir = async () => mkdtemp(path.join(dir, `run${runs++}-`));

/** `bytes` as a stream of chunks of `size` bytes (1: every byte alone; Infinity: one chunk). */
const chunked = (bytes: Buffer | string, size = Infinity) => {
  const buffer = Buffer.from(bytes);
  const parts: Buffer[] = [];
  for (let i = 0; i < buffer.length; i += Math.min(size, buffer.length)) parts.push(buffer.subarray(i, i + size));
  return Readable.from(parts, { objectMode: false });
};

/** Input a reader may handle without giving the event loop a turn (it reads 8 KiB slices: a margin of four). */
const TURN_BYTES = 32 * 1024;

/** How many turns of the event loop other work got while `work` ran. */
async function turnsDuring(work: () => Promise<unknown>): Promise<number> {
  let turns = 0;
  let running = true;
  const tick = () => {
    turns++;
    if (running) setImmediate(tick);
  };
  setImmediate(tick);
  try {
    await work();
  } finally {
    running = false;
  }
  return turns;
}

/** The rows an ingest wrote, read back from its column files (text columns as their class names). */
async function readBack(at: string, columns: ColumnInfo[], rows: number): Promise<(string | number)[][]> {
  const values = await Promise.all(
    columns.map(async (c) => {
      const raw = await readFile(path.join(at, c.file));
      const numbers =
        c.dtype === 'uint8' ? new Uint8Array(raw) : new Float32Array(raw.buffer, raw.byteOffset, raw.byteLength / 4);
      return c.type === 'string' ? Array.from(numbers, (code) => c.classes![code].name) : Array.from(numbers);
    }),
  );
  return Array.from({ length: rows }, (_, r) => values.map((column) => column[r]));
}

/** What csv-parse makes of `text` on its own (discovering the line ending), as readCsv would store it. */
function reference(text: string, delimiter = ','): (string | number)[][] {
  const records: string[][] = parse(text, { delimiter, bom: true, skip_empty_lines: true });
  const [, ...rows] = records;
  const numeric = rows[0].map((cell) => /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(cell.trim()));
  return rows.map((row) => row.map((cell, i) => (numeric[i] ? Math.fround(Number(cell.trim())) : cell.trim())));
}

async function csvRows(
  text: string | Buffer,
  chunk = Infinity,
  delimiter = ',',
  limits: IngestLimits = DEFAULT_INGEST_LIMITS,
) {
  const at = await freshDir();
  const { rows, columns } = await readCsv(chunked(text, chunk), at, { delimiter, limits });
  return { names: columns.map((c) => c.name), rows: await readBack(at, columns, rows) };
}

async function refusal(work: Promise<unknown>): Promise<{ path: string; message: string }> {
  const err = await work.then(
    () => assert.fail('expected a refusal'),
    (e: { status?: number; errors?: { path: string; message: string }[] }) => e,
  );
  assert.equal(err.status, 400, JSON.stringify(err));
  return err.errors![0];
}

describe('ingest gives the event loop a turn between slices of its input', () => {
  // Each upload is refused at its very end, so the turns counted are those of reading it,
  // not of writing column files (which are written only once their chunks fill, or at the end).
  const refusedAtEnd = async (read: () => Promise<unknown>, bytes: number) => {
    let refused = false;
    const turns = await turnsDuring(() => read().catch((err: { status?: number }) => (refused = err.status === 400)));
    assert.ok(refused, 'refused at its end');
    assert.ok(turns >= bytes / TURN_BYTES, `${turns} turns for ${bytes} bytes`);
  };

  test('a CSV arriving as one chunk', async () => {
    const text = ['a,b,label', ...Array.from({ length: 60_000 }, (_, i) => `${i},${i % 17}.5,c${i % 5}`), '1,2\n'].join(
      '\n',
    );
    await refusedAtEnd(async () => readCsv(chunked(text), await freshDir()), text.length);
  });

  test('a CSV header of thousands of columns on one line', async () => {
    const header = Array.from({ length: 4000 }, (_, i) => `column_${i}`.padEnd(60, '_')).join(',');
    const text = `${header}\n${Array.from({ length: 4000 }, () => 1).join(',')}\n1,2\n`;
    await refusedAtEnd(async () => readCsv(chunked(text), await freshDir()), header.length);
  });

  test('JSON records, and x/y samples', async () => {
    const records = JSON.stringify([
      ...Array.from({ length: 20_000 }, (_, i) => ({ a: i, b: i / 7, label: `c${i % 3}` })),
      { a: 1, b: 2, label: 'x', extra: 1 },
    ]);
    const samples = JSON.stringify({
      x: Array.from({ length: 5000 }, (_, i) => [i, i / 3, -i]),
      y: Array.from({ length: 4999 }, (_, i) => i % 2),
    });
    for (const text of [records, samples])
      await refusedAtEnd(async () => readJson(chunked(text), await freshDir()), text.length);
  });

  test('a JSON record of thousands of keys', async () => {
    const record = Object.fromEntries(Array.from({ length: 4000 }, (_, i) => [`key_${i}`.padEnd(40, '_'), i]));
    const text = JSON.stringify([record, { ...record, extra: 1 }]);
    await refusedAtEnd(async () => readJson(chunked(text), await freshDir()), text.length);
  });

  test('an IDX file', async () => {
    // 80 images fill less than one column chunk; the header promises one more.
    const images = idxFile(
      [81, 28, 28],
      new Uint8Array(80 * 784).map((_, i) => i % 251),
    );
    await refusedAtEnd(async () => readIdx(chunked(images), await freshDir(), 'images'), images.length);
  });
});

describe('CSV: the line ending is found ahead of the parser, as the parser would find it', () => {
  const body = 'name,"size, in cm",kind\n"a ""quoted"" one",1.5,x\nb,2,y\n\nc,-3e2,x\n';
  const variants: [string, string][] = [
    ['\\n', body],
    ['\\r\\n', body.replaceAll('\n', '\r\n')],
    ['\\r', body.replaceAll('\n', '\r')],
    ['no line break at the end', body.trimEnd()],
    ['a byte-order mark', `\ufeff${body}`],
    ['a header cell holding line breaks in quotes', body.replace('"size, in cm"', '"size,\nin\r\ncm"')],
    [
      '\\r\\n with a bare \\n inside a quoted cell',
      body.replaceAll('\n', '\r\n').replace('"a ""quoted"" one"', '"a\nquoted one"'),
    ],
  ];
  for (const [name, text] of variants) {
    test(name, async () => {
      const expected = reference(text);
      for (const chunk of [Infinity, 7, 1]) {
        const { rows } = await csvRows(text, chunk);
        assert.deepEqual(rows, expected, `in chunks of ${chunk}`);
      }
    });
  }

  test('a later line ending of another kind stays in its cell, as with the parser alone', async () => {
    // \r\n is the line ending: a bare \n later is part of an unquoted cell (and is trimmed away at its end).
    const text = 'a,b\r\n1,x\n\r\n2,y\r\n';
    assert.deepEqual((await csvRows(text)).rows, reference(text));
    assert.deepEqual((await csvRows(text, 1)).rows, reference(text));
  });

  test('delimiters other than a comma, one of them two bytes long in UTF-8', async () => {
    for (const delimiter of [';', '\t', '§']) {
      const text = `a${delimiter}b${delimiter}label\r\n1${delimiter}2${delimiter}x\r\n3${delimiter}4${delimiter}y\r\n`;
      for (const chunk of [Infinity, 1])
        assert.deepEqual(
          (await csvRows(text, chunk, delimiter)).rows,
          reference(text, delimiter),
          `${JSON.stringify(delimiter)} in chunks of ${chunk}`,
        );
    }
  });
});

describe('CSV: a row of more fields than DATASET_MAX_COLUMNS is refused before the parser holds it', () => {
  const limits: IngestLimits = { ...DEFAULT_INGEST_LIMITS, maxColumns: 8, maxCellChars: 32 };

  test('a header one column over the cap names its count, as the table does', async () => {
    const err = await refusal(
      csvRows(`${Array.from({ length: 9 }, (_, i) => `c${i}`).join(',')}\n1,2,3,4,5,6,7,8,9\n`, Infinity, ',', limits),
    );
    assert.equal(err.path, '/columns');
    assert.match(err.message, /the header names 9 columns; a dataset may have at most 8 \(DATASET_MAX_COLUMNS\)/);
  });

  test('a data row of a million commas', async () => {
    const text = `a,b\n1,2\n3,${','.repeat(1_000_000)}\n`;
    const err = await refusal(csvRows(text, 64 * 1024, ',', limits));
    assert.equal(err.path, '/rows/2');
    assert.match(err.message, /has (more than )?\d+ values.*DATASET_MAX_COLUMNS/);
  });

  test('a header of commas with no line break at all', async () => {
    const err = await refusal(csvRows(','.repeat(2_000_000), 64 * 1024, ',', limits));
    assert.equal(err.path, '/columns');
    assert.match(err.message, /the header names more than \d+ columns.*DATASET_MAX_COLUMNS/);
  });

  test('delimiters inside quotes are not fields', async () => {
    const cell = `"${','.repeat(20)}"`;
    const text = `${Array.from({ length: 8 }, (_, i) => `c${i}`).join(',')}\n${Array.from({ length: 8 }, () => cell).join(',')}\n`;
    const { rows } = await csvRows(text, 5, ',', limits);
    assert.deepEqual(rows, [Array.from({ length: 8 }, () => ','.repeat(20))]);
  });

  test("a row one field short or over is still the parser's to refuse, with its line", async () => {
    const err = await refusal(csvRows('a,b,c\n1,2,3\n4,5\n', Infinity, ',', limits));
    assert.equal(err.path, '/rows/2');
    assert.match(err.message, /malformed CSV at line 3/);
  });
});

describe('JSON: the same dataset whatever the chunks it arrives in', () => {
  const cases: [string, string][] = [
    [
      'records with text in several scripts',
      JSON.stringify([
        { a: 1.25, b: -2, label: 'café' },
        { a: 3e-2, b: 4, label: '東京' },
        { a: 5, b: 6, label: '🙂 ok' },
      ]),
    ],
    [
      'x/y samples, labels as class names',
      JSON.stringify({
        x: [
          [
            [1, 2],
            [3, 4],
          ],
          [
            [5, 6],
            [7, 8],
          ],
        ],
        y: ['ünï', 'two'],
      }),
    ],
    [
      'a byte-order mark and surrounding white space',
      `\ufeff \n ${JSON.stringify({ y: [1, 0, 1], x: [0.5, 1.5, -2.5] })} \n`,
    ],
  ];
  for (const [name, text] of cases) {
    test(name, async () => {
      const results = [];
      for (const chunk of [Infinity, 3, 1]) {
        const at = await freshDir();
        const { rows, columns } = await readJson(chunked(text, chunk), at);
        results.push({ columns: columns.map(({ file: _file, ...c }) => c), rows: await readBack(at, columns, rows) });
      }
      assert.deepEqual(results[1], results[0]);
      assert.deepEqual(results[2], results[0]);
    });
  }

  test('broken documents are refused as before, however they are cut', async () => {
    const answers: [string, string, RegExp][] = [
      ['[{"a": 1}, {"a": 2}', '/', /ended early|not valid JSON/],
      ['{"x": [1, 2], "y": [1, 2]', '/', /ended early|not valid JSON/],
      ['[{"a": 1}] trailing', '/', /not valid JSON/],
      ['{"x": [1, 2], "z": []}', '/z', /not a known field/],
      ['[{"a": 1, "__proto__": 2}]', '/0/__proto__', /./],
      ['[{"a": 1}, {"a": "x", "b": 2}]', '/1/b', /not a column of the first record/],
    ];
    for (const [text, where, message] of answers) {
      for (const chunk of [Infinity, 1]) {
        const err = await refusal(readJson(chunked(text, chunk), await freshDir()));
        assert.equal(err.path, where, `${text} in chunks of ${chunk}`);
        assert.match(err.message, message, text);
      }
    }
  });
});

describe('listing datasets is bounded', () => {
  let service: TestService;
  const KEY = 'list-key-0123456789abcdef';
  before(async () => {
    service = await startService({
      worker: false,
      config: await testConfig({ RATE_LIMIT_PER_MINUTE: '0', API_KEYS: `${KEY}:lister`, LIST_MAX_BYTES: '8192' }),
    });
  });
  after(() => service?.close());

  const upload = async (name: string, classes: number, rows = classes) => {
    const api = apiAs(service.url, KEY);
    const text = [
      'a,kind',
      ...Array.from({ length: rows }, (_, i) => `${i},kind-${String(i % classes).padStart(3, '0')}-${name}`),
    ].join('\n');
    const res = await api.post(`/v1/datasets?name=${name}`, text, { 'content-type': 'text/csv' });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    return res.body;
  };

  test('a listing shows the first classes of a column and how many there are; the dataset itself shows all', async () => {
    const api = apiAs(service.url, KEY);
    const many = await upload('many', 30);
    const few = await upload('few', LIST_CLASSES);
    const page = await api.get('/v1/datasets?limit=100');
    assert.equal(page.status, 200);
    const listed = (id: string) => page.body.items.find((d: { id: string }) => d.id === id);
    const kind = listed(many.id).columns.find((c: { name: string }) => c.name === 'kind');
    assert.equal(kind.classes.length, LIST_CLASSES);
    assert.equal(kind.classCount, 30);
    assert.equal(kind.classesTruncated, true);
    assert.deepEqual(kind.classes, many.columns[1].classes.slice(0, LIST_CLASSES));
    const fewKind = listed(few.id).columns.find((c: { name: string }) => c.name === 'kind');
    assert.equal(fewKind.classes.length, LIST_CLASSES);
    assert.equal(fewKind.classCount, undefined);
    assert.equal(fewKind.classesTruncated, undefined);
    const full = await api.get(`/v1/datasets/${many.id}`);
    assert.equal(full.body.columns[1].classes.length, 30);
    assert.equal(full.body.columns[1].classCount, undefined);
  });

  test('a page stops at LIST_MAX_BYTES of stored metadata, and its cursor goes on from there', async () => {
    const api = apiAs(service.url, KEY);
    // About 3.6 kB of metadata each: two fit in a page of 8 kB, not three.
    const ids = [];
    for (let i = 0; i < 5; i++) ids.push((await upload(`big${i}`, 90)).id);
    /** What the store keeps of a dataset: its full description without the view's `builtIn`. */
    const stored = async (id: string) => {
      const { builtIn: _builtIn, ...meta } = (await api.get(`/v1/datasets/${id}`)).body;
      return Buffer.byteLength(JSON.stringify(meta));
    };
    const pages: string[][] = [];
    let cursor: string | null = null;
    do {
      const page: { status: number; body: { items: { id: string; builtIn: boolean }[]; nextCursor: string | null } } =
        await api.get(`/v1/datasets?limit=100${cursor ? `&cursor=${cursor}` : ''}`);
      assert.equal(page.status, 200);
      pages.push(page.body.items.filter((d) => !d.builtIn).map((d) => d.id));
      cursor = page.body.nextCursor;
    } while (cursor && pages.length < 20);
    assert.equal(cursor, null);
    assert.ok(
      pages.length >= 3,
      `${pages.length} pages: ${JSON.stringify(await Promise.all(pages.map((p) => Promise.all(p.map(stored)))))}`,
    );
    const seen = pages.flat();
    for (const id of ids) assert.equal(seen.filter((s) => s === id).length, 1, 'every upload exactly once');
    assert.deepEqual(seen, [...seen].sort().reverse(), 'newest first');
    for (let p = 0; p < pages.length; p++) {
      const sizes = await Promise.all(pages[p].map(stored));
      const total = sizes.reduce((a, b) => a + b, 0);
      assert.ok(pages[p].length >= 1);
      if (pages[p].length > 1) assert.ok(total <= 8192, `page ${p}: ${total} bytes`);
      // It stopped only because the next one would not fit.
      if (p + 1 < pages.length) assert.ok(total + (await stored(pages[p + 1][0])) > 8192, `page ${p} stopped early`);
    }
  });
});
