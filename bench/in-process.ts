/**
 * One in-process training run for bench/run.ts, in a fresh child process: the same
 * `planJob` + `train` the worker runs, with no API, queue or Redis. Prints one JSON line.
 * Env: BENCH_REQUEST (the job request JSON), TFJS_BACKEND, TFJS_ACCELERATION (`off`: stock
 * tfjs kernels, the "before"), and BENCH_STOCK_MATMUL=1 for the stock wasm matmul kernels alone.
 */
import { loadConfig } from '../src/config.ts';
import { initBackend } from '../src/compute/backend.ts';
import { planJob } from '../src/training/plan.ts';
import { train } from '../src/training/train.ts';
import { unrouteTransposedMatMuls } from '../src/compute/accelerations/wasm-matmul.ts';
import type { JobRequest } from '../src/schemas/job-request.ts';

const config = loadConfig();
const request = JSON.parse(process.env.BENCH_REQUEST ?? '{}') as JobRequest;
const backend = await initBackend(config.TFJS_BACKEND, config.TFJS_ACCELERATION);
if (process.env.BENCH_STOCK_MATMUL === '1') unrouteTransposedMatMuls();
const epochSeconds: number[] = [];
const started = performance.now();
const plan = planJob(request);
const result = await train(
  plan,
  request.data,
  {
    epoch: async (report) => void epochSeconds.push(report.elapsedMs / 1000),
    batch: async () => undefined,
    evaluation: async () => undefined,
  },
  'bench',
);
const wallSeconds = (performance.now() - started) / 1000;
result.model.dispose();
const line = JSON.stringify({
  backend,
  acceleration: config.TFJS_ACCELERATION,
  epochSeconds,
  history: result.history,
  evaluation: result.evaluation,
  wallSeconds,
  peakRssMb: process.resourceUsage().maxRSS / 1024,
});
process.stdout.write(`${line}\n`, () => process.exit(0));
