import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Command, Option } from 'commander';
import {
  ApiError,
  TrainingClient,
  type JobEnd,
  type JobRequest,
  type JobStatus,
  type UploadQuery,
} from '../client/index.ts';
import { follow } from './follow.ts';
import { age, formatMetrics, formatNumber, summaryText, table } from './format.ts';
import { readInstances, readJson } from './input.ts';
import { parseModelRef, registryCommand } from './registry.ts';
import { sweepCommand } from './sweeps.ts';

/** Exit codes: 0 the job completed (or the command worked), 1 it failed or an error, 2 it was cancelled. */
const EXIT = { ok: 0, failed: 1, cancelled: 2 } as const;

const out = process.stdout;
const print = (text: string): void => {
  out.write(`${text}\n`);
};
const json = (value: unknown): void => print(JSON.stringify(value, null, 2));

const program = new Command('tts')
  .description(
    'Command line for the training service: submit and follow jobs and sweeps, list them, predict, register models, upload datasets.',
  )
  .addOption(new Option('--url <url>', 'service base URL').env('TTS_URL').default('http://127.0.0.1:3000'))
  .addOption(
    new Option('--key <key>', 'API key, sent as Authorization: Bearer (a service with API_KEYS set wants one)').env(
      'TTS_API_KEY',
    ),
  )
  .showHelpAfterError();

const client = () => {
  const { url, key } = program.opts<{ url: string; key?: string }>();
  return new TrainingClient({ baseUrl: url, apiKey: key });
};

/** The one line a 401 prints, whichever command met it: what to set, not the server's wording. */
function unauthorized(): string {
  return program.opts<{ key?: string }>().key
    ? 'the API refused the key: set TTS_API_KEY or --key to a valid one (HTTP 401)'
    : 'the API wants a key: set TTS_API_KEY or --key (HTTP 401)';
}

async function followToEnd(id: string): Promise<number> {
  // Ctrl-C stops watching, not the job: say how to stop it, and give the cursor back.
  process.once('SIGINT', () => {
    process.stderr.write(`\x1b[?25h\nstopped following; job ${id} goes on (tts cancel ${id} stops it)\n`);
    process.exit(130);
  });
  const end: JobEnd = await follow(client(), id, { out: process.stdout, err: process.stderr });
  if (end.status === 'completed') {
    print(`Job ${id} completed${end.modelId ? `: model ${end.modelId}` : ''}`);
    return EXIT.ok;
  }
  if (end.status === 'cancelled') {
    process.stderr.write(`Job ${id} was cancelled${end.modelId ? ` (model ${end.modelId} kept)` : ''}\n`);
    return EXIT.cancelled;
  }
  process.stderr.write(
    `Job ${id} failed: ${end.error ? `${end.error.code}: ${end.error.message}` : 'no reason given'}\n`,
  );
  return EXIT.failed;
}

program
  .command('submit')
  .description('submit a job request (a JSON file, "-" for stdin) and follow it to the end')
  .argument('<file>', 'job request JSON, e.g. examples/mnist.json')
  .option('--name <name>', 'override the job name')
  .option('--no-follow', 'print the job id and return at once')
  .action(async (file: string, opts: { name?: string; follow: boolean }) => {
    // The service checks the request; the CLI only passes it on.
    const request = (await readJson(file)) as JobRequest;
    if (opts.name) request.name = opts.name;
    const job = await client().submitJob(request);
    if (!opts.follow) return print(job.id);
    print(
      `Job ${job.id} (${job.name}) ${job.status}${job.queuePosition ? `, queue position ${job.queuePosition}` : ''}`,
    );
    process.exitCode = await followToEnd(job.id);
  });

program
  .command('follow')
  .description("follow a job's progress until it ends (exit code: 0 completed, 1 failed, 2 cancelled)")
  .argument('<job>', 'job id')
  .action(async (id: string) => {
    process.exitCode = await followToEnd(id);
  });

program
  .command('jobs')
  .description('list jobs, newest first')
  .option('--status <status>', 'only jobs with this status (queued, running, completed, failed, cancelled)')
  .option('--limit <n>', 'how many', '20')
  .option('--json', 'print the API answer')
  .action(async (opts: { status?: string; limit: string; json?: boolean }) => {
    const page = await client().listJobs({ limit: Number(opts.limit), status: opts.status as JobStatus | undefined });
    if (opts.json) return json(page);
    print(
      table(
        ['ID', 'NAME', 'STATUS', 'QUEUE', 'EPOCH', 'CREATED', 'LAST METRICS'],
        page.items.map((j) => [
          j.id,
          j.name,
          j.status,
          j.queuePosition ?? '',
          `${j.progress.epoch}/${j.progress.epochs}`,
          age(j.createdAt),
          formatMetrics(lastMetrics(j.history)),
        ]),
      ),
    );
  });

program
  .command('job')
  .description('show a job: status, progress, metrics per epoch, evaluation, model summary')
  .argument('<job>', 'job id')
  .option('--json', 'print the API answer')
  .action(async (id: string, opts: { json?: boolean }) => {
    const job = await client().getJob(id);
    if (opts.json) return json(job);
    print(
      `Job ${job.id} (${job.name}): ${job.status}, epoch ${job.progress.epoch}/${job.progress.epochs}, created ${age(job.createdAt)}`,
    );
    if (job.queuePosition) print(`Queue position: ${job.queuePosition}`);
    if (job.error) print(`Error: ${job.error.code}: ${job.error.message}`);
    if (job.modelId) print(`Model: ${job.modelId}`);
    const epochs = Math.max(0, ...Object.values(job.history).map((v) => v.length));
    for (let e = 0; e < epochs; e++) {
      print(
        `Epoch ${e + 1}/${job.progress.epochs} - ${formatMetrics(Object.fromEntries(Object.entries(job.history).map(([k, v]) => [k, v[e]])))}`,
      );
    }
    if (job.evaluation) printEvaluation(job.evaluation);
    if (job.summary) print(`\n${summaryText(job.summary)}`);
  });

program
  .command('cancel')
  .description('cancel a queued or running job')
  .argument('<job>', 'job id')
  .action(async (id: string) => {
    const job = await client().cancelJob(id);
    print(`Job ${id}: ${job.status}`);
  });

program
  .command('models')
  .description('list trained models, newest first')
  .option('--limit <n>', 'how many', '20')
  .option('--json', 'print the API answer')
  .action(async (opts: { limit: string; json?: boolean }) => {
    const page = await client().listModels({ limit: Number(opts.limit) });
    if (opts.json) return json(page);
    print(
      table(
        ['ID', 'NAME', 'CREATED', 'INPUT', 'EVALUATION'],
        page.items.map((m) => [
          m.id,
          m.name,
          age(m.createdAt),
          `[${m.transforms.featureShape.join(', ')}]`,
          formatMetrics(scalars(m.evaluation ?? m.metrics)),
        ]),
      ),
    );
  });

program
  .command('model')
  .description('show a model: summary, input, evaluation')
  .argument('<model>', 'model id')
  .option('--json', 'print the API answer')
  .action(async (id: string, opts: { json?: boolean }) => {
    const model = await client().getModel(id);
    if (opts.json) return json(model);
    print(
      `Model ${model.id} (${model.name}) ${model.jobId ? `from job ${model.jobId}` : 'imported'}, created ${age(model.createdAt)}`,
    );
    print(
      `Input: one instance of shape [${model.transforms.featureShape.join(', ')}]${model.transforms.features ? ` (features ${model.transforms.features.join(', ')})` : ''}`,
    );
    if (model.transforms.classNames) print(`Classes: ${model.transforms.classNames.join(', ')}`);
    if (model.evaluation) printEvaluation(model.evaluation);
    print(`\n${summaryText(model.summary)}`);
  });

program
  .command('predict')
  .description(
    'predict with a model from a JSON file (array of instances or {"instances": [...]}) or a CSV file (one instance per row)',
  )
  .argument(
    '<model>',
    'model id, or a registered name: name (latest version), name@3 (a version), name@production (an alias)',
  )
  .argument('<file>', 'instances: .json or .csv ("-" reads JSON from stdin)')
  .option('--json', 'print the API answer')
  .action(async (id: string, file: string, opts: { json?: boolean }) => {
    const instances = await readInstances(file);
    const ref = parseModelRef(id);
    const answer =
      'id' in ref ? await client().predict(ref.id, instances) : await client().predictByName(ref, instances);
    if (opts.json) return json(answer);
    const { name, version, modelId } = answer.model;
    if (name) print(`Served by ${name} version ${version} (model ${modelId})`);
    // Classes and labels nest per step for sequence classifiers.
    const head = answer.classes ? ['#', 'CLASS', ...(answer.labels ? ['LABEL'] : []), 'P', 'OUTPUT'] : ['#', 'OUTPUT'];
    const flat = (v: unknown) => [v].flat(Infinity as 1);
    print(
      table(
        head,
        answer.predictions.map((p, i) => {
          const output = flat(p).map(formatNumber).join(' ');
          if (!answer.classes) return [i, output];
          const best = answer.classes[i];
          const label = answer.labels ? [flat(answer.labels[i]).join(' ')] : [];
          if (Array.isArray(best)) return [i, best.join(' '), ...label, '', output];
          const prob = Array.isArray(p) ? p[best] : p;
          return [i, best, ...label, formatNumber(prob), output];
        }),
      ),
    );
  });

program.addCommand(registryCommand(client, { print, json }));
program.addCommand(sweepCommand(client, { print, json }));

program
  .command('upload')
  .description('upload a dataset: a CSV or JSON file, or IDX images and labels files')
  .argument('<file>', 'CSV, JSON, or IDX images (plain or .gz)')
  .argument('[labels]', 'IDX labels file, with IDX images')
  .option('--name <name>', 'dataset name')
  .option('--label <column>', 'the label column (default: the last one)')
  .option('--format <format>', 'csv, json or idx (default: from the file name)')
  .option('--delimiter <char>', 'CSV delimiter')
  .option('--text <columns>', 'columns to keep as raw text for data.text, comma-separated')
  .option('--json', 'print the API answer')
  .action(
    async (
      file: string,
      labels: string | undefined,
      opts: { name?: string; label?: string; format?: string; delimiter?: string; text?: string; json?: boolean },
    ) => {
      // Empty options are left out, as if not given; the service checks the rest (format included).
      const fields = {
        name: opts.name || undefined,
        label: opts.label || undefined,
        format: (opts.format || undefined) as UploadQuery['format'],
        delimiter: opts.delimiter || undefined,
        text: opts.text || undefined,
      };
      const named = async (f: string) => new File([await readFile(f)], path.basename(f));
      const dataset = await client().uploadDataset(
        labels
          ? { ...fields, images: await named(file), labels: await named(labels) }
          : { ...fields, file: await named(file) },
      );
      if (opts.json) return json(dataset);
      print(
        `Dataset ${dataset.id} (${dataset.name}): ${dataset.rows} rows, label ${dataset.label}, features [${dataset.featureShape.join(', ')}]`,
      );
    },
  );

program
  .command('datasets')
  .description('list datasets (built-in and uploaded)')
  .option('--json', 'print the API answer')
  .action(async (opts: { json?: boolean }) => {
    const page = await client().listDatasets();
    if (opts.json) return json(page);
    print(
      table(
        ['ID', 'NAME', 'FORMAT', 'ROWS', 'LABEL', 'FEATURES'],
        page.items.map((d) => [d.id, d.name, d.format, d.rows, d.label, `[${d.featureShape.join(', ')}]`]),
      ),
    );
  });

function lastMetrics(history: Record<string, number[]>) {
  return Object.fromEntries(Object.entries(history ?? {}).map(([k, v]) => [k, v[v.length - 1]]));
}

function scalars(metrics: Record<string, unknown> | null | undefined): Record<string, number> {
  return Object.fromEntries(Object.entries(metrics ?? {}).filter(([, v]) => typeof v === 'number')) as Record<
    string,
    number
  >;
}

function printEvaluation(evaluation: Record<string, unknown>) {
  print(`Evaluation - ${formatMetrics(scalars(evaluation))}`);
  const classes = evaluation.classes as string[] | undefined;
  const matrix = evaluation.confusionMatrix as number[][] | undefined;
  if (classes && matrix) {
    print('Confusion matrix (rows: true class, columns: predicted):');
    print(
      table(
        ['', ...classes],
        matrix.map((row, i) => [classes[i], ...row]),
      ),
    );
  }
}

try {
  await program.parseAsync(process.argv);
} catch (err) {
  const message =
    err instanceof ApiError && err.status === 401 ? unauthorized() : err instanceof Error ? err.message : String(err);
  process.stderr.write(`tts: ${message}\n`);
  process.exitCode = EXIT.failed;
}
