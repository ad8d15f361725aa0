import { readFile, writeFile } from 'node:fs/promises';

/**
 * A committed file generated from the code (openapi.yaml, docs/configuration.md): `--check`
 * fails when the committed copy differs (the tests run it), otherwise the file is written.
 */
export async function writeOrCheck(target: string, generated: string, name: string, command: string) {
  if (process.argv.includes('--check')) {
    const committed = await readFile(target, 'utf8').catch(() => '');
    if (committed !== generated) {
      console.error(`${name} is stale: run \`${command}\` and commit the result`);
      process.exit(1);
    }
    console.log(`${name} is up to date`);
  } else {
    await writeFile(target, generated);
    console.log(`wrote ${target}`);
  }
}
