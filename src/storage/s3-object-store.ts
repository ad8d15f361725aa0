import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import {
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadBucketCommand,
  NoSuchKey,
  PutObjectCommand,
  S3Client,
  paginateListObjectsV2,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import type { DiskCache } from './disk-cache.ts';
import { LEFTOVER_AGE_MS, sweepStaging } from './staging.ts';
import { checkKey, folder, StoreUnavailableError, type ObjectStore, type StoredObject } from './object-store.ts';

export interface S3Options {
  /** `s3://bucket/prefix` */
  url: string;
  endpoint?: string;
  region: string;
  forcePathStyle: boolean;
  cache: DiskCache;
  /** A local folder for directories being built before they are uploaded. */
  stagingRoot: string;
}

/** Parts of a multipart upload: the SDK's minimum, two in flight, so an upload holds ~10 MB. */
const PART_BYTES = 5 * 1024 * 1024;
const PARTS_IN_FLIGHT = 2;
/** S3 deletes at most this many keys per request. */
const DELETE_BATCH = 1000;

/**
 * `s3://` storage through the official SDK: objects are S3 objects under the URL's prefix,
 * directories are uploaded file by file with streaming multipart uploads (an aborted upload
 * leaves no object), and reads go through this machine's DiskCache.
 */
export class S3ObjectStore implements ObjectStore {
  readonly location: string;
  readonly stagingRoot: string;
  private readonly bucket: string;
  private readonly prefix: string;
  private readonly client: S3Client;
  private readonly cache: DiskCache;

  constructor(options: S3Options) {
    const url = new URL(options.url);
    this.bucket = url.hostname;
    const prefix = url.pathname.replace(/^\/+/, '');
    this.prefix = prefix === '' ? '' : folder(prefix);
    this.location = `s3://${this.bucket}/${this.prefix}`;
    this.cache = options.cache;
    this.stagingRoot = options.stagingRoot;
    this.client = new S3Client({
      region: options.region,
      endpoint: options.endpoint || undefined,
      forcePathStyle: options.forcePathStyle,
      // The SDK's default checksums (a trailer on streamed bodies) are stored as part of the
      // object by some S3-compatible servers (s3rver wrote 1,043 bytes for 1,000): only when required.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      // An outage must fail fast (the API answers 503 within 2 s), not retry for a minute.
      maxAttempts: 2,
      requestHandler: { connectionTimeout: 1_000, requestTimeout: 30_000 },
    });
  }

  private key(key: string) {
    return `${this.prefix}${checkKey(key)}`;
  }

  /** A listing's prefix: a key, a folder or the start of one, or '' for everything. */
  private listPrefix(prefix: string) {
    return prefix === '' ? this.prefix : this.key(prefix);
  }

  /** Every SDK call goes through here: any failure but a missing key is the store being away. */
  private async call<T>(run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (err) {
      if (err instanceof StoreUnavailableError || err instanceof NoSuchKey) throw err;
      throw new StoreUnavailableError(this.location, err);
    }
  }

  async put(key: string, body: Uint8Array | string) {
    const Key = this.key(key);
    await this.call(() => this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key, Body: body })));
  }

  async get(key: string): Promise<Buffer | undefined> {
    const Key = this.key(key);
    try {
      return await this.call(async () => {
        const answer = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key }));
        return Buffer.from(await answer.Body!.transformToByteArray());
      });
    } catch (err) {
      if (err instanceof NoSuchKey) return undefined;
      throw err;
    }
  }

  async list(prefix: string): Promise<StoredObject[]> {
    const Prefix = this.listPrefix(prefix);
    return this.call(async () => {
      const found: StoredObject[] = [];
      const pages = paginateListObjectsV2({ client: this.client }, { Bucket: this.bucket, Prefix });
      for await (const page of pages)
        for (const o of page.Contents ?? [])
          found.push({
            key: o.Key!.slice(this.prefix.length),
            size: o.Size ?? 0,
            modified: o.LastModified ?? new Date(0),
          });
      return found;
    });
  }

  async delete(keys: string[]) {
    for (let i = 0; i < keys.length; i += DELETE_BATCH) {
      const batch = keys.slice(i, i + DELETE_BATCH).map((k) => ({ Key: this.key(k) }));
      const answer = await this.call(() =>
        this.client.send(new DeleteObjectsCommand({ Bucket: this.bucket, Delete: { Objects: batch, Quiet: true } })),
      );
      const failed = answer.Errors ?? [];
      if (failed.length > 0)
        throw new StoreUnavailableError(
          this.location,
          new Error(`${failed.length} deletes refused: ${failed[0].Code}`),
        );
    }
  }

  async deletePrefix(prefix: string) {
    const keys = (await this.list(folder(prefix))).map((o) => o.key);
    if (keys.length > 0) await this.delete(keys);
  }

  async publishDirectory(localDir: string, prefix: string) {
    const uploaded: string[] = [];
    try {
      for (const file of (await readdir(localDir)).sort()) {
        const key = `${folder(prefix)}${file}`;
        await this.upload(key, createReadStream(path.join(localDir, file)));
        uploaded.push(key);
      }
    } catch (err) {
      // Each failed upload aborted its own multipart upload; the finished ones go too.
      await this.delete(uploaded).catch(() => undefined);
      throw err;
    }
    await rm(localDir, { recursive: true, force: true });
  }

  /** A streamed upload: one PUT under a part's size, a multipart upload (aborted on failure) above. */
  private async upload(key: string, body: Readable) {
    const Key = this.key(key);
    await this.call(() =>
      new Upload({
        client: this.client,
        params: { Bucket: this.bucket, Key, Body: body },
        partSize: PART_BYTES,
        queueSize: PARTS_IN_FLIGHT,
        leavePartsOnError: false,
      }).done(),
    );
  }

  async openDirectory(prefix: string) {
    return this.cache.open(prefix, async (dir) => {
      for (const object of await this.list(folder(prefix))) {
        const file = path.join(dir, object.key.slice(folder(prefix).length));
        await mkdir(path.dirname(file), { recursive: true });
        const Key = this.key(object.key);
        await this.call(async () => {
          const answer = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key }));
          await pipeline(answer.Body as Readable, createWriteStream(file));
        });
      }
    });
  }

  async forget(prefix: string) {
    await this.cache.forget(prefix);
  }

  async sweepLeftovers(olderThanMs = LEFTOVER_AGE_MS) {
    return (await sweepStaging(this.stagingRoot, olderThanMs)) + (await this.cache.sweep(olderThanMs));
  }

  async check(timeoutMs: number) {
    await this.call(() =>
      this.client.send(new HeadBucketCommand({ Bucket: this.bucket }), { abortSignal: AbortSignal.timeout(timeoutMs) }),
    );
  }
}
