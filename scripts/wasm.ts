import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import wabtInit from 'wabt';

/** Our hand-written WebAssembly (SIMD kernels that work on the wasm backend's memory). */
const dir = fileURLToPath(new URL('../src/compute/accelerations/', import.meta.url));

/** Each `src/compute/accelerations/*.wat` assembled, as the bytes of its sibling `.wasm` file. */
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

// `npm run wasm`: writes the .wasm files (test/wasm-sparse-matmul.test.ts fails while one is stale).
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  for (const [file, bytes] of await assembleWasm()) {
    await writeFile(file, bytes);
    console.log(`wrote ${path.relative(process.cwd(), file)}`);
  }
}
