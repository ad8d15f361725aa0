import { decode as decodePng } from 'fast-png';
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
  return plainPng(bytes, spec, maxPixels) ?? decodeWithSharp(bytes, spec, maxPixels);
}

/**
 * Values (pixels x channels) up to which a PNG is read on the calling thread: fast-png is
 * synchronous, and this keeps one image well under a millisecond of the event loop (e.g.
 * 256 x 256 grey, 128 x 128 RGBA). Bigger images go to sharp, which decodes off the loop.
 */
const PLAIN_PNG_MAX_VALUES = 65_536;

/** PNG colour types (IHDR) that are already a colour mode's channels: grey, RGB, RGBA. */
const PNG_COLOUR_TYPE = { grayscale: 0, rgb: 2, rgba: 6 } as const;

/**
 * A PNG already of the asked size and colour type, 8 bits, not interlaced, with no palette,
 * transparency key or colour profile, needs neither resampling nor colour conversion: its
 * pixels are the answer, and fast-png reads them in JavaScript for a tenth of what setting up
 * a sharp pipeline costs a small image (MNIST-sized datasets: bench:images). Anything else,
 * or anything fast-png cannot read, goes to sharp, whose errors name the problem.
 */
export function plainPng(bytes: Uint8Array, spec: ImageSpec, maxPixels: number): Uint8Array | undefined {
  // IHDR follows the 8-byte signature: width @16, height @20, bit depth @24, colour type @25, interlace @28.
  if (bytes.length < 33 || imageKind(bytes) !== 'png') return undefined;
  const header = new DataView(bytes.buffer, bytes.byteOffset, 33);
  const [height, width] = spec.size;
  if (header.getUint32(16) !== width || header.getUint32(20) !== height || width * height > maxPixels) return undefined;
  if (width * height * CHANNELS[spec.colorMode] > PLAIN_PNG_MAX_VALUES) return undefined;
  if (bytes[24] !== 8 || bytes[25] !== PNG_COLOUR_TYPE[spec.colorMode] || bytes[28] !== 0) return undefined;
  try {
    const png = decodePng(bytes, { checkCrc: true });
    const plain = !png.palette && !png.transparency && !png.iccEmbeddedProfile && png.depth === 8;
    const size = width * height * CHANNELS[spec.colorMode];
    if (!plain || !(png.data instanceof Uint8Array) || png.data.length !== size) return undefined;
    return png.data;
  } catch {
    return undefined;
  }
}

/** Any accepted image through sharp: decoded, cropped, resized and converted to the colour mode. */
export async function decodeWithSharp(bytes: Uint8Array, spec: ImageSpec, maxPixels: number): Promise<Uint8Array> {
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
