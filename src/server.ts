import { fileURLToPath } from 'node:url';
import { buildApp } from './app.ts';
import { loadConfig, type Config } from './config.ts';

/** Starts the API and closes it cleanly on SIGTERM/SIGINT (open event streams end, then connections). */
export async function startApi(config: Config) {
  const app = await buildApp(config);
  await app.listen({ port: config.PORT, host: config.HOST });
  app.log.info({ backend: app.services.backend, docs: `http://${config.HOST}:${config.PORT}/docs` }, 'API ready');
  return app;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const app = await startApi(loadConfig());
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, async () => {
      app.log.info({ signal }, 'API shutting down');
      await app.close();
      process.exit(0);
    });
  }
}
