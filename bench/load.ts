/**
 * A closed-loop HTTP load generator for bench/run.ts, in its own process so it does not
 * share an event loop with the servers it measures. `concurrency` keep-alive connections
 * each send the next request as soon as the last answered, for `seconds` after a warm-up.
 * Env: LOAD_URL, LOAD_BODY_FILE, LOAD_CONCURRENCY, LOAD_SECONDS. Prints one JSON line.
 */
import http from 'node:http';
import { readFileSync } from 'node:fs';
import { percentile } from './stats.ts';

const url = new URL(process.env.LOAD_URL!);
const body = readFileSync(process.env.LOAD_BODY_FILE!);
const concurrency = Number(process.env.LOAD_CONCURRENCY ?? 8);
const seconds = Number(process.env.LOAD_SECONDS ?? 5);
const warmupMs = Number(process.env.LOAD_WARMUP_MS ?? 1000);
const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });

function once(): Promise<{ status: number; bytes: number; text?: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        agent,
        host: url.hostname,
        port: url.port,
        path: url.pathname,
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-length': body.length },
      },
      (res) => {
        let bytes = 0;
        // Only a failed answer's text is kept, for the report.
        let text = '';
        res.on('data', (c: Buffer) => {
          bytes += c.length;
          if (res.statusCode !== 200 && text.length < 300) text += c.toString();
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, bytes, text }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

const latencies: number[] = [];
let errors = 0;
/** Every request, warm-up included: the server's CPU time is divided by this. */
let sent = 0;
let firstError: string | undefined;
let responseBytes = 0;
const start = performance.now();
const measureFrom = start + warmupMs;
const end = measureFrom + seconds * 1000;
await Promise.all(
  Array.from({ length: concurrency }, async () => {
    while (performance.now() < end) {
      const t = performance.now();
      const { status, bytes, text } = await once().catch((err: Error) => ({ status: 0, bytes: 0, text: err.message }));
      const done = performance.now();
      sent++;
      if (t < measureFrom) continue;
      if (status !== 200) {
        errors++;
        firstError ??= `${status} ${text?.slice(0, 300)}`;
      }
      latencies.push(done - t);
      responseBytes = bytes;
    }
  }),
);
latencies.sort((a, b) => a - b);
const line = JSON.stringify({
  requests: latencies.length,
  sent,
  errors,
  firstError,
  rps: latencies.length / seconds,
  p50: percentile(latencies, 50),
  p90: percentile(latencies, 90),
  p99: percentile(latencies, 99),
  max: latencies.at(-1),
  requestBytes: body.length,
  responseBytes,
});
process.stdout.write(`${line}\n`, () => process.exit(0));
