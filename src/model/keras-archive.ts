import { createWriteStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import yauzl from 'yauzl';
import { AppError } from '../errors.ts';
import { readKeras3Weights } from './keras-h5.ts';
import type { LayerWeights } from './keras-weights.ts';

/** config.json is a model document: far smaller than this. */
const CONFIG_LIMIT_BYTES = 16 * 1024 * 1024;
const WANTED = { 'config.json': CONFIG_LIMIT_BYTES, 'model.weights.h5': Number.POSITIVE_INFINITY } as const;

const corrupt = (message: string) =>
  new AppError(400, 'invalid_model_file', `/file is not a readable Keras 3 .keras archive: ${message}`, [
    { path: '/file', message },
  ]);

/** Whether the first bytes are a zip's local file header (a `.keras` archive). */
export const isZip = (head: Buffer) => head.subarray(0, 4).equals(Buffer.from([0x50, 0x4b, 0x03, 0x04]));

/**
 * A Keras 3 `.keras` archive (`model.save("m.keras")`): a zip of config.json (the model
 * document), model.weights.h5 and metadata.json. Only those two files are extracted, each under
 * a size limit checked on the bytes as they are inflated (a zip's declared sizes may lie), into
 * `dir` under fixed names.
 */
export async function readKerasArchive(
  file: string,
  dir: string,
  limitBytes: number,
): Promise<{ config: unknown; layers: LayerWeights[] }> {
  const extracted = new Map<string, string>();
  let zip: yauzl.ZipFile;
  try {
    zip = await new Promise<yauzl.ZipFile>((resolve, reject) =>
      yauzl.open(file, { lazyEntries: true, autoClose: true }, (err, z) => (err ? reject(err) : resolve(z))),
    );
  } catch (err) {
    throw corrupt((err as Error).message);
  }
  try {
    await new Promise<void>((resolve, reject) => {
      zip.once('end', resolve).once('error', (err: Error) => reject(corrupt(err.message)));
      zip.on('entry', (entry: yauzl.Entry) => {
        const name = entry.fileName as keyof typeof WANTED;
        if (!Object.hasOwn(WANTED, name)) return zip.readEntry();
        const limit = Math.min(WANTED[name], limitBytes);
        if (entry.uncompressedSize > limit) return reject(corrupt(`${name} is over ${limit} bytes`));
        zip.openReadStream(entry, (err, stream) => {
          if (err) return reject(corrupt(err.message));
          const target = path.join(dir, `keras-${name}`);
          let seen = 0;
          const bounded = new Transform({
            transform(chunk: Buffer, _enc, done) {
              seen += chunk.length;
              done(seen > limit ? corrupt(`${name} is over ${limit} bytes`) : null, chunk);
            },
          });
          pipeline(stream, bounded, createWriteStream(target)).then(
            () => {
              extracted.set(name, target);
              zip.readEntry();
            },
            (e: unknown) => reject(e instanceof AppError ? e : corrupt((e as Error).message)),
          );
        });
      });
      zip.readEntry();
    });
  } finally {
    zip.close();
  }
  const configFile = extracted.get('config.json');
  const weightsFile = extracted.get('model.weights.h5');
  if (!configFile || !weightsFile) throw corrupt('it needs config.json and model.weights.h5');
  let config: { config?: { layers?: unknown } };
  try {
    config = JSON.parse(await readFile(configFile, 'utf8'));
  } catch (err) {
    throw corrupt(`config.json is not JSON: ${(err as Error).message}`);
  }
  type Entry = { class_name?: unknown; config?: { name?: unknown } } | null;
  const list = Array.isArray(config?.config?.layers) ? (config.config.layers as Entry[]) : [];
  const layers = list.map((l) => ({ className: String(l?.class_name ?? ''), name: String(l?.config?.name ?? '') }));
  return { config, layers: await readKeras3Weights(weightsFile, layers) };
}
