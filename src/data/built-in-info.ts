import type { ClassCount, ColumnInfo } from './dataset-meta.ts';
import { MNIST_DESCRIPTION, mnistStats } from './mnist.ts';

/** How `GET /v1/datasets` shows a built-in dataset: the same shape as an upload's description. */
export interface BuiltInInfo {
  id: string;
  name: string;
  builtIn: true;
  format: 'built-in';
  description?: string;
  rows: number;
  testRows: number;
  columns: Omit<ColumnInfo, 'file' | 'dtype'>[];
  label: string;
  features: string[];
  featureShape: number[];
  bytes: number;
  createdAt: null;
}

let mnist: Promise<BuiltInInfo> | undefined;

async function describeMnist(): Promise<BuiltInInfo> {
  const { classCounts, bytes } = await mnistStats();
  const classes: ClassCount[] = classCounts.map((count, digit) => ({ name: String(digit), count }));
  return {
    id: 'mnist',
    name: 'mnist',
    builtIn: true,
    format: 'built-in',
    description: MNIST_DESCRIPTION.description,
    rows: MNIST_DESCRIPTION.trainCount,
    testRows: MNIST_DESCRIPTION.testCount,
    columns: [
      { name: 'images', type: 'numeric', shape: MNIST_DESCRIPTION.featureShape, min: 0, max: 255 },
      { name: 'labels', type: 'numeric', shape: [], min: 0, max: 9, classes },
    ],
    label: 'labels',
    features: ['images'],
    featureShape: MNIST_DESCRIPTION.featureShape,
    bytes,
    createdAt: null,
  };
}

/** Built-in datasets by name, described once per process (reads the 60 kB label file). */
export const BUILT_IN_INFO: Record<string, () => Promise<BuiltInInfo>> = {
  mnist: () => (mnist ??= describeMnist()),
};
