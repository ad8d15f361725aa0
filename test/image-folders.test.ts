import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import sharp from 'sharp';
import * as tar from 'tar-stream';
import { zipEntries } from '../src/data/image-archive.ts';
import { decodeImage, decodeWithSharp, plainPng } from '../src/data/image-decode.ts';
import { grey, sendArchive, shadesJob, shadesZip, zip, type Files } from './image-fixtures.ts';
import { getJson, postJson, startService, testConfig, waitForJob, type TestService } from './helpers.ts';

/** 20 wide, 10 high: the left 15 columns black, the right 5 white. */
const leftHeavy = () => {
  const raw = Buffer.alloc(20 * 10);
  for (let y = 0; y < 10; y++) for (let x = 15; x < 20; x++) raw[y * 20 + x] = 255;
  return sharp(raw, { raw: { width: 20, height: 10, channels: 1 } })
    .png()
    .toBuffer();
};

async function tarball(files: Files, gzip: boolean): Promise<Buffer> {
  const pack = tar.pack();
  for (const [name, data] of files) pack.entry({ name }, data);
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack) chunks.push(c as Buffer);
  const plain = Buffer.concat(chunks);
  return gzip ? gzipSync(plain) : plain;
}

/** A zip whose entry `placeholder` is renamed to `name` (same length) after yazl wrote it: yazl refuses bad names itself. */
async function zipRenamed(placeholder: string, name: string, data: Buffer): Promise<Buffer> {
  assert.equal(placeholder.length, name.length);
  const bytes = await zip([[placeholder, data]]);
  return Buffer.from(bytes.toString('latin1').replaceAll(placeholder, name), 'latin1');
}

const pixelsOf = async (bytes: Buffer, size: [number, number], colorMode: 'grayscale' | 'rgb' | 'rgba') =>
  Array.from(await decodeImage(bytes, { size, colorMode, cropToAspectRatio: false }, 1e6));

test('zip entries read through 256 KiB blocks come back byte for byte, across block boundaries', async () => {
  const files: Files = Array.from({ length: 30 }, (_, i) => [
    `c/${i}.bin`,
    // Random bytes do not deflate: the zip is over 600 KB, so entries straddle block boundaries.
    randomBytes(20_000 + i * 37),
  ]);
  const dir = await mkdtemp(path.join(tmpdir(), 'tts-zip-'));
  try {
    const file = path.join(dir, 'a.zip');
    const bytes = await zip(files);
    assert.ok(bytes.length > 600_000, `the zip is ${bytes.length} bytes`);
    await writeFile(file, bytes);
    const read: Files = [];
    for await (const entry of zipEntries(file, { maxEntryBytes: 1e6, maxTotalBytes: 1e7, maxFiles: 100 }))
      if (!entry.directory) read.push([entry.name, await entry.read()]);
    assert.equal(read.length, 30);
    for (const [i, [name, data]] of read.entries()) {
      assert.equal(name, files[i][0]);
      assert.ok(data.equals(files[i][1]), `${name} reads back as written`);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a PNG already of the asked size and colour type is read as it is (fast-png), pixel for pixel what sharp decodes; other PNGs go to sharp', async () => {
  const [w, h] = [12, 10];
  const random = (channels: number) =>
    Buffer.from(Array.from({ length: w * h * channels }, (_, i) => (i * 37 + 11) % 256));
  const encode = (raw: Buffer, channels: 1 | 3 | 4, options: { palette?: boolean } = {}) => {
    const image = sharp(raw, { raw: { width: w, height: h, channels } });
    return (channels === 1 ? image.toColourspace('b-w') : image).png(options).toBuffer();
  };
  const modes = [
    ['grayscale', 1, 0],
    ['rgb', 3, 2],
    ['rgba', 4, 6],
  ] as const;
  for (const [colorMode, channels, colourType] of modes) {
    const raw = random(channels);
    const png = await encode(raw, channels);
    assert.equal(png[25], colourType, `the ${colorMode} fixture is PNG colour type ${colourType}`);
    const spec = { size: [h, w] as [number, number], colorMode, cropToAspectRatio: false };
    const plain = plainPng(png, spec, 1e6);
    assert.ok(plain, `${colorMode}: read as it is`);
    assert.deepEqual(Array.from(plain), Array.from(raw), `${colorMode}: the stored pixels`);
    assert.deepEqual(Array.from(await decodeImage(png, spec, 1e6)), Array.from(await decodeWithSharp(png, spec, 1e6)));
    // Another size, another colour mode, or a pixel limit below the image: sharp's work.
    assert.equal(plainPng(png, { ...spec, size: [h, w + 1] }, 1e6), undefined);
    assert.equal(plainPng(png, { ...spec, colorMode: colorMode === 'rgb' ? 'rgba' : 'rgb' }, 1e6), undefined);
    assert.equal(plainPng(png, spec, w * h - 1), undefined);
  }
  // A palette PNG (colour type 3) is not read as it is, and decodes as sharp decodes it.
  const palette = await encode(random(3), 3, { palette: true });
  assert.equal(palette[25], 3);
  const rgb = { size: [h, w] as [number, number], colorMode: 'rgb' as const, cropToAspectRatio: false };
  assert.equal(plainPng(palette, rgb, 1e6), undefined);
  assert.deepEqual(
    Array.from(await decodeImage(palette, rgb, 1e6)),
    Array.from(await decodeWithSharp(palette, rgb, 1e6)),
  );
  // A corrupt plain PNG (one pixel byte changed, so its CRC is wrong) is left to sharp, which refuses it.
  const grey = await encode(random(1), 1);
  const broken = Buffer.from(grey);
  broken[broken.length - 20] ^= 0xff;
  const spec = { size: [h, w] as [number, number], colorMode: 'grayscale' as const, cropToAspectRatio: false };
  assert.equal(plainPng(broken, spec, 1e6), undefined);
  await assert.rejects(decodeImage(broken, spec, 1e6), /cannot be decoded/);
  // A big one is left to sharp too (decoded off the event loop), with the same pixels.
  const big = Buffer.from(Array.from({ length: 300 * 300 }, (_, i) => (i * 7) % 256));
  const bigPng = await sharp(big, { raw: { width: 300, height: 300, channels: 1 } })
    .toColourspace('b-w')
    .png()
    .toBuffer();
  const bigSpec = { size: [300, 300] as [number, number], colorMode: 'grayscale' as const, cropToAspectRatio: false };
  assert.equal(plainPng(bigPng, bigSpec, 1e6), undefined);
  assert.deepEqual(Buffer.from(await decodeImage(bigPng, bigSpec, 1e6)), big);
});

describe('image-folder datasets', () => {
  let service: TestService;
  before(async () => {
    service = await startService({
      config: await testConfig({
        DATASET_MAX_ARCHIVE_FILES: '40',
        DATASET_MAX_IMAGE_BYTES: '20000',
        DATASET_MAX_ARCHIVE_BYTES: '60000',
        DATASET_MAX_IMAGE_PIXELS: '100000',
      }),
    });
  });
  after(() => service.close());

  const send = (archive: Buffer, filename: string, fields: Record<string, string> = {}) =>
    sendArchive(service.url, archive, filename, fields);
  const storedFile = (id: string, file: string) => readFile(path.join(service.config.DATA_DIR, 'datasets', id, file));
  const uploadedIds = async () =>
    (await getJson(`${service.url}/v1/datasets?limit=100`)).body.items
      .filter((d: any) => !d.builtIn)
      .map((d: any) => d.id);
  const staging = async () =>
    (await readdir(service.app.services.objects.stagingRoot).catch(() => [] as string[])).filter((n) =>
      n.startsWith('.tmp-'),
    );

  test('a zip of class folders: classes in alphabetical order, resized rgb pixels, archiver files skipped', async () => {
    const files: Files = [
      ['light/a.png', await grey(220)],
      ['light/nested/b.jpg', await grey(210, 12, 10, 'jpeg')],
      ['dark/c.webp', await grey(30, 12, 10, 'webp')],
      ['dark/d.gif', await grey(40, 12, 10, 'gif')],
      ['__MACOSX/light/._a.png', Buffer.from('resource fork')],
      ['light/.DS_Store', Buffer.from('finder')],
    ];
    const { status, body } = await send(await zip(files), 'shades.zip', { imageSize: '[8,6]', name: 'shades' });
    assert.equal(status, 201, JSON.stringify(body));
    assert.equal(body.format, 'images');
    assert.equal(body.rows, 4);
    assert.deepEqual(body.image, { size: [8, 6], colorMode: 'rgb', cropToAspectRatio: false });
    assert.deepEqual(body.featureShape, [8, 6, 3]);
    assert.equal(body.label, 'label');
    const [image, label] = body.columns;
    assert.deepEqual([image.name, image.shape], ['image', [8, 6, 3]]);
    assert.deepEqual(label.classes, [
      { name: 'dark', count: 2 },
      { name: 'light', count: 2 },
    ]);
    // Rows in archive order; label codes by alphabetical class order (dark = 0), as Keras numbers them.
    const codes = new Float32Array(new Uint8Array(await storedFile(body.id, 'label.bin')).buffer);
    assert.deepEqual(Array.from(codes), [1, 1, 0, 0]);
    const pixels = await storedFile(body.id, 'image.bin');
    assert.equal(pixels.length, 4 * 8 * 6 * 3);
    assert.deepEqual(Array.from(pixels.subarray(0, 144)), await pixelsOf(files[0][1], [8, 6], 'rgb'));
    assert.ok(pixels[3 * 144] < 60, 'the GIF decodes dark');
  });

  test('tar.gz in grayscale and plain tar in rgba; cropToAspectRatio crops the centre before resizing', async () => {
    const files: Files = [['bars/wide.png', await leftHeavy()]];
    const fill = await send(await tarball(files, true), 'bars.tar.gz', { imageSize: '[4,4]', colorMode: 'grayscale' });
    assert.equal(fill.status, 201, JSON.stringify(fill.body));
    assert.deepEqual(fill.body.featureShape, [4, 4, 1]);
    const filled = await storedFile(fill.body.id, 'image.bin');
    assert.ok(filled[3] > 200 && filled[0] < 20, `resized whole: the right column is white (${[...filled]})`);

    const crop = await send(await tarball(files, true), 'bars.tgz', {
      imageSize: '[4,4]',
      colorMode: 'grayscale',
      cropToAspectRatio: 'true',
    });
    assert.equal(crop.status, 201, JSON.stringify(crop.body));
    const cropped = await storedFile(crop.body.id, 'image.bin');
    assert.ok(Math.max(...cropped) < 20, `the centre 10x10 is all black (${[...cropped]})`);

    const rgba = await send(
      await tarball(
        [
          ['one/x.png', await grey(100)],
          ['two/y.png', await grey(50)],
        ],
        false,
      ),
      'x.tar',
      {
        imageSize: '[2,2]',
        colorMode: 'rgba',
      },
    );
    assert.equal(rgba.status, 201, JSON.stringify(rgba.body));
    assert.deepEqual(rgba.body.featureShape, [2, 2, 4]);
    const stored = await storedFile(rgba.body.id, 'image.bin');
    assert.equal(stored[3], 255, 'an image without alpha gets an opaque alpha channel');
  });

  test('a tiny model trains through the queue; predict answers the same for b64 images and their pixel arrays', async () => {
    const { status, body: dataset } = await send(await shadesZip(), 'train.zip', {
      imageSize: '[6,6]',
      colorMode: 'grayscale',
    });
    assert.equal(status, 201, JSON.stringify(dataset));
    const submitted = await postJson(`${service.url}/v1/jobs`, shadesJob(dataset.id));
    assert.equal(submitted.status, 202, JSON.stringify(submitted.body));
    const job = await waitForJob(service.url, submitted.body.id);
    assert.equal(job.status, 'completed', JSON.stringify(job.error));
    const model = (await getJson(`${service.url}/v1/models/${job.modelId}`)).body;
    assert.deepEqual(model.transforms.image, { size: [6, 6], colorMode: 'grayscale', cropToAspectRatio: false });
    assert.deepEqual(model.transforms.featureShape, [6, 6, 1]);

    const light = await grey(215, 30, 25, 'jpeg', 99);
    const dark = await grey(40, 7, 9, 'png', 98);
    const predict = (instances: unknown[]) =>
      postJson(`${service.url}/v1/models/${job.modelId}/predict`, { instances });
    const byImage = await predict([{ b64: light.toString('base64') }, { b64: dark.toString('base64') }]);
    assert.equal(byImage.status, 200, JSON.stringify(byImage.body));
    assert.deepEqual(byImage.body.labels, ['light', 'dark']);
    const byPixels = await predict([
      await pixelsOf(light, [6, 6], 'grayscale'),
      await pixelsOf(dark, [6, 6], 'grayscale'),
    ]);
    assert.equal(byPixels.status, 200, JSON.stringify(byPixels.body));
    assert.deepEqual(byPixels.body.predictions, byImage.body.predictions);

    const corrupt = await predict([
      { b64: light.toString('base64') },
      { b64: Buffer.from('not an image').toString('base64') },
    ]);
    assert.equal(corrupt.status, 400);
    assert.equal(corrupt.body.errors[0].path, '/instances/1');
    assert.match(corrupt.body.errors[0].message, /not a PNG, JPEG, WebP or GIF/);
    const huge = await predict([{ b64: (await grey(100, 400, 300)).toString('base64') }]);
    assert.equal(huge.status, 400);
    assert.match(huge.body.detail ?? huge.body.errors[0].message, /DATASET_MAX_IMAGE_PIXELS/);
  });

  test('bad archives are 400s naming the entry, and leave nothing stored', async () => {
    const png = await grey(100);
    const many: Files = Array.from({ length: 41 }, (_, i) => [`c/${i}.png`, png]);
    const fourteenK = await grey(100, 100, 50);
    const cases: [what: string, archive: Promise<Buffer>, filename: string, entry: RegExp][] = [
      ['zip bomb', zip([['c/bomb.png', Buffer.alloc(5_000_000)]]), 'a.zip', /c\/bomb\.png.*DATASET_MAX_IMAGE_BYTES/],
      [
        'archive inflating past its cap',
        zip(
          Array.from({ length: 8 }, (_, i) => [
            `c/${i}.png`,
            Buffer.concat([fourteenK, Buffer.alloc(18000 - fourteenK.length)]),
          ]),
        ),
        'a.zip',
        /c\/3\.png.*DATASET_MAX_ARCHIVE_BYTES/,
      ],
      ['../ in a zip', zipRenamed('xx/evil.png', '../evil.png', png), 'a.zip', /\.\.\/evil\.png/],
      ['absolute path in a zip', zipRenamed('Xtmp/evil.png', '/tmp/evil.png', png), 'a.zip', /\/tmp\/evil\.png/],
      ['../ in a tar', tarball([['c/../../evil.png', png]], true), 'a.tgz', /c\/\.\.\/\.\.\/evil\.png.*"\.\."/],
      [
        'non-image file',
        zip([
          ['c/a.png', png],
          ['c/notes.txt', Buffer.from('hi')],
        ]),
        'a.zip',
        /c\/notes\.txt.*not an image/,
      ],
      [
        'corrupt image',
        zip([
          ['c/a.png', png],
          ['c/bad.png', Buffer.concat([png.subarray(0, 40), Buffer.alloc(60)])],
        ]),
        'a.zip',
        /c\/bad\.png.*cannot be decoded/,
      ],
      [
        'not an image at all',
        tarball([['c/fake.jpg', Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"/>')]], false),
        'a.tar',
        /c\/fake\.jpg.*not a PNG/,
      ],
      ['too many files', zip(many), 'a.zip', /c\/40\.png.*DATASET_MAX_ARCHIVE_FILES/],
      ['no class folders', zip([['__MACOSX/._x', Buffer.from('x')]]), 'a.zip', /no class folders/],
      [
        'a file at the top level',
        zip([
          ['c/a.png', png],
          ['top.png', png],
        ]),
        'a.zip',
        /top\.png.*top level/,
      ],
      ['not an archive', Promise.resolve(Buffer.alloc(2048, 7)), 'a.tar', /cannot be read/],
    ];
    const before = await uploadedIds();
    for (const [what, archive, filename, entry] of cases) {
      const { status, body } = await send(await archive, filename);
      assert.equal(status, 400, `${what}: ${JSON.stringify(body)}`);
      assert.equal(body.code, 'invalid_dataset', what);
      // The message names the entry as written in the archive; the path as a JSON pointer under /file.
      assert.match(body.errors[0].message, entry, what);
      assert.match(body.errors[0].path, /^\/file(\/|$)/, what);
      assert.deepEqual(await uploadedIds(), before, `${what}: nothing stored`);
      assert.deepEqual(await staging(), [], `${what}: the staging folder is empty`);
    }
  });

  test('form fields are checked: imageSize, colorMode, and image fields with another format', async () => {
    const archive = await zip([['c/a.png', await grey(1)]]);
    for (const [fields, field] of [
      [{ imageSize: '[0,4]' }, '/imageSize'],
      [{ imageSize: 'big' }, '/imageSize'],
      [{ colorMode: 'cmyk' }, '/colorMode'],
      [{ cropToAspectRatio: 'yes' }, '/cropToAspectRatio'],
    ] as [Record<string, string>, string][]) {
      const { status, body } = await send(archive, 'a.zip', fields);
      assert.equal(status, 400, JSON.stringify(body));
      assert.equal(body.errors[0].path, field);
    }
    const csv = await send(Buffer.from('a,b\n1,2\n'), 'a.csv', { colorMode: 'rgb' });
    assert.equal(csv.status, 400);
    assert.equal(csv.body.errors[0].path, '/colorMode');
  });
});
