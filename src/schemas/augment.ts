import { Type, type Static } from '@sinclair/typebox';

/** Keras's RandomFlip modes, and a camelCase spelling of the last (the body's keys are camelized, its values not). */
export const FLIP_MODES = ['horizontal', 'vertical', 'horizontal_and_vertical', 'horizontalAndVertical'] as const;
export const FILL_MODES = ['reflect', 'constant', 'nearest', 'wrap'] as const;

/**
 * A string from a list, as an `enum` so that a wrong value's error lists the allowed ones
 * (a union of literals answers "must be equal to constant" once per value). The stored-request
 * check (TypeCompiler) sees only a string; the plan checks the value (planAugmentation).
 */
const oneOf = (values: readonly string[], description: string) => Type.String({ enum: [...values], description });

/**
 * Training-time image augmentation, as Keras's preprocessing layers (RandomFlip,
 * RandomRotation, RandomZoom, RandomTranslation) do it: a fresh random draw per image, per
 * training batch, per epoch; never applied to validation, test or predict data.
 */
export const AugmentSpec = Type.Object(
  {
    flip: Type.Optional(
      oneOf(FLIP_MODES, 'RandomFlip: each image is flipped along each named axis with probability 0.5'),
    ),
    rotation: Type.Optional(
      Type.Number({
        minimum: 0,
        maximum: 1,
        description: 'RandomRotation factor f: a random angle in [-f·2π, f·2π] about the image centre',
      }),
    ),
    zoom: Type.Optional(
      Type.Number({
        minimum: 0,
        exclusiveMaximum: 1,
        description:
          "RandomZoom factor f (Keras's height_factor, the width following it): a scale in [1-f, 1+f] about the centre; above 1 zooms out, below 1 zooms in",
      }),
    ),
    translation: Type.Optional(
      Type.Number({
        minimum: 0,
        maximum: 1,
        description: 'RandomTranslation factor f: a shift of up to f·height rows and f·width columns either way',
      }),
    ),
    fillMode: Type.Optional(
      oneOf(FILL_MODES, "what fills the pixels a transform brings in from outside the image; default reflect, Keras's"),
    ),
    fillValue: Type.Optional(Type.Number({ description: 'the value fillMode constant fills with; default 0' })),
    seed: Type.Optional(
      Type.Integer({ minimum: 0, description: 'seed of the random draws; default fit.seed, else the job id' }),
    ),
  },
  { additionalProperties: false },
);
export type AugmentSpec = Static<typeof AugmentSpec>;
