import { Command } from 'commander';
import type { RegisteredRef, TrainingClient } from '../client/index.ts';
import { age, formatMetrics, table } from './format.ts';

interface Output {
  print(text: string): void;
  json(value: unknown): void;
}

/** Server-generated model ids; anything else given to predict is a registered name. */
const MODEL_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * What `tts predict` was given: a model id, or a registered name as `name` (its latest
 * version), `name@3` (a version) or `name@production` (an alias). Names never hold '@'.
 */
export function parseModelRef(arg: string): { id: string } | RegisteredRef {
  if (MODEL_ID.test(arg)) return { id: arg };
  const at = arg.lastIndexOf('@');
  if (at < 0) return { name: arg };
  const [name, target] = [arg.slice(0, at), arg.slice(at + 1)];
  return /^\d+$/.test(target) ? { name, version: Number(target) } : { name, alias: target };
}

function versionNumber(text: string): number {
  if (!/^[1-9]\d*$/.test(text)) throw new Error(`a version is a number from 1 up, not ${JSON.stringify(text)}`);
  return Number(text);
}

/** `tts registry ...`: registered names, their versions and aliases. */
export function registryCommand(client: () => TrainingClient, { print, json }: Output): Command {
  const registry = new Command('registry').description(
    'the model registry: names with numbered versions (stored models) and aliases such as production',
  );

  registry
    .command('list')
    .description('list registered models, by name')
    .option('--limit <n>', 'how many', '20')
    .option('--json', 'print the API answer')
    .action(async (opts: { limit: string; json?: boolean }) => {
      const page = await client().listRegistry({ limit: Number(opts.limit) });
      if (opts.json) return json(page);
      print(
        table(
          ['NAME', 'LATEST', 'VERSIONS', 'CREATED'],
          page.items.map((r) => [r.name, r.latestVersion ?? '', r.versionCount, age(r.createdAt)]),
        ),
      );
    });

  registry
    .command('show')
    .description('show a registered model: its aliases and versions, newest first')
    .argument('<name>', 'registered name')
    .option('--json', 'print the API answer')
    .action(async (name: string, opts: { json?: boolean }) => {
      const model = await client().getRegisteredModel(name);
      if (opts.json) return json(model);
      print(
        `Registered model ${model.name}, created ${age(model.createdAt)}: ${model.versionCount} version(s), latest ${model.latestVersion ?? 'none'}`,
      );
      if (model.aliases.length > 0)
        print(`Aliases: ${model.aliases.map((a) => `${a.alias} -> ${a.version}`).join(', ')}`);
      print(
        table(
          ['VERSION', 'MODEL', 'CREATED', 'ALIASES', 'METRICS', 'DESCRIPTION'],
          model.versions.map((v) => [
            v.version,
            v.modelId,
            age(v.createdAt),
            v.aliases.join(','),
            formatMetrics(v.metrics),
            v.description ?? '',
          ]),
        ),
      );
    });

  registry
    .command('register')
    .description('register a stored model as the next version of a name (the first version creates the name)')
    .argument('<name>', 'registered name')
    .argument('<model>', 'model id')
    .option('--description <text>', 'what this version is')
    .option('--json', 'print the API answer')
    .action(async (name: string, modelId: string, opts: { description?: string; json?: boolean }) => {
      const version = await client().registerVersion(name, { modelId, description: opts.description || undefined });
      if (opts.json) return json(version);
      print(`Registered ${version.name} version ${version.version} (model ${version.modelId})`);
    });

  registry
    .command('alias')
    .description("point an alias at a version, creating or moving it (the version's model is loaded first)")
    .argument('<name>', 'registered name')
    .argument('<alias>', 'alias, e.g. production')
    .argument('<version>', 'version number')
    .option('--json', 'print the API answer')
    .action(async (name: string, alias: string, version: string, opts: { json?: boolean }) => {
      const moved = await client().setAlias(name, alias, versionNumber(version));
      if (opts.json) return json(moved);
      const was = moved.previousVersion === null ? 'new' : `was ${moved.previousVersion}`;
      print(`${moved.name}@${moved.alias} -> version ${moved.version} (${was})`);
    });

  registry
    .command('unalias')
    .description('delete an alias (its version stays)')
    .argument('<name>', 'registered name')
    .argument('<alias>', 'alias')
    .action(async (name: string, alias: string) => {
      await client().deleteAlias(name, alias);
      print(`Deleted alias ${name}@${alias}`);
    });

  registry
    .command('delete-version')
    .description('delete a version (refused while an alias points at it; its number is never reused)')
    .argument('<name>', 'registered name')
    .argument('<version>', 'version number')
    .action(async (name: string, version: string) => {
      await client().deleteVersion(name, versionNumber(version));
      print(`Deleted ${name} version ${version}`);
    });

  return registry;
}
