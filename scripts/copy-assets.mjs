// After `tsc -p tsconfig.build.json`: copies what the compiled code reads beside itself —
// Lua scripts and WebAssembly modules next to their modules, the dashboard and the examples
// it serves — into dist/, so dist/ runs without the TypeScript sources.
import { cp, readdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const dist = path.join(root, 'dist');
const ASSETS = ['.lua', '.wasm'];

for (const dir of ['src', 'workers']) {
  for (const entry of await readdir(path.join(root, dir), { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || !ASSETS.includes(path.extname(entry.name))) continue;
    const from = path.join(entry.parentPath, entry.name);
    await cp(from, path.join(dist, path.relative(root, from)));
  }
}
for (const dir of ['dashboard', 'examples']) await cp(path.join(root, dir), path.join(dist, dir), { recursive: true });
