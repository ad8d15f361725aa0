/**
 * `npm run bench:alias`: predict traffic through a registry alias (`/v1/registry/{name}/aliases/
 * {alias}/predict`) while the alias moves between two versions, against the same traffic with
 * the alias still, alternately, in the same run. Counts failed requests and mixed answers (an
 * answer whose predictions are not exactly those of the version it says served it) and prints
 * request rates and latency percentiles. JSON lines on stdout, a table on stderr.
 *
 *   flags: --clients=N (8) --seconds=N (5) --move-ms=N (100: one alias move every this long) --rounds=N (3)
 */
import { emit, median, percentile, round, table } from './stats.ts';
import { postJson, smallMnistJob, startService, testConfig, waitForJob } from './service.ts';

const args = new Map(
  process.argv.slice(2).map((a) => {
    const [k, v] = a.replace(/^--/, '').split('=');
    return [k, v ?? 'true'] as const;
  }),
);
const clients = Number(args.get('clients') ?? 8);
const seconds = Number(args.get('seconds') ?? 5);
const moveMs = Number(args.get('move-ms') ?? 100);
const rounds = Number(args.get('rounds') ?? 3);

// The rate limit stays on but out of reach: a 429 would be cheaper than a prediction and flatter us.
const service = await startService({ config: await testConfig({ RATE_LIMIT_PER_MINUTE: '1000000000' }) });
const put = (path: string, body: unknown) =>
  fetch(`${service.url}${path}`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  }).then((r) => r.json() as Promise<any>);
const instances = [Array.from({ length: 784 }, (_, i) => (i * 37) % 256)];

// Two versions of one name, trained differently, so every answer says which one served it.
for (const seed of [1, 2]) {
  const job = await waitForJob(
    service.url,
    (
      await postJson(
        `${service.url}/v1/jobs`,
        smallMnistJob({ fit: { epochs: 1, batchSize: 64, validationSplit: 0, shuffle: true, seed } }),
      )
    ).body.id,
  );
  await postJson(`${service.url}/v1/registry/bench/versions`, { modelId: job.modelId });
}
const expected = new Map<number, string>();
for (const version of [1, 2])
  expected.set(
    version,
    JSON.stringify(
      (await postJson(`${service.url}/v1/registry/bench/versions/${version}/predict`, { instances })).body.predictions,
    ),
  );
await put('/v1/registry/bench/aliases/live', { version: 1 });

async function traffic(moving: boolean) {
  const latencies: number[] = [];
  let failed = 0;
  let mixed = 0;
  let moves = 0;
  const served = new Set<number>();
  const until = Date.now() + seconds * 1000;
  const client = async () => {
    while (Date.now() < until) {
      const started = performance.now();
      const answer = await postJson(`${service.url}/v1/registry/bench/aliases/live/predict`, { instances }).catch(
        () => ({ status: 0, body: undefined }),
      );
      latencies.push(performance.now() - started);
      if (answer.status !== 200) {
        failed++;
        if (failed === 1) process.stderr.write(`first failure: ${answer.status} ${JSON.stringify(answer.body)}\n`);
      } else if (JSON.stringify(answer.body.predictions) !== expected.get(answer.body.model.version)) mixed++;
      else served.add(answer.body.model.version);
    }
  };
  const mover = async () => {
    while (moving && Date.now() < until) {
      await put('/v1/registry/bench/aliases/live', { version: (moves % 2) + 1 });
      moves++;
      await new Promise((r) => setTimeout(r, moveMs));
    }
  };
  await Promise.all([...Array.from({ length: clients }, client), mover()]);
  latencies.sort((a, b) => a - b);
  return {
    mode: moving ? 'alias moving' : 'alias still',
    requests: latencies.length,
    'req/s': round(latencies.length / seconds, 1),
    failed,
    mixed,
    moves,
    versions: [...served].sort().join(','),
    'p50 ms': round(percentile(latencies, 50), 2),
    'p99 ms': round(percentile(latencies, 99), 2),
  };
}

try {
  const results: Awaited<ReturnType<typeof traffic>>[] = [];
  for (let round_ = 1; round_ <= rounds; round_++)
    for (const moving of round_ % 2 ? [false, true] : [true, false]) {
      const r = await traffic(moving);
      results.push(r);
      emit({ kind: 'alias-switch', round: round_, ...r });
    }
  const summary = ['alias still', 'alias moving'].map((mode) => {
    const of = results.filter((r) => r.mode === mode);
    return {
      mode,
      rounds: of.length,
      requests: of.reduce((s, r) => s + r.requests, 0),
      moves: of.reduce((s, r) => s + r.moves, 0),
      failed: of.reduce((s, r) => s + r.failed, 0),
      mixed: of.reduce((s, r) => s + r.mixed, 0),
      'req/s': median(of.map((r) => r['req/s'])),
      'p50 ms': median(of.map((r) => r['p50 ms'])),
      'p99 ms': median(of.map((r) => r['p99 ms'])),
    };
  });
  table(
    `alias switch: ${clients} clients, ${seconds} s per run, a move every ${moveMs} ms; medians of ${rounds}`,
    summary,
  );
  const [still, moving] = summary;
  process.stderr.write(
    `moving/still: req/s x${round(moving['req/s'] / still['req/s'])}, p99 x${round(moving['p99 ms'] / still['p99 ms'])}; failed ${moving.failed}, mixed ${moving.mixed}\n`,
  );
} finally {
  await service.close();
}
