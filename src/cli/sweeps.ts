import { Command } from 'commander';
import { ApiError, type Sweep, type SweepEnd, type SweepRequest, type TrainingClient } from '../client/index.ts';
import { age, formatNumber, table } from './format.ts';
import { readJson } from './input.ts';

interface Output {
  print(text: string): void;
  json(value: unknown): void;
}

/** Exit codes, as for a job: 0 the sweep completed, 1 it failed, 2 it was cancelled. */
const EXIT = { completed: 0, failed: 1, cancelled: 2 } as const;

/**
 * Short names for a sweep's parameters: a pointer's last segment (`learningRate`) when no
 * other parameter ends the same way, else the whole pointer.
 */
export function parameterNames(pointers: string[]): Map<string, string> {
  const last = (p: string) => p.slice(p.lastIndexOf('/') + 1);
  const count = new Map<string, number>();
  for (const p of pointers) count.set(last(p), (count.get(last(p)) ?? 0) + 1);
  return new Map(pointers.map((p) => [p, count.get(last(p)) === 1 && last(p) !== '' ? last(p) : p]));
}

/** "learningRate=0.01 units=32": a trial's parameters, named as `names` says. */
function formatParameters(parameters: Record<string, unknown>, names: Map<string, string>): string {
  return Object.entries(parameters)
    .map(
      ([pointer, value]) =>
        `${names.get(pointer) ?? pointer}=${typeof value === 'number' ? formatNumber(value) : JSON.stringify(value)}`,
    )
    .join(' ');
}

/**
 * Follows a sweep's event stream to its `end` and prints it compactly: each trial transition,
 * one line per epoch of any trial (its objective metric), and the best when it changes. A
 * dropped connection resumes after the last event seen (said on stderr).
 */
async function followSweep(client: TrainingClient, sweep: Sweep, print: (text: string) => void): Promise<SweepEnd> {
  const { metric, goal } = sweep.objective;
  const names = parameterNames(Object.keys(sweep.trials[0]?.parameters ?? {}));
  const events = client.followSweep(sweep.id, {
    retries: 20,
    onReconnect: ({ lastEventId }) =>
      process.stderr.write(`connection lost; resuming${lastEventId ? ` after event ${lastEventId}` : ''}\n`),
  });
  try {
    for await (const e of events) {
      if (e.event === 'end') return e.data;
      if (e.event === 'trial') {
        const { index, status, parameters, jobId, objective } = e.data;
        const detail =
          status === 'pending'
            ? formatParameters(parameters, names)
            : status === 'queued' || status === 'running'
              ? jobId
                ? `job ${jobId}`
                : ''
              : objective !== undefined
                ? `${metric} ${formatNumber(objective)}`
                : '';
        print(`trial ${index} ${status}${detail ? ` - ${detail}` : ''}`);
      } else if (e.event === 'epoch') {
        const value = e.data.metrics[metric];
        print(
          `trial ${e.data.index} epoch ${e.data.epoch} - ${metric}: ${value === undefined ? '-' : formatNumber(value)}`,
        );
      } else if (e.event === 'best') {
        print(`best: trial ${e.data.index} (${metric} ${formatNumber(e.data.objective)}, ${goal})`);
      }
    }
  } catch (err) {
    if (err instanceof ApiError && err.status !== 401)
      throw new Error(`cannot follow sweep ${sweep.id}: ${err.problem?.detail ?? `HTTP ${err.status}`}`, {
        cause: err,
      });
    throw err;
  }
  // No end event: the sweep finished and its events have expired. Its record says how.
  const now = await client.getSweep(sweep.id);
  return { status: now.status as SweepEnd['status'], best: now.best };
}

/** Follows to the end, prints how it ended, and answers the exit code. */
async function followToEnd(client: TrainingClient, id: string, print: (text: string) => void): Promise<number> {
  // Ctrl-C stops watching, not the sweep: say how to stop it.
  process.once('SIGINT', () => {
    process.stderr.write(`\nstopped following; sweep ${id} goes on (tts sweep cancel ${id} stops it)\n`);
    process.exit(130);
  });
  const sweep = await client.getSweep(id);
  const end = await followSweep(client, sweep, print);
  const best = end.best
    ? `best trial ${end.best.index} (${sweep.objective.metric} ${formatNumber(end.best.objective)}, model ${end.best.modelId})`
    : 'no best trial';
  if (end.status === 'completed') {
    print(`Sweep ${id} completed: ${best}`);
  } else if (end.status === 'cancelled') {
    process.stderr.write(`Sweep ${id} was cancelled: ${best}\n`);
  } else {
    process.stderr.write(
      `Sweep ${id} failed: ${end.error ? `${end.error.code}: ${end.error.message}` : 'no reason given'}\n`,
    );
  }
  return EXIT[end.status];
}

/** `tts sweep ...`: hyperparameter sweeps, their trials and their best. */
export function sweepCommand(client: () => TrainingClient, { print, json }: Output): Command {
  const sweep = new Command('sweep').description(
    'hyperparameter sweeps: trials of one base job over a search space (grid, random, successive halving)',
  );

  sweep
    .command('submit')
    .description('submit a sweep request (a JSON file, "-" for stdin); prints its id, or follows it with --follow')
    .argument('<file>', 'sweep request JSON: {job, parameters, strategy, objective, maxTrials, ...}')
    .option('--name <name>', 'override the sweep name')
    .option('--follow', 'follow it to the end (exit code: 0 completed, 1 failed, 2 cancelled)')
    .option('--json', 'print the API answer')
    .action(async (file: string, opts: { name?: string; follow?: boolean; json?: boolean }) => {
      // The service checks the request; the CLI only passes it on.
      const request = (await readJson(file)) as SweepRequest;
      if (opts.name) request.name = opts.name;
      const submitted = await client().submitSweep(request);
      if (opts.json) json(submitted);
      else if (!opts.follow) print(submitted.id);
      if (!opts.follow) return;
      if (!opts.json)
        print(
          `Sweep ${submitted.id} (${submitted.name}) ${submitted.status}: ${submitted.trials.length} trials, ${submitted.strategy.type}, ${submitted.objective.goal} ${submitted.objective.metric}`,
        );
      process.exitCode = await followToEnd(client(), submitted.id, print);
    });

  sweep
    .command('follow')
    .description("follow a sweep's trials until it ends (exit code: 0 completed, 1 failed, 2 cancelled)")
    .argument('<sweep>', 'sweep id')
    .action(async (id: string) => {
      process.exitCode = await followToEnd(client(), id, print);
    });

  sweep
    .command('show')
    .description('show a sweep: its trials (parameters, status, objective, epochs), the best marked *')
    .argument('<sweep>', 'sweep id')
    .option('--json', 'print the API answer (with the request)')
    .action(async (id: string, opts: { json?: boolean }) => {
      const s = await client().getSweep(id, { request: opts.json });
      if (opts.json) return json(s);
      const { metric, goal } = s.objective;
      print(
        `Sweep ${s.id} (${s.name}): ${s.status}, ${s.strategy.type}, ${goal} ${metric}, ${s.trials.length} trials, parallelism ${s.parallelism}, created ${age(s.createdAt)}`,
      );
      const names = parameterNames(Object.keys(s.trials[0]?.parameters ?? {}));
      print(
        table(
          ['TRIAL', 'STATUS', 'PARAMETERS', metric.toUpperCase(), 'EPOCHS', 'JOB'],
          s.trials.map((t) => [
            `${t.index}${s.best?.index === t.index ? ' *' : ''}`,
            t.status,
            formatParameters(t.parameters, names),
            t.objective === null ? '' : formatNumber(t.objective),
            t.epochs,
            t.jobId ?? '',
          ]),
        ),
      );
      if (s.best) {
        print(`Best: trial ${s.best.index}, ${metric} ${formatNumber(s.best.objective)}, model ${s.best.modelId}`);
      }
      if (s.registered) print(`Registered: ${s.registered.name} version ${s.registered.version}`);
      if (s.registrationError)
        print(`Registration failed: ${s.registrationError.code}: ${s.registrationError.message}`);
      for (const t of s.trials.filter((t) => t.error))
        print(`Trial ${t.index} error: ${t.error!.code}: ${t.error!.message}`);
    });

  sweep
    .command('list')
    .description('list sweeps, newest first')
    .option('--limit <n>', 'how many', '20')
    .option('--json', 'print the API answer')
    .action(async (opts: { limit: string; json?: boolean }) => {
      const page = await client().listSweeps({ limit: Number(opts.limit) });
      if (opts.json) return json(page);
      print(
        table(
          ['ID', 'NAME', 'STATUS', 'STRATEGY', 'OBJECTIVE', 'BEST', 'CREATED'],
          page.items.map((s) => [
            s.id,
            s.name,
            s.status,
            s.strategy.type,
            `${s.objective.goal} ${s.objective.metric}`,
            s.best ? `trial ${s.best.index}: ${formatNumber(s.best.objective)}` : '',
            age(s.createdAt),
          ]),
        ),
      );
    });

  sweep
    .command('cancel')
    .description('cancel a sweep: its pending and queued trials at once, running ones within a batch')
    .argument('<sweep>', 'sweep id')
    .action(async (id: string) => {
      const s = await client().cancelSweep(id);
      print(`Sweep ${id}: ${s.status}`);
    });

  return sweep;
}
