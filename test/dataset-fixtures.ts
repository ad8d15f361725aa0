import { gzipSync } from 'node:zlib';
import seedrandom from 'seedrandom';

/** An IDX file: magic (0, 0, type, ndims), big-endian dims, then the data (uint8 here). */
export function idxFile(dims: number[], data: Uint8Array | number[], type = 0x08): Buffer {
  const header = Buffer.alloc(4 + 4 * dims.length);
  header[2] = type;
  header[3] = dims.length;
  for (const [i, d] of dims.entries()) header.writeUInt32BE(d, 4 + 4 * i);
  return Buffer.concat([header, Buffer.from(data instanceof Uint8Array ? data : Uint8Array.from(data))]);
}

export const gzip = (b: Buffer) => gzipSync(b);

/** Rows of a CSV with a header. */
export const csv = (header: string[], rows: (string | number)[][]) =>
  `${[header.join(','), ...rows.map((r) => r.join(','))].join('\n')}\n`;

/** Two numeric features; "yes" when a + b > 0: separable, so a small network learns it. */
export function binaryRows(n: number, seed = 'binary'): (string | number)[][] {
  const random = seedrandom(seed);
  return Array.from({ length: n }, () => {
    const a = +(random() * 4 - 2).toFixed(3);
    const b = +(random() * 4 - 2).toFixed(3);
    return [a, b, a + b > 0 ? 'yes' : 'no'];
  });
}

/** Three well-separated clusters named by colour. */
export function colourRows(n: number, seed = 'colours'): (string | number)[][] {
  const random = seedrandom(seed);
  const centres: Record<string, [number, number]> = { red: [0, 5], green: [5, 0], blue: [-5, -5] };
  const names = Object.keys(centres);
  return Array.from({ length: n }, (_, i) => {
    const name = names[i % 3];
    const [cx, cy] = centres[name];
    return [+(cx + random() * 2 - 1).toFixed(3), +(cy + random() * 2 - 1).toFixed(3), name];
  });
}

/** y = 2a - b + 1 plus a little noise. */
export function regressionRows(n: number, seed = 'regression'): number[][] {
  const random = seedrandom(seed);
  return Array.from({ length: n }, () => {
    const a = +(random() * 2 - 1).toFixed(3);
    const b = +(random() * 2 - 1).toFixed(3);
    return [a, b, +(2 * a - b + 1 + (random() - 0.5) * 0.05).toFixed(4)];
  });
}

export async function upload(url: string, body: string | Buffer, contentType: string, query = '') {
  const response = await fetch(`${url}/v1/datasets${query}`, {
    method: 'POST',
    headers: { 'content-type': contentType },
    body,
  });
  return { status: response.status, headers: response.headers, body: (await response.json()) as any };
}

export async function uploadForm(
  url: string,
  parts: Record<string, string | { data: Buffer | string; filename: string }>,
) {
  const form = new FormData();
  for (const [name, value] of Object.entries(parts)) {
    if (typeof value === 'string') form.append(name, value);
    else form.append(name, new Blob([value.data]), value.filename);
  }
  const response = await fetch(`${url}/v1/datasets`, { method: 'POST', body: form });
  return { status: response.status, headers: response.headers, body: (await response.json()) as any };
}
