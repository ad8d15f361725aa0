import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startS3, type S3Server } from '../bench/s3-server.ts';
import { DiskCache } from '../src/storage/disk-cache.ts';
import { FileObjectStore } from '../src/storage/file-object-store.ts';
import { StoreUnavailableError, type ObjectStore } from '../src/storage/object-store.ts';
import { S3ObjectStore } from '../src/storage/s3-object-store.ts';

const sha = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/** A directory to publish: one file over a multipart part (5 MB), one small, one empty. */
async function stagedDirectory(store: ObjectStore) {
  const dir = path.join(store.stagingRoot, `stage-${randomBytes(4).toString('hex')}`);
  await mkdir(dir, { recursive: true });
  const files = {
    'big.bin': randomBytes(11 * 1024 * 1024 + 7),
    'small.bin': randomBytes(1000),
    'empty.bin': Buffer.alloc(0),
  };
  for (const [name, bytes] of Object.entries(files)) await writeFile(path.join(dir, name), bytes);
  return { dir, files };
}

let s3: S3Server;
let scratch: string;
before(async () => {
  s3 = await startS3();
  scratch = await mkdtemp(path.join(tmpdir(), 'tts-object-store-'));
  Object.assign(process.env, s3.env('unused')); // the SDK's credential chain reads them
});
after(async () => {
  await s3.remove();
  await rm(scratch, { recursive: true, force: true });
});

const stores: [string, () => ObjectStore][] = [
  ['file:', () => new FileObjectStore(path.join(scratch, 'file-store'))],
  [
    's3://',
    () =>
      new S3ObjectStore({
        url: `s3://${s3.bucket}/contract`,
        endpoint: s3.endpoint,
        region: 'us-east-1',
        forcePathStyle: true,
        cache: new DiskCache(path.join(scratch, 'cache'), 1024 ** 3),
        stagingRoot: path.join(scratch, 'cache', '.staging'),
      }),
  ],
];

for (const [kind, make] of stores) {
  describe(`the ${kind} object store`, () => {
    let store: ObjectStore;
    before(() => {
      store = make();
    });

    test('stores bytes exactly, lists by prefix, and deletes', async () => {
      const bytes = randomBytes(1000);
      await store.put('things/a/one.bin', bytes);
      await store.put('things/a/two.json', '{"ok":true}');
      await store.put('things/b.bin', new Uint8Array(0));
      assert.equal(sha((await store.get('things/a/one.bin'))!), sha(bytes));
      assert.equal((await store.get('things/a/two.json'))!.toString(), '{"ok":true}');
      assert.equal(await store.get('things/a/missing'), undefined);
      assert.deepEqual(
        (await store.list('things/a/')).map((o) => [o.key, o.size]),
        [
          ['things/a/one.bin', 1000],
          ['things/a/two.json', 11],
        ],
      );
      assert.deepEqual(
        (await store.list('things/')).map((o) => o.key),
        ['things/a/one.bin', 'things/a/two.json', 'things/b.bin'],
      );
      await store.delete(['things/b.bin', 'things/never-was']);
      await store.deletePrefix('things/a');
      assert.deepEqual(await store.list('things/'), []);
    });

    test('publishes a directory whole (multipart above 5 MB), and reads it back as local files', async () => {
      const { dir, files } = await stagedDirectory(store);
      await store.publishDirectory(dir, 'sets/one');
      assert.deepEqual(await readdir(dir).catch(() => 'gone'), 'gone', 'the staged directory is moved, not copied');
      const copy = await store.openDirectory('sets/one');
      try {
        assert.deepEqual((await readdir(copy.dir)).sort(), Object.keys(files).sort());
        for (const [name, bytes] of Object.entries(files))
          assert.equal(sha(await readFile(path.join(copy.dir, name))), sha(bytes), name);
      } finally {
        copy.release();
      }
      await store.deletePrefix('sets/one');
      assert.deepEqual(await store.list('sets/'), []);
    });

    test("a dead writer's staging leftovers are swept once old; dataset drafts are left to their leases", async () => {
      const hourAgo = new Date(Date.now() - 2 * 3600_000);
      await mkdir(store.stagingRoot, { recursive: true });
      const plant = async (name: string, old: boolean) => {
        await writeFile(path.join(store.stagingRoot, name), 'half');
        if (old) await utimes(path.join(store.stagingRoot, name), hourAgo, hourAgo);
      };
      await plant('put-killed', true);
      await plant('model-killed', true);
      await plant('put-live', false);
      await plant('.tmp-draft', true);
      assert.equal(await store.sweepLeftovers(3600_000), 2);
      assert.deepEqual((await readdir(store.stagingRoot)).sort(), ['.tmp-draft', 'put-live']);
      await rm(store.stagingRoot, { recursive: true, force: true });
    });

    test('keys are checked: no way out of the store', async () => {
      for (const key of ['../escape', 'a/../../b', '/abs', 'a//b', ''])
        await assert.rejects(store.put(key, 'x'), /not an object key/, key);
    });
  });
}

describe('s3:// specifics', () => {
  let store: S3ObjectStore;
  let cacheRoot: string;
  before(() => {
    cacheRoot = path.join(scratch, 'cache-specifics');
    store = new S3ObjectStore({
      url: `s3://${s3.bucket}/specifics`,
      endpoint: s3.endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      cache: new DiskCache(cacheRoot, 1024 ** 3),
      stagingRoot: path.join(cacheRoot, '.staging'),
    });
  });

  test('the server holds exactly the bytes written (checksums are not stored into objects)', async () => {
    const { dir, files } = await stagedDirectory(store);
    await store.publishDirectory(dir, 'bytes');
    await store.put('bytes/put.bin', files['small.bin']);
    for (const [name, bytes] of [...Object.entries(files), ['put.bin', files['small.bin']] as const]) {
      const held = await s3.bytes(`specifics/bytes/${name}`);
      assert.equal(held.length, bytes.length, name);
      assert.equal(sha(held), sha(bytes), name);
    }
    await store.deletePrefix('bytes');
  });

  test('a publish that fails part-way aborts its multipart upload and leaves no object behind', async () => {
    const { dir } = await stagedDirectory(store);
    // `big.bin` goes first (names in order), as a multipart upload; its second part is refused.
    s3.refuse((req) => /[?&]partNumber=2(&|$)/.test(req.url ?? ''));
    try {
      await assert.rejects(store.publishDirectory(dir, 'broken'), StoreUnavailableError);
    } finally {
      s3.refuse(undefined);
    }
    assert.deepEqual(await s3.objects('specifics/broken/'), []);
    // s3rver keeps no list of multipart uploads to ask; what it was sent shows the upload was aborted.
    const started = s3.requests.filter((r) => /^POST \/tts-test\/specifics\/broken\/big\.bin\?uploads/.test(r));
    const aborted = s3.requests.filter((r) => /^DELETE \/tts-test\/specifics\/broken\/big\.bin\?uploadId=/.test(r));
    assert.deepEqual([started.length, aborted.length], [1, 1], s3.requests.slice(-10).join('\n'));
    await rm(dir, { recursive: true, force: true });
  });

  test('a store that is away is a StoreUnavailableError naming it, not a hang', async () => {
    await s3.stop();
    try {
      const error = await store.check(1_000).catch((err) => err);
      assert.ok(error instanceof StoreUnavailableError);
      assert.match(error.message, /s3:\/\/tts-test\/specifics\//);
      await assert.rejects(store.get('anything'), StoreUnavailableError);
      await assert.rejects(store.put('anything', 'x'), StoreUnavailableError);
    } finally {
      await s3.start();
    }
    await store.check(1_000);
  });

  test('the cache fills on a miss, answers a hit from disk, and evicts least recently used entries not in use', async () => {
    const cache = new DiskCache(path.join(scratch, 'lru'), 3000);
    let fills = 0;
    const fill = (bytes: number) => async (dir: string) => {
      fills++;
      await writeFile(path.join(dir, 'data.bin'), randomBytes(bytes));
    };
    const a = await cache.open('models/a', fill(1000));
    assert.equal(a.hit, false);
    a.release();
    const again = await cache.open('models/a', fill(1000));
    assert.equal(again.hit, true);
    again.release();
    assert.equal(fills, 1);
    // Entries used long ago (mtime) are the eviction candidates; `b` is old but held open.
    const b = await cache.open('models/b', fill(1000));
    const longAgo = new Date(Date.now() - 3600_000);
    await utimes(a.dir, longAgo, longAgo);
    await utimes(b.dir, new Date(Date.now() - 7200_000), new Date(Date.now() - 7200_000));
    const c = await cache.open('datasets/c', fill(1500));
    c.release();
    await cache.evict();
    const left = (await readdir(cache.root)).filter((n) => !n.startsWith('.')).sort();
    assert.deepEqual(left, ['datasets~c', 'models~b'], 'the oldest entry in use stays; the old idle one goes');
    b.release();
  });
});
