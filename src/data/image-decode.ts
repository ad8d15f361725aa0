import sharp, { type Metadata, type Sharp } from 'sharp';

// Decoded images are used once: libvips's operation cache would only hold memory.
sharp.cache(false);
import { CHANNELS, type ImageSpec } from './image-spec.ts';

/** Why an image could not become pixels; the caller names the entry or instance. */
export class ImageDecodeError extends Error {}

/**
 * The encodings accepted, told by their first bytes rather than by sharp, which would also
 * render SVG, TIFF, HEIF and more: only these four reach the decoder.
 */
export function imageKind(bytes: Uint8Array): 'png' | 'jpeg' | 'webp' | 'gif' | undefined {
  const ascii = (from: number, to: number) => Buffer.from(bytes.subarray(from, to)).toString('latin1');
  if (bytes[0] === 0x89 && ascii(1, 4) === 'PNG') return 'png';
  if (bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'jpeg';
  if (ascii(0, 4) === 'RIFF' && ascii(8, 12) === 'WEBP') return 'webp';
  if (ascii(0, 4) === 'GIF8') return 'gif';
  return undefined;
}

/**
 * Decodes one PNG, JPEG, WebP or GIF (its first frame) into `spec`'s pixels: uint8,
 * height x width x channels, row-major, as IDX images are stored. sharp (libvips) decodes
 * off the event loop, in libuv's thread pool. `maxPixels` bounds the decoded image (width x
 * height as its header declares it), so a small file cannot unpack into a huge bitmap.
 */
export async function decodeImage(bytes: Uint8Array, spec: ImageSpec, maxPixels: number): Promise<Uint8Array> {
  if (!imageKind(bytes)) throw new ImageDecodeError('is not a PNG, JPEG, WebP or GIF image (by its first bytes)');
  const [height, width] = spec.size;
  const options = { limitInputPixels: maxPixels, failOn: 'error', animated: false } as const;
  const channels = CHANNELS[spec.colorMode];
  let pipeline = sharp(bytes, options);
  try {
    if (spec.cropToAspectRatio)
      pipeline = pipeline.extract(centreCrop(await sharp(bytes, options).metadata(), width, height));
  } catch (err) {
    throw decodeError(err, maxPixels);
  }
  // Keras: bilinear, the aspect ratio not kept (a crop above has already made it the target's).
  pipeline = pipeline.resize({ width, height, fit: 'fill', kernel: 'linear' });
  if (spec.colorMode === 'grayscale') pipeline = pipeline.removeAlpha().toColourspace('b-w');
  else if (spec.colorMode === 'rgb') pipeline = pipeline.removeAlpha().toColourspace('srgb');
  else pipeline = pipeline.ensureAlpha().toColourspace('srgb');
  const { data, info } = await decoded(pipeline, maxPixels);
  if (info.width !== width || info.height !== height || info.channels !== channels)
    throw new ImageDecodeError(
      `decoded to ${info.width}x${info.height}x${info.channels}, not ${width}x${height}x${channels}`,
    );
  return pixelsOf(data);
}

const pixelsOf = (data: Buffer) => new Uint8Array(data.buffer, data.byteOffset, data.byteLength);

async function decoded(pipeline: Sharp, maxPixels: number) {
  try {
    return await pipeline.raw().toBuffer({ resolveWithObject: true });
  } catch (err) {
    throw decodeError(err, maxPixels);
  }
}

function decodeError(err: unknown, maxPixels: number): ImageDecodeError {
  if (err instanceof ImageDecodeError) return err;
  const message = (err as Error).message;
  if (/pixel limit/i.test(message))
    return new ImageDecodeError(`is larger than ${maxPixels} pixels (DATASET_MAX_IMAGE_PIXELS)`);
  return new ImageDecodeError(`cannot be decoded: ${message.split('\n')[0]}`);
}

/** Keras's `crop_to_aspect_ratio`: the largest centred box of the target's aspect ratio, cropped before resizing. */
function centreCrop(meta: Metadata, width: number, height: number) {
  const w = meta.width ?? 0;
  const h = meta.pageHeight ?? meta.height ?? 0;
  if (w < 1 || h < 1) throw new ImageDecodeError('has no size in its header');
  const cropHeight = Math.max(1, Math.min(h, Math.trunc((w * height) / width)));
  const cropWidth = Math.max(1, Math.min(w, Math.trunc((h * width) / height)));
  return {
    left: Math.trunc((w - cropWidth) / 2),
    top: Math.trunc((h - cropHeight) / 2),
    width: cropWidth,
    height: cropHeight,
  };
}
