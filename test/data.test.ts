import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { test } from 'node:test';
import type { AppError } from '../src/errors.ts';
import { parseIdx } from '../src/data/idx.ts';
import { packInline } from '../src/data/inline.ts';
import { loadMnist } from '../src/data/mnist.ts';
import { shuffledIndices, validationSplit } from '../src/data/split.ts';

function idx(dims: number[], values: number[]) {
  const header = Buffer.alloc(4 + 4 * dims.length);
  header.writeUInt8(0x08, 2);
  header.writeUInt8(dims.length, 3);
  for (const [i, d] of dims.entries()) header.writeUInt32BE(d, 4 + 4 * i);
  return Buffer.concat([header, Buffer.from(values)]);
}

test('IDX files parse plain and gzipped, with an optional limit', () => {
  const file = idx([3, 2, 2], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
  for (const buffer of [file, gzipSync(file)]) {
    const parsed = parseIdx(buffer);
    assert.deepEqual(parsed.dims, [3, 2, 2]);
    assert.deepEqual([...parsed.data], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
  }
  assert.deepEqual([...parseIdx(file, 'x', 1).data], [1, 2, 3, 4]);
});

test('an IDX file whose header disagrees with its size is refused', () => {
  assert.throws(
    () => parseIdx(idx([3, 2, 2], [1, 2, 3]), 'images.idx'),
    (e: AppError) => e.status === 400 && /promises 12 data bytes/.test(e.message),
  );
  assert.throws(() => parseIdx(Buffer.from('hello world')), /bad magic number/);
});

test('the built-in MNIST has the real digits', async () => {
  const mnist = await loadMnist({ train: 5, test: 3 });
  assert.equal(mnist.train.count, 5);
  assert.equal(mnist.train.x.length, 5 * 784);
  assert.deepEqual([...mnist.train.y], [5, 0, 4, 1, 9]);
  assert.deepEqual([...mnist.test!.y], [7, 2, 1]);
});

test('inline arrays are packed with their sample shape', () => {
  const packed = packInline(
    [
      [
        [1, 2],
        [3, 4],
      ],
      [
        [5, 6],
        [7, 8],
      ],
    ],
    '/data/x',
  );
  assert.deepEqual(packed.shape, [2, 2]);
  assert.equal(packed.count, 2);
  assert.deepEqual([...packed.values], [1, 2, 3, 4, 5, 6, 7, 8]);
});

test('a ragged or non-numeric inline array names the element', () => {
  assert.throws(
    () => packInline([[1, 2], [3]], '/data/x'),
    (e: AppError) => e.status === 400 && e.errors[0].path === '/data/x/1' && /2 entries/.test(e.errors[0].message),
  );
  assert.throws(
    () =>
      packInline(
        [
          [1, 2],
          [3, 'four'],
        ],
        '/data/x',
      ),
    (e: AppError) => e.errors[0].path === '/data/x/1/1',
  );
  assert.throws(
    () => packInline([1, null], '/data/y'),
    (e: AppError) => e.errors[0].path === '/data/y/1',
  );
});

test('the validation split is a seeded shuffle, not the tail', () => {
  assert.deepEqual(shuffledIndices(50, 7), shuffledIndices(50, 7));
  assert.notDeepEqual(shuffledIndices(50, 7), shuffledIndices(50, 8));
  const { train, validation } = validationSplit(100, 0.2, 'seed');
  assert.equal(validation.length, 20);
  assert.equal(train.length, 80);
  assert.deepEqual(
    [...train, ...validation].sort((a, b) => a - b),
    Array.from({ length: 100 }, (_, i) => i),
  );
  assert.ok(
    validation.some((i) => i < 80),
    'a tail split would hold only indices 80..99',
  );
});
