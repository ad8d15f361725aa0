import sharp from 'sharp';
import * as yazl from 'yazl';

export type Files = [name: string, data: Buffer][];

/** A w x h image of one grey level (a little noise so classes are not single points), encoded as `format`. */
export function grey(level: number, w = 12, h = 10, format: 'png' | 'jpeg' | 'webp' | 'gif' = 'png', seed = 0) {
  const raw = Buffer.alloc(w * h * 3);
  for (let i = 0; i < raw.length; i++) raw[i] = Math.max(0, Math.min(255, level + ((i * 7 + seed * 13) % 21) - 10));
  return sharp(raw, { raw: { width: w, height: h, channels: 3 } })
    .toFormat(format)
    .toBuffer();
}

export function zip(files: Files): Promise<Buffer> {
  const archive = new yazl.ZipFile();
  for (const [name, data] of files) archive.addBuffer(data, name);
  archive.end();
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    archive.outputStream.on('data', (c: Buffer) => chunks.push(c));
    archive.outputStream.on('end', () => resolve(Buffer.concat(chunks)));
    archive.outputStream.on('error', reject);
  });
}

/** POSTs an image-folder archive as a form, the fields before the file. */
export async function sendArchive(url: string, archive: Buffer, filename: string, fields: Record<string, string> = {}) {
  const form = new FormData();
  for (const [k, v] of Object.entries(fields)) form.append(k, v);
  form.append('file', new Blob([archive]), filename);
  const response = await fetch(`${url}/v1/datasets`, { method: 'POST', body: form });
  return { status: response.status, body: (await response.json()) as any };
}

/** 16 light and 16 dark 12x10 PNGs, in class folders `light/` and `dark/`: a tiny model separates them. */
export async function shadesZip(): Promise<Buffer> {
  const files: Files = [];
  for (let i = 0; i < 16; i++) {
    files.push([`light/${i}.png`, await grey(200 + (i % 5) * 8, 12, 10, 'png', i)]);
    files.push([`dark/${i}.png`, await grey(30 + (i % 5) * 8, 12, 10, 'png', i)]);
  }
  return zip(files);
}

/** A job for `shadesZip` in grayscale 6x6: flatten, softmax, 20 epochs of a few batches. */
export const shadesJob = (dataset: string) => ({
  name: 'shades',
  model: { layers: [{ type: 'flatten' }, { type: 'dense', units: 2, activation: 'softmax' }] },
  compile: { optimizer: { type: 'adam', learningRate: 0.1 }, loss: 'categoricalCrossentropy', metrics: ['accuracy'] },
  data: { dataset, inputs: { scale: 1 / 255 }, labels: { oneHot: 2 } },
  fit: { epochs: 20, batchSize: 8, seed: 1 },
});
