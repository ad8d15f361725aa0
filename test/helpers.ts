import assert from 'node:assert/strict';
import { loadConfig } from '../src/config.ts';
import type { SweepRequest } from '../src/client/types.ts';
import type { JobStatus } from '../src/schemas/job-status.ts';
import { postJson, smallMnistJob, waitForJob, type TestService } from '../bench/service.ts';

// The in-process service and its HTTP helpers live in bench/ (the benchmarks use them too,
// and bench/ never imports test/); tests import them from here as before.
export {
  REDIS_URL,
  cleanup,
  getJson,
  postJson,
  readEvents,
  smallMnistJob,
  startService,
  testConfig,
  waitForJob,
  type SseEvent,
  type TestService,
} from '../bench/service.ts';

/** Submits a job and waits for its end, which must be `completed`; answers the job's record. */
export async function trainToCompletion(url: string, job: unknown) {
  const submitted = await postJson(`${url}/v1/jobs`, job);
  assert.equal(submitted.status, 202, JSON.stringify(submitted.body));
  const done = await waitForJob(url, submitted.body.id);
  assert.equal(done.status, 'completed', JSON.stringify(done.error));
  return done;
}

/** TFJS_BACKEND and TFJS_ACCELERATION of this test run, for tests that start the backend themselves (`initBackend(...testBackend())`). */
export function testBackend() {
  const { TFJS_BACKEND, TFJS_ACCELERATION } = loadConfig({
    TFJS_BACKEND: process.env.TFJS_BACKEND,
    TFJS_ACCELERATION: process.env.TFJS_ACCELERATION,
  });
  return [TFJS_BACKEND, TFJS_ACCELERATION] as const;
}

/**
 * A sweep of two trials over the learning rate (a grid), one epoch each on 256 digits, a
 * validation split for its val_acc objective: done in seconds.
 */
/** A sweep's base job of a few seconds: 256 digits, a small dense net, a validation split for val_* objectives. */
export const sweepBaseJob = (epochs = 2) =>
  smallMnistJob({
    compile: {
      optimizer: { type: 'adam', learningRate: 0.01 },
      loss: 'categoricalCrossentropy',
      metrics: ['accuracy'],
    },
    data: { ...smallMnistJob().data, limit: { train: 256, test: 64 } },
    fit: { epochs, batchSize: 32, validationSplit: 0.25, shuffle: true, seed: 1 },
    evaluate: false,
  });

export const tinySweep = (name: string): SweepRequest => ({
  name,
  job: sweepBaseJob(1),
  parameters: { '/compile/optimizer/learningRate': { values: [0.01, 1e-7] } },
  strategy: { type: 'grid' },
  objective: { metric: 'val_acc', goal: 'max' },
  maxTrials: 2,
  parallelism: 2,
});

/** A job slow enough to be caught mid-run: many small batches per epoch. */
export const slowJob = (epochs: number, extra: Record<string, unknown> = {}) => ({
  ...smallMnistJob(),
  data: { ...smallMnistJob().data, limit: { train: 1024, test: 128 } },
  fit: { epochs, batchSize: 16, validationSplit: 0, shuffle: true, ...extra },
});

/** Requests to the API as one tenant: every call sends `Authorization: Bearer <key>` (none when `key` is undefined). */
export function apiAs(base: string, key?: string) {
  const auth: Record<string, string> = key ? { authorization: `Bearer ${key}` } : {};
  const call = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
    const response = await fetch(`${base}${path}`, {
      method,
      headers: { ...auth, ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await response.text();
    let parsed: any = text;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      // not JSON (an artifact, a page): keep the text
    }
    return { status: response.status, headers: response.headers, body: parsed };
  };
  return {
    headers: auth,
    get: (path: string) => call('GET', path),
    post: (path: string, body?: unknown, headers?: Record<string, string>) => call('POST', path, body, headers),
    put: (path: string, body?: unknown) => call('PUT', path, body),
    delete: (path: string) => call('DELETE', path),
    /** Follows a job, as this tenant, until it reaches one of `statuses` (default: it ended); answers its record. */
    waitFor: (id: string, statuses?: readonly JobStatus[], timeoutMs?: number) =>
      waitForJob(base, id, statuses, timeoutMs, key),
  };
}

/**
 * Waits (bounded) until the worker's processor has returned for job `id`: a job's record says
 * it ended a moment before the worker clears what it kept for it (checkpoints, inline data).
 */
export async function workerFinished(service: Pick<TestService, 'app'>, id: string) {
  const job = await service.app.services.queue().getJob(id);
  for (let i = 0; i < 400 && job && !['completed', 'failed'].includes(await job.getState()); i++)
    await new Promise((r) => setTimeout(r, 25));
}
