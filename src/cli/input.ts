import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parse } from 'csv-parse/sync';

/** Reads a JSON file, or standard input for "-". */
export async function readJson(file: string): Promise<unknown> {
  const text = file === '-' ? await readStdin() : await readFile(file, 'utf8');
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new Error(`${file} is not valid JSON: ${(err as Error).message}`);
  }
}

async function readStdin() {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * Instances to predict from a file: JSON (an array of instances, or {"instances": [...]}) or
 * CSV (rows of numbers; with a header row, records keyed by its column names, which models
 * trained on named feature columns take).
 */
export async function readInstances(file: string): Promise<unknown[]> {
  if (path.extname(file).toLowerCase() === '.csv') {
    const rows = parse(await readFile(file, 'utf8'), { skip_empty_lines: true, trim: true }) as string[][];
    if (rows.length === 0) throw new Error(`${file} has no rows`);
    const numeric = (cell: string) => cell !== '' && Number.isFinite(Number(cell));
    const value = (cell: string) => (numeric(cell) ? Number(cell) : cell);
    if (rows[0].every(numeric)) return rows.map((r) => r.map(Number));
    const [header, ...body] = rows;
    return body.map((r) => Object.fromEntries(header.map((name, i) => [name, value(r[i] ?? '')])));
  }
  const data = await readJson(file);
  const instances = Array.isArray(data) ? data : (data as { instances?: unknown })?.instances;
  if (!Array.isArray(instances)) throw new Error(`${file}: expected a JSON array of instances or {"instances": [...]}`);
  return instances;
}
