/**
 * The service in-process for tests and benchmarks: a throwaway config (its own Redis prefix
 * and data directory), the API on a free port with a worker, cleanup, and the HTTP calls
 * both make. It lives in bench/ because bench/ must not import test/; test/helpers.ts
 * re-exports it.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { buildApp, type App } from '../src/app.ts';
import { eventStream } from '../src/client/event-stream.ts';
import { TrainingClient } from '../src/client/index.ts';
import { loadConfig, type Config } from '../src/config.ts';
import type { JobRequest } from '../src/schemas/job-request.ts';
import { TERMINAL, type JobStatus } from '../src/schemas/job-status.ts';
import { startWorker, type TrainingWorker } from '../workers/worker.ts';

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/** A config of its own for each test: a unique Redis prefix and a temporary data directory. */
export async function testConfig(overrides: Partial<Record<keyof Config, string>> = {}): Promise<Config> {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'tts-test-'));
  return loadConfig({
    REDIS_URL,
    REDIS_PREFIX: `test-${randomUUID().slice(0, 8)}`,
    DATA_DIR: dataDir,
    LOG_LEVEL: 'silent',
    PORT: '0',
    TFJS_BACKEND: process.env.TFJS_BACKEND ?? 'auto',
    // `npm run test:stock` runs the training and predict tests again with this `off`.
    TFJS_ACCELERATION: process.env.TFJS_ACCELERATION ?? 'auto',
    ...overrides,
  });
}

/** Deletes every key under `prefix` (Redis is shared with whatever else runs here). */
export async function deleteKeys(redisUrl: string, prefix: string) {
  const redis = new Redis(redisUrl);
  let cursor = '0';
  do {
    const [next, found] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    if (found.length > 0) await redis.del(...found);
    cursor = next;
  } while (cursor !== '0');
  await redis.quit();
}

/** Deletes every key under the config's prefix and its data directory. */
export async function cleanup(config: Config) {
  await deleteKeys(config.REDIS_URL, config.REDIS_PREFIX);
  await rm(config.DATA_DIR, { recursive: true, force: true });
}

export interface TestService {
  config: Config;
  app: App;
  /** Base URL of the listening API, e.g. http://127.0.0.1:40123 */
  url: string;
  worker?: TrainingWorker;
  close(): Promise<void>;
}

/** The API listening on a free port, and (unless `worker: false`) an in-process worker whose jobs run in child processes. */
export async function startService(opts: { worker?: boolean; config?: Config } = {}): Promise<TestService> {
  const config = opts.config ?? (await testConfig());
  const app = await buildApp(config, { logger: false });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.server.address();
  const url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  const worker = opts.worker === false ? undefined : await startWorker(config, silentLogger);
  return {
    config,
    app,
    url,
    worker,
    close: async () => {
      await worker?.close();
      await app.close();
      await cleanup(config);
    },
  };
}

const noop = () => undefined;
const silentLogger = { info: noop, warn: noop, error: noop, debug: noop } as unknown as Parameters<
  typeof startWorker
>[1];

/** The MNIST recipe on a few hundred digits and one epoch: trains in a second or two. */
export function smallMnistJob(overrides: Partial<JobRequest> = {}): JobRequest {
  return {
    name: 'small-mnist',
    model: {
      layers: [
        { type: 'dense', units: 64, activation: 'relu', inputShape: [784] },
        { type: 'dense', units: 10, activation: 'softmax' },
      ],
    },
    compile: { optimizer: 'rmsprop', loss: 'categoricalCrossentropy', metrics: ['accuracy'] },
    data: {
      dataset: 'mnist',
      limit: { train: 512, test: 128 },
      inputs: { reshape: [784], scale: 1 / 255 },
      labels: { oneHot: 10 },
    },
    fit: { epochs: 1, batchSize: 64, validationSplit: 0, shuffle: true },
    evaluate: true,
    ...overrides,
  };
}

export async function postJson(url: string, body: unknown, headers: Record<string, string> = {}) {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  return { status: response.status, headers: response.headers, body: (await response.json()) as any };
}

export async function getJson(url: string) {
  const response = await fetch(url);
  return { status: response.status, headers: response.headers, body: (await response.json()) as any };
}

/**
 * Follows a job (the client's event stream) until it reaches one of `statuses`, and answers
 * its record, untyped like the answers above: tests read whatever came back.
 */
export async function waitForJob(
  base: string,
  id: string,
  statuses: readonly JobStatus[] = TERMINAL,
  timeoutMs = 120_000,
  apiKey?: string,
): Promise<any> {
  const client = new TrainingClient({ baseUrl: base, apiKey });
  const deadline = AbortSignal.timeout(timeoutMs);
  try {
    return await client.waitForJob(id, { statuses, signal: deadline });
  } catch (err) {
    if (!deadline.aborted) throw err;
    throw new Error(`job ${id} still ${(await client.getJob(id)).status} after ${timeoutMs} ms`);
  }
}

export interface SseEvent {
  id?: string;
  event: string;
  data: any;
}

/**
 * Reads one connection of a job's SSE stream (`url` may carry `?lastEventId=`), without
 * reconnecting, until the server closes it (after `end`) or `stopAfter` says to stop, and
 * returns the events with their ids and the heartbeat comments. `onEvent` sees each event as
 * it arrives: a test's signal that the stream is open and has delivered something. Tests of
 * the stream itself use this; the rest follow jobs with the client.
 */
export async function readEvents(
  url: string,
  opts: {
    lastEventId?: string;
    stopAfter?: (e: SseEvent) => boolean;
    onEvent?: (e: SseEvent) => void;
    timeoutMs?: number;
    headers?: Record<string, string>;
  } = {},
) {
  const signal = AbortSignal.timeout(opts.timeoutMs ?? 120_000);
  const events: SseEvent[] = [];
  const comments: string[] = [];
  const response = await fetch(url, {
    headers: {
      accept: 'text/event-stream',
      ...(opts.lastEventId ? { 'last-event-id': opts.lastEventId } : {}),
      ...opts.headers,
    },
    signal,
  });
  if (response.status !== 200) throw new Error(`SSE answered ${response.status}: ${await response.text()}`);
  for await (const m of eventStream(response.body!, (c) => comments.push(c))) {
    const e = { id: m.id, event: m.event ?? 'message', data: JSON.parse(m.data) };
    events.push(e);
    opts.onEvent?.(e);
    if (opts.stopAfter?.(e)) break;
  }
  return { events, comments, contentType: response.headers.get('content-type') };
}
