import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import wabtInit from 'wabt';

/** Our hand-written WebAssembly (SIMD kernels that work on the wasm backend's memory). */
const dir = fileURLToPath(new URL('../src/training/', import.meta.url));

/** Each `src/training/*.wat` assembled, as the bytes of its sibling `.wasm` file. */
export async function assembleWasm(): Promise<Map<string, Uint8Array>> {
  const wabt = await wabtInit();
  const out = new Map<string, Uint8Array>();
  for (const name of (await readdir(dir)).filter((f) => f.endsWith('.wat')).sort()) {
    const module = wabt.parseWat(name, await readFile(path.join(dir, name), 'utf8'), { simd: true });
    try {
      module.validate();
      out.set(path.join(dir, name.replace(/\.wat$/, '.wasm')), module.toBinary({}).buffer);
    } finally {
      module.destroy();
    }
  }
  return out;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const check = process.argv.includes('--check');
  let stale = false;
  for (const [file, bytes] of await assembleWasm()) {
    const name = path.relative(process.cwd(), file);
    if (!check) {
      await writeFile(file, bytes);
      console.log(`wrote ${name}`);
    } else if (!Buffer.from(bytes).equals(await readFile(file).catch(() => Buffer.alloc(0)))) {
      console.error(`${name} is stale: run \`npm run wasm\` and commit the result`);
      stale = true;
    }
  }
  if (stale) process.exit(1);
}
