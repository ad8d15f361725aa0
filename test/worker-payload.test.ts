import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { QueueEvents } from 'bullmq';
import { Redis } from 'ioredis';
import { TRAINING_QUEUE } from '../src/jobs/training-queue.ts';
import { keys } from '../src/storage/keys.ts';
import { REDIS_URL, postJson, smallMnistJob, startService, waitForJob, type TestService } from './helpers.ts';

// What a worker takes from Redis is checked against the schemas, not cast: anyone who can
// write to Redis (another version of the service, an operator by hand) can put anything there.
describe('the worker checks what it reads from Redis', () => {
  let service: TestService;
  let redis: Redis;
  before(async () => {
    service = await startService();
    redis = new Redis(REDIS_URL);
  });
  after(async () => {
    redis.disconnect();
    await service.close();
  });

  test('a stored request that does not match the JobRequest schema fails its job, naming the field', async () => {
    await service.worker!.worker.pause();
    let id: string;
    try {
      const submitted = await postJson(`${service.url}/v1/jobs`, smallMnistJob());
      assert.equal(submitted.status, 202, JSON.stringify(submitted.body));
      id = submitted.body.id;
      const broken = { ...smallMnistJob(), fit: { ...smallMnistJob().fit, epochs: 'three' } };
      await redis.hset(keys(service.config.REDIS_PREFIX).job(id), 'request', JSON.stringify(broken));
    } finally {
      service.worker!.worker.resume();
    }
    const job = await waitForJob(service.url, id, ['completed', 'failed'], 60_000);
    assert.equal(job.status, 'failed');
    assert.equal(job.error.code, 'invalid_stored_request');
    assert.match(job.error.message, /\/fit\/epochs/);
    assert.equal(job.modelId, null);
  });

  test('a queue payload that is not a job id fails at once, without retries', async () => {
    const events = new QueueEvents(TRAINING_QUEUE, {
      connection: { url: REDIS_URL },
      prefix: service.config.REDIS_PREFIX,
    });
    try {
      await events.waitUntilReady();
      const queued = await service.app.services
        .queue()
        .add('train', { jobId: '../../etc/passwd' } as never, { attempts: 3 });
      await assert.rejects(queued.waitUntilFinished(events, 60_000), /malformed queue payload/);
      const failed = await service.app.services.queue().getJob(queued.id!);
      assert.equal(failed?.attemptsMade, 1, 'an UnrecoverableError spends one attempt only');
    } finally {
      await events.close();
    }
  });
});
