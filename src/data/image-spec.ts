import { invalidDataset } from './upload-errors.ts';

export type ColorMode = 'grayscale' | 'rgb' | 'rgba';

/**
 * How an image becomes a sample, as Keras's `image_dataset_from_directory` does it: decoded,
 * resized to `size` ([height, width], bilinear, without keeping the aspect ratio unless
 * `cropToAspectRatio`, which first crops the centre to the target's aspect ratio) and given
 * the channels of `colorMode`. Stored with an image dataset and with the models trained on it,
 * so predict turns an encoded image into the same pixels.
 */
export interface ImageSpec {
  size: [number, number];
  colorMode: ColorMode;
  cropToAspectRatio: boolean;
}

export const CHANNELS: Record<ColorMode, number> = { grayscale: 1, rgb: 3, rgba: 4 };
const COLOR_MODES = Object.keys(CHANNELS);

/** Keras's defaults: 256 x 256, rgb, no cropping. */
export const DEFAULT_IMAGE_SPEC: ImageSpec = { size: [256, 256], colorMode: 'rgb', cropToAspectRatio: false };

/** The shape of one sample: [height, width, channels]. */
export const imageShape = (spec: ImageSpec) => [spec.size[0], spec.size[1], CHANNELS[spec.colorMode]];

/** The form field `imageSize`: JSON `[height, width]`, each 1 to 4096. */
export function parseImageSize(value: string): [number, number] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    parsed = undefined;
  }
  const ok =
    Array.isArray(parsed) &&
    parsed.length === 2 &&
    parsed.every((n) => typeof n === 'number' && Number.isInteger(n) && n >= 1 && n <= 4096);
  if (!ok)
    throw invalidDataset('/imageSize', 'must be JSON [height, width], two whole numbers from 1 to 4096, e.g. [28,28]');
  return parsed as [number, number];
}

/** The form field `colorMode`. */
export function parseColorMode(value: string): ColorMode {
  if (!COLOR_MODES.includes(value)) throw invalidDataset('/colorMode', `must be one of ${COLOR_MODES.join(', ')}`);
  return value as ColorMode;
}

/** The form field `cropToAspectRatio`: `true` or `false`. */
export function parseCrop(value: string): boolean {
  if (value !== 'true' && value !== 'false') throw invalidDataset('/cropToAspectRatio', 'must be true or false');
  return value === 'true';
}
