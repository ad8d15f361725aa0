import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import S3rver from 's3rver';
import { freePort } from './ports.ts';

/** s3rver accepts any credentials; the SDK insists on having some. */
export const S3_CREDENTIALS = { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER' };

/**
 * A real S3-protocol server (s3rver, from npm) on a free port, with one bucket, in this
 * process: for the tests and benches of `s3://` storage. It can be stopped and started again
 * on the same port and folder, to play an outage.
 */
export async function startS3(bucket = 'tts-test') {
  const port = await freePort();
  const directory = await mkdtemp(path.join(tmpdir(), 'tts-s3rver-'));
  const endpoint = `http://127.0.0.1:${port}`;
  let server: Server | undefined;
  let refusing: ((req: IncomingMessage) => boolean) | undefined;
  /** `METHOD /bucket/key?query` of the requests the server received, latest last. */
  const requests: string[] = [];
  const start = async () => {
    const s3rver = new S3rver({ silent: true, directory, configureBuckets: [{ name: bucket, configs: [] }] });
    await s3rver.configureBuckets();
    const handle = s3rver.callback();
    // Our own HTTP server in front of s3rver's handler, so a test can make it refuse requests.
    server = createServer((req, res) => {
      requests.push(`${req.method} ${req.url}`);
      if (requests.length > 10_000) requests.shift();
      if (!refusing?.(req)) return void handle(req, res);
      req.resume();
      res.writeHead(500, { 'content-type': 'application/xml' });
      res.end('<Error><Code>InternalError</Code><Message>refused by the test</Message></Error>');
    });
    await new Promise<void>((resolve) => server!.listen(port, '127.0.0.1', resolve));
  };
  const stop = async () => {
    const running = server;
    server = undefined;
    if (!running) return;
    // The SDK keeps connections alive: close them, or close() waits for them.
    running.closeAllConnections();
    await new Promise<void>((resolve) => running.close(() => resolve()));
  };
  await start();
  // A client of our own, independent of the store under test, to check what the server holds.
  const client = new S3Client({
    region: 'us-east-1',
    endpoint,
    forcePathStyle: true,
    credentials: {
      accessKeyId: S3_CREDENTIALS.AWS_ACCESS_KEY_ID,
      secretAccessKey: S3_CREDENTIALS.AWS_SECRET_ACCESS_KEY,
    },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  return {
    bucket,
    endpoint,
    /** What a process needs in its environment to store in this bucket under `prefix`. */
    env: (prefix: string) => ({
      STORAGE_URL: `s3://${bucket}/${prefix}`,
      S3_ENDPOINT: endpoint,
      S3_FORCE_PATH_STYLE: 'true',
      ...S3_CREDENTIALS,
    }),
    /** Every object under `prefix`: key and size. */
    objects: async (prefix = '') => {
      const found: { key: string; size: number }[] = [];
      let token: string | undefined;
      do {
        const page = await client.send(
          new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
        );
        for (const o of page.Contents ?? []) found.push({ key: o.Key!, size: o.Size ?? 0 });
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token);
      return found;
    },
    /** An object's bytes as the server holds them. */
    bytes: async (key: string) => {
      const answer = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      return Buffer.from(await answer.Body!.transformToByteArray());
    },
    /** `METHOD /bucket/key?query` of the requests received (s3rver implements no ListMultipartUploads to ask it). */
    requests,
    /** From now on the server answers 500 to requests `predicate` picks (undefined: to none). */
    refuse: (predicate?: (req: IncomingMessage) => boolean) => {
      refusing = predicate;
    },
    start,
    stop,
    remove: async () => {
      await stop();
      client.destroy();
      await rm(directory, { recursive: true, force: true });
    },
  };
}

export type S3Server = Awaited<ReturnType<typeof startS3>>;
