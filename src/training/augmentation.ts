import * as tf from '@tensorflow/tfjs';
import seedrandom from 'seedrandom';
import { AppError, type FieldError } from '../errors.ts';
import { FILL_MODES, FLIP_MODES, type AugmentSpec } from '../schemas/augment.ts';

/*
 * Training-time image augmentation with Keras's semantics (RandomFlip, RandomRotation,
 * RandomZoom, RandomTranslation, in that order), as one projective transform per image:
 * the four layers' matrices are composed, so each image is resampled once (bilinear), not
 * four times.
 */

export type FillMode = (typeof FILL_MODES)[number];

/** A checked `data.augment`, as the plan carries it. */
export interface Augmentation {
  flipHorizontal: boolean;
  flipVertical: boolean;
  rotation: number;
  zoom: number;
  translation: number;
  fillMode: FillMode;
  fillValue: number;
  seed?: number;
}

/** One image's random draw. `zoom` is the sampling scale: above 1 zooms out (Keras's positive height_factor). */
export interface ImageDraw {
  flipHorizontal: boolean;
  flipVertical: boolean;
  angle: number;
  zoom: number;
  dx: number;
  dy: number;
}

const invalid = (errors: FieldError[]) =>
  new AppError(400, 'invalid_augment', `${errors[0].path} ${errors[0].message}`, errors);

/**
 * Checks `data.augment` against the model's input shape (after `inputs.reshape`); throws a
 * 400 naming the field. The ranges are the schema's too, checked again here because a sweep
 * may set them. Undefined when there is nothing to do.
 */
export function planAugmentation(spec: AugmentSpec | undefined, inputShape: number[]): Augmentation | undefined {
  if (!spec) return undefined;
  const errors: FieldError[] = [];
  const range = (name: 'rotation' | 'zoom' | 'translation', max: number, open: boolean) => {
    const value = spec[name];
    if (value === undefined) return;
    if (!Number.isFinite(value) || value < 0 || (open ? value >= max : value > max))
      errors.push({
        path: `/data/augment/${name}`,
        message: `is ${value}; it must be at least 0 and ${open ? 'below' : 'at most'} ${max}`,
      });
  };
  range('rotation', 1, false);
  range('zoom', 1, true);
  range('translation', 1, false);
  if (spec.flip !== undefined && !(FLIP_MODES as readonly string[]).includes(spec.flip))
    errors.push({ path: '/data/augment/flip', message: `must be one of ${FLIP_MODES.join(', ')}` });
  if (spec.fillMode !== undefined && !(FILL_MODES as readonly string[]).includes(spec.fillMode))
    errors.push({ path: '/data/augment/fillMode', message: `must be one of ${FILL_MODES.join(', ')}` });
  if (inputShape.length < 2 || inputShape.length > 3) {
    errors.push({
      path: '/data/augment',
      message: `needs images: samples of shape [height, width] or [height, width, channels] as the model sees them, but they are [${inputShape}]; give data.inputs.reshape, e.g. [28, 28, 1]`,
    });
  }
  if (errors.length > 0) throw invalid(errors);
  const both = spec.flip === 'horizontal_and_vertical' || spec.flip === 'horizontalAndVertical';
  const augmentation: Augmentation = {
    flipHorizontal: both || spec.flip === 'horizontal',
    flipVertical: both || spec.flip === 'vertical',
    rotation: spec.rotation ?? 0,
    zoom: spec.zoom ?? 0,
    translation: spec.translation ?? 0,
    fillMode: (spec.fillMode as FillMode | undefined) ?? 'reflect',
    fillValue: spec.fillValue ?? 0,
    ...(spec.seed !== undefined ? { seed: spec.seed } : {}),
  };
  const changes =
    augmentation.flipHorizontal ||
    augmentation.flipVertical ||
    augmentation.rotation > 0 ||
    augmentation.zoom > 0 ||
    augmentation.translation > 0;
  return changes ? augmentation : undefined;
}

/** Draws one image's flips, angle, zoom and shift, as Keras's layers draw them (uniform). */
export function drawImage(random: () => number, a: Augmentation, height: number, width: number): ImageDraw {
  const between = (low: number, high: number) => low + (high - low) * random();
  return {
    flipHorizontal: a.flipHorizontal && random() < 0.5,
    flipVertical: a.flipVertical && random() < 0.5,
    angle: a.rotation > 0 ? between(-a.rotation, a.rotation) * 2 * Math.PI : 0,
    zoom: a.zoom > 0 ? 1 + between(-a.zoom, a.zoom) : 1,
    dy: a.translation > 0 ? between(-a.translation, a.translation) * height : 0,
    dx: a.translation > 0 ? between(-a.translation, a.translation) * width : 0,
  };
}

type Matrix = [number, number, number, number, number, number, number, number, number];

const multiply = (a: Matrix, b: Matrix): Matrix => {
  const out = new Array<number>(9) as Matrix;
  for (let r = 0; r < 3; r++)
    for (let c = 0; c < 3; c++) out[r * 3 + c] = a[r * 3] * b[c] + a[r * 3 + 1] * b[3 + c] + a[r * 3 + 2] * b[6 + c];
  return out;
};

/**
 * The 8 numbers tf.image.transform takes for one draw: they map an output pixel to the input
 * point it samples. The layers run flip, rotate, zoom, translate, so the output point goes
 * back through translate, zoom, rotate, flip: F·R·Z·T. Each matrix is Keras's.
 */
export function drawMatrix(d: ImageDraw, height: number, width: number): number[] {
  const cx = (width - 1) / 2;
  const cy = (height - 1) / 2;
  // biome-ignore format: a 3×3 matrix reads best as its rows
  const flip: Matrix = [
    d.flipHorizontal ? -1 : 1, 0, d.flipHorizontal ? width - 1 : 0,
    0, d.flipVertical ? -1 : 1, d.flipVertical ? height - 1 : 0,
    0, 0, 1,
  ];
  const cos = Math.cos(d.angle);
  const sin = Math.sin(d.angle);
  const rotate: Matrix = [cos, -sin, cx - cos * cx + sin * cy, sin, cos, cy - sin * cx - cos * cy, 0, 0, 1];
  const zoom: Matrix = [d.zoom, 0, cx * (1 - d.zoom), 0, d.zoom, cy * (1 - d.zoom), 0, 0, 1];
  const translate: Matrix = [1, 0, -d.dx, 0, 1, -d.dy, 0, 0, 1];
  const m = multiply(multiply(flip, rotate), multiply(zoom, translate));
  return [m[0], m[1], m[2], m[3], m[4], m[5], m[6], m[7]];
}

/** Whether an affine map (8 numbers) samples any point outside the image: its corners bound what it samples. */
function reachesOutside(m: number[], height: number, width: number): boolean {
  const eps = 1e-6;
  for (const [x, y] of [
    [0, 0],
    [width - 1, 0],
    [0, height - 1],
    [width - 1, height - 1],
  ]) {
    const inX = m[0] * x + m[1] * y + m[2];
    const inY = m[3] * x + m[4] * y + m[5];
    if (inX < -eps || inY < -eps || inX > width - 1 + eps || inY > height - 1 + eps) return true;
  }
  return false;
}

/**
 * `images` [n, h, w, c] with one draw each. Two tfjs 4.22 kernels are worked around: the
 * wasm Transform's `reflect` reads the far edge for points left of or above the image, so
 * reflect samples a 2h × 2w tile (the image and its mirror images, one mirrorPad) with
 * `wrap`, which is reflect exactly (it repeats with period 2h, 2w); the cpu Transform
 * returns after the first image of a batch, so on cpu each image is its own call.
 */
export function augmentImages(images: tf.Tensor4D, draws: ImageDraw[], a: Augmentation): tf.Tensor4D {
  const [n, height, width] = images.shape;
  return tf.tidy(() => {
    const flat = draws.flatMap((d) => drawMatrix(d, height, width));
    const matrices = tf.tensor2d(flat, [n, 8]);
    let source = images;
    let fillMode = a.fillMode;
    // When no image samples outside itself (flips alone), every fill mode is the same: skip the tile.
    if (!flat.some((_, i) => i % 8 === 0 && reachesOutside(flat.slice(i, i + 8), height, width))) fillMode = 'constant';
    if (fillMode === 'reflect') {
      source = tf.mirrorPad(
        images,
        [
          [0, 0],
          [0, height],
          [0, width],
          [0, 0],
        ],
        'symmetric',
      );
      fillMode = 'wrap';
    }
    const transform = (image: tf.Tensor4D, m: tf.Tensor2D) =>
      tf.image.transform(image, m, 'bilinear', fillMode, a.fillValue, [height, width]);
    if (tf.getBackend() !== 'cpu' || n === 1) return transform(source, matrices);
    return tf.concat(
      Array.from({ length: n }, (_, i) => transform(source.slice(i, 1), matrices.slice(i, 1))),
    ) as tf.Tensor4D;
  });
}

/**
 * Augments training batches: each epoch draws from its own seeded stream (`startEpoch`), so
 * two runs with one seed see the same images and each epoch sees new ones.
 */
export class Augmenter {
  private random: () => number;
  epoch = 0;

  constructor(
    readonly augmentation: Augmentation,
    private readonly seed: string | number,
  ) {
    this.random = seedrandom(`${seed}:augment:0`);
  }

  /** Called as epoch `epoch` (0-based) begins, before its first batch is made. */
  startEpoch(epoch: number) {
    this.epoch = epoch;
    this.random = seedrandom(`${this.seed}:augment:${epoch}`);
  }

  /** A batch [n, h, w] or [n, h, w, c] augmented, the same shape; the caller keeps (and disposes) `xs`. */
  apply(xs: tf.Tensor): tf.Tensor {
    const [n, height, width] = xs.shape;
    const draws = Array.from({ length: n }, () => drawImage(this.random, this.augmentation, height, width));
    return tf.tidy(() => {
      const images = xs.reshape([n, height, width, xs.shape[3] ?? 1]) as tf.Tensor4D;
      return augmentImages(images, draws, this.augmentation).reshape(xs.shape);
    });
  }
}
