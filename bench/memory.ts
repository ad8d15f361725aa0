/**
 * Memory hygiene: runs N small training jobs (default 50) one after another through a real
 * worker and prints the training child's RSS and tf.memory() after each (JSON lines), then
 * a summary. Flat numbers mean tensors are disposed and nothing accumulates per job.
 *
 *   npm run bench:memory -- [--jobs 50]
 */
import { TrainingClient } from '../src/client/index.ts';
import { smallMnistJob, startService } from './service.ts';
import { emit, table } from './stats.ts';

const jobs = Number(process.argv[process.argv.indexOf('--jobs') + 1]) || 50;
const service = await startService();
const client = new TrainingClient({ baseUrl: service.url });
const samples: { job: number; rssMB: number; numTensors: number; numBytes: number }[] = [];
try {
  for (let i = 1; i <= jobs; i++) {
    const job = await client.waitForJob((await client.submitJob(smallMnistJob())).id);
    if (job.status !== 'completed') throw new Error(`job ${i} ${job.status}: ${JSON.stringify(job.error)}`);
    // The record turns `completed` a moment before BullMQ stores the processor's return value.
    let bull = await service.app.services.queue().getJob(job.id);
    while (!bull?.returnvalue) {
      await new Promise((r) => setTimeout(r, 20));
      bull = await service.app.services.queue().getJob(job.id);
    }
    const { rss, numTensors, numBytes } = bull.returnvalue.memory;
    const sample = { job: i, rssMB: Math.round(rss / 2 ** 20), numTensors, numBytes };
    samples.push(sample);
    emit({ bench: 'memory', ...sample });
    await client.deleteModel(job.modelId!);
  }
} finally {
  await service.close();
}
const at = (n: number) => samples[Math.min(n, samples.length) - 1];
const tail = samples.slice(Math.min(10, samples.length - 1));
const slope = tail.length > 1 ? (tail.at(-1)!.rssMB - tail[0].rssMB) / (tail.length - 1) : 0;
emit({
  bench: 'memory-summary',
  jobs,
  rssFirstMB: at(1).rssMB,
  rss10MB: at(10).rssMB,
  rssLastMB: at(jobs).rssMB,
  rssSlopeMBPerJobAfter10: Number(slope.toFixed(3)),
  tensorsFirst: at(1).numTensors,
  tensorsLast: at(jobs).numTensors,
  bytesLast: at(jobs).numBytes,
});
table(
  'training child after each job',
  samples.filter((s) => s.job === 1 || s.job % 10 === 0),
);
