import { readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { buildApp } from '../src/app.ts';
import { loadConfig } from '../src/config.ts';

const target = fileURLToPath(new URL('../openapi.yaml', import.meta.url));

/** The OpenAPI document as generated from the routes' schemas; building the app needs no Redis. */
export async function generateOpenApi(): Promise<string> {
  const app = await buildApp(loadConfig({ LOG_LEVEL: 'silent' }), { logger: false });
  await app.ready();
  const yaml = app.swagger({ yaml: true });
  await app.close();
  return yaml;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const generated = await generateOpenApi();
  if (process.argv.includes('--check')) {
    const committed = await readFile(target, 'utf8').catch(() => '');
    if (committed !== generated) {
      console.error('openapi.yaml is stale: run `npm run openapi` and commit the result');
      process.exit(1);
    }
    console.log('openapi.yaml is up to date');
  } else {
    await writeFile(target, generated);
    console.log(`wrote ${target}`);
  }
}
