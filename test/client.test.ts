import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { ApiError, TrainingClient, type Job, type JobEvent, type SweepEvent } from '../src/client/index.ts';
import { cuttingProxy } from './cutting-proxy.ts';
import { smallMnistJob, startService, tinySweep, type TestService } from './helpers.ts';

const collect = async <T>(items: AsyncIterable<T>) => {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
};
const isEpoch = (e: JobEvent): e is Extract<JobEvent, { event: 'epoch' }> => e.event === 'epoch';

/** Rejects with an ApiError of `status`; returns it for more checks. */
async function apiError(promise: Promise<unknown>, status: number): Promise<ApiError> {
  const err = await promise.then(
    () => assert.fail(`expected an HTTP ${status}`),
    (e: unknown) => e,
  );
  assert.ok(err instanceof ApiError, String(err));
  assert.equal(err.status, status, err.message);
  return err;
}

describe('TrainingClient against the real service', () => {
  let service: TestService;
  let client: TrainingClient;
  let job: Job;
  /** The job's whole stream, read in one connection once it had ended. */
  let events: JobEvent[];

  before(async () => {
    service = await startService();
    client = new TrainingClient({ baseUrl: service.url });
  });
  after(() => service?.close());

  test('followJob through a connection cut after the first epoch resumes with Last-Event-ID: every event once, to end', async () => {
    job = await client.submitJob(
      smallMnistJob({ name: 'client-mnist', fit: { epochs: 3, batchSize: 64, validationSplit: 0, shuffle: true } }),
    );
    assert.equal(job.status, 'queued');
    const proxy = cuttingProxy(service.url);
    const reconnects: (string | undefined)[] = [];
    let resumed: JobEvent[];
    try {
      const proxied = new TrainingClient({ baseUrl: await proxy.listen() });
      resumed = await collect(
        proxied.followJob(job.id, { onReconnect: ({ lastEventId }) => reconnects.push(lastEventId) }),
      );
    } finally {
      await proxy.close();
    }
    events = await collect(client.followJob(job.id));
    const end = events.at(-1)!;
    assert.ok(end.event === 'end' && end.data.status === 'completed' && end.data.modelId, JSON.stringify(end));
    assert.deepEqual(
      events.filter(isEpoch).map((e) => e.data.epoch),
      [1, 2, 3],
    );
    assert.deepEqual(resumed, events, 'the cut stream, resumed, has every event once');
    const firstEpoch = events.find(isEpoch)!;
    assert.equal(proxy.streams.length, 2, 'one cut, one reconnect');
    assert.equal(proxy.streams[1].lastEventId, firstEpoch.id);
    assert.deepEqual(reconnects, [firstEpoch.id]);
  });

  test('followJob from a mid-stream lastEventId gives exactly the events after it', async () => {
    const second = events.findIndex((e) => isEpoch(e) && e.data.epoch === 2);
    assert.ok(second > 0);
    assert.deepEqual(
      await collect(client.followJob(job.id, { lastEventId: events[second].id })),
      events.slice(second + 1),
    );
  });

  test('waitForJob, the job and model listings, predict (instances or the body), the registry, deleteModel', async () => {
    const done = await client.waitForJob(job.id);
    assert.equal(done.status, 'completed', JSON.stringify(done.error));
    assert.deepEqual(Object.keys(done.history).sort(), ['acc', 'loss']);
    const modelId = done.modelId!;
    assert.ok((await client.listJobs({ status: 'completed', limit: 5 })).items.some((j) => j.id === job.id));
    assert.ok((await client.listModels()).items.some((m) => m.id === modelId));
    const model = await client.getModel(modelId);
    assert.equal(model.jobId, job.id);
    assert.deepEqual(model.transforms.featureShape, [28, 28]);

    const pixels = (seed: number) => Array.from({ length: 784 }, (_, i) => (i * 37 + seed * 101) % 256);
    const answer = await client.predict(modelId, [pixels(1), pixels(2)]);
    assert.equal(answer.predictions.length, 2);
    assert.equal((answer.predictions[0] as number[]).length, 10);
    assert.equal(answer.classes!.length, 2);
    assert.deepEqual(answer.model, { modelId });
    assert.deepEqual(await client.predict(modelId, { instances: [pixels(1), pixels(2)] }), answer);

    // The registry: a version, an alias, predict by name, and the model held until the version goes.
    const version = await client.registerVersion('client-digits', { modelId, description: 'from the client' });
    assert.deepEqual([version.name, version.version, version.modelId], ['client-digits', 1, modelId]);
    assert.deepEqual(await client.setAlias('client-digits', 'production', 1), {
      name: 'client-digits',
      alias: 'production',
      version: 1,
      previousVersion: null,
    });
    assert.equal((await client.getAlias('client-digits', 'production')).history.length, 1);
    assert.deepEqual((await client.getVersion('client-digits', 1)).aliases, ['production']);
    assert.deepEqual(
      (await client.listRegistry()).items.map((r) => r.name),
      ['client-digits'],
    );
    assert.equal((await client.getRegisteredModel('client-digits')).latestVersion, 1);
    for (const ref of [
      { name: 'client-digits' },
      { name: 'client-digits', version: 1 },
      { name: 'client-digits', alias: 'production' },
    ]) {
      const byName = await client.predictByName(ref, [pixels(1), pixels(2)]);
      assert.deepEqual(byName.model, { name: 'client-digits', version: 1, modelId }, JSON.stringify(ref));
      assert.deepEqual(byName.classes, answer.classes);
    }
    await apiError(client.deleteModel(modelId), 409);
    await apiError(client.deleteVersion('client-digits', 1), 409);
    await client.deleteAlias('client-digits', 'production');
    await client.deleteVersion('client-digits', 1);

    await client.deleteModel(modelId);
    await apiError(client.getModel(modelId), 404);
  });

  test('a refused request is an ApiError with the problem body, its message naming the field', async () => {
    const bad = await apiError(client.submitJob({ ...smallMnistJob(), fit: { epochs: 0 } }), 400);
    assert.ok(
      bad.problem?.errors?.some((e) => e.path === '/fit/epochs'),
      JSON.stringify(bad.body),
    );
    assert.match(bad.message, /\/fit\/epochs/);
    assert.match(bad.message, /\(HTTP 400\)/);
    const missing = await apiError(client.getJob('01a218af-0000-7000-8000-000000000000'), 404);
    assert.equal(missing.problem?.code, 'not_found');
    await apiError(client.cancelJob(job.id), 409);
  });

  test('cancelJob stops a job; waitForJob sees it cancelled', async () => {
    const long = await client.submitJob(
      smallMnistJob({ name: 'client-cancel', fit: { epochs: 50, batchSize: 16, validationSplit: 0, shuffle: true } }),
    );
    const asked = await client.cancelJob(long.id, { keepModel: false });
    assert.ok(['running', 'cancelled'].includes(asked.status), asked.status);
    const cancelled = await client.waitForJob(long.id, { statuses: ['cancelled'] });
    assert.equal(cancelled.status, 'cancelled');
    assert.equal(cancelled.modelId, null);
  });

  test('sweeps: submit, followSweep to its end (every event once, in order), get, list, resume mid-stream, cancel a finished one is a 409', async () => {
    const submitted = await client.submitSweep(tinySweep('client-sweep'));
    assert.equal(submitted.status, 'running');
    assert.deepEqual(
      submitted.trials.map((t) => t.parameters['/compile/optimizer/learningRate']),
      [0.01, 1e-7],
    );
    const events: SweepEvent[] = await collect(client.followSweep(submitted.id));
    const end = events.at(-1)!;
    assert.ok(end.event === 'end' && end.data.status === 'completed', JSON.stringify(end));
    assert.equal(events.filter((e) => e.event === 'end').length, 1);
    // Stream ids rise: the events come in the order they were written.
    const ids = events.map((e) => e.id.split('-').map(Number));
    for (let i = 1; i < ids.length; i++)
      assert.ok(ids[i][0] > ids[i - 1][0] || (ids[i][0] === ids[i - 1][0] && ids[i][1] > ids[i - 1][1]), String(i));
    for (const index of [0, 1]) {
      const own = events.filter((e) => e.event !== 'end' && e.data.index === index);
      // The `running` transition is the sweep's view, taken by a reconcile that may come after the trial's first epoch.
      assert.deepEqual(
        own.filter((e) => e.event === 'trial').map((e) => (e.event === 'trial' ? e.data.status : '')),
        ['pending', 'queued', 'running', 'completed'],
        `trial ${index}`,
      );
      assert.equal(own.filter((e) => e.event === 'epoch').length, 1, `trial ${index}'s epochs`);
      const epoch = own.find((e) => e.event === 'epoch')!;
      assert.ok(epoch.event === 'epoch' && epoch.data.epoch === 1 && typeof epoch.data.metrics.val_acc === 'number');
    }
    const bests = events.filter((e) => e.event === 'best');
    assert.ok(bests.length >= 1);

    const sweep = await client.waitForSweep(submitted.id);
    assert.equal(sweep.status, 'completed');
    assert.deepEqual(end.data.best, sweep.best);
    assert.deepEqual(bests.at(-1)!.data, { index: sweep.best!.index, objective: sweep.best!.objective });
    assert.equal(sweep.best!.objective, Math.max(...sweep.trials.map((t) => t.objective!)));
    assert.equal(sweep.request, undefined);
    const withRequest = await client.getSweep(submitted.id, { request: true });
    assert.equal((withRequest.request as { name: string }).name, 'client-sweep');
    assert.ok(
      (await client.listSweeps({ limit: 5 })).items.some((s) => s.id === submitted.id && s.status === 'completed'),
    );
    assert.deepEqual(await collect(client.followSweep(submitted.id, { lastEventId: events[2].id })), events.slice(3));

    const refused = await apiError(client.cancelSweep(submitted.id), 409);
    assert.match(refused.message, /already completed \(HTTP 409\)/);
    await apiError(client.getSweep('01a218af-0000-7000-8000-000000000000'), 404);
  });

  test('datasets: upload a file (multipart) and a stream (raw body), get, list, delete', async () => {
    const csv = 'a,b,species\n1,2,x\n2,3,y\n3,1,x\n4,4,y\n';
    const file = await client.uploadDataset({ file: new File([csv], 'tiny.csv'), name: 'tiny', label: 'species' });
    assert.deepEqual(
      [file.name, file.format, file.rows, file.label, file.featureShape],
      ['tiny', 'csv', 4, 'species', [2]],
    );
    const streamed = await client.uploadDataset({
      file: Readable.from([Buffer.from(csv)]),
      format: 'csv',
      name: 'streamed',
    });
    assert.deepEqual([streamed.name, streamed.rows, streamed.label], ['streamed', 4, 'species']);
    await assert.rejects(
      client.uploadDataset({ file: Readable.from([Buffer.from(csv)]) }),
      /set format to csv or json/,
    );

    assert.equal((await client.getDataset(file.id)).columns.length, 3);
    const ids = (await client.listDatasets()).items.map((d) => d.id);
    for (const id of ['mnist', file.id, streamed.id]) assert.ok(ids.includes(id), `${id} in ${ids}`);
    await client.deleteDataset(file.id);
    await client.deleteDataset(streamed.id);
    await apiError(client.getDataset(file.id), 404);
    await apiError(client.deleteDataset('mnist'), 409);
  });
});
