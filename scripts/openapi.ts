import { writeOrCheck } from './generated-file.ts';
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
  await writeOrCheck(target, await generateOpenApi(), 'openapi.yaml', 'npm run openapi');
}
