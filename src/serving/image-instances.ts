import { AppError } from '../errors.ts';
import { decodeImage, ImageDecodeError } from '../data/image-decode.ts';
import type { ImageSpec } from '../data/image-spec.ts';

/** Images of one request decoded at once (sharp works in libuv's pool, off the event loop). */
const DECODES_IN_FLIGHT = 4;

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$|^[A-Za-z0-9_-]*$/;

const invalid = (i: number, message: string) =>
  new AppError(400, 'invalid_instances', `/instances/${i} ${message}`, [{ path: `/instances/${i}`, message }]);

/** The base64 text of a `{"b64": "…"}` instance (TF Serving's convention for binary inputs), if it is one. */
function b64Of(instance: unknown, i: number): string | undefined {
  if (typeof instance !== 'object' || instance === null || Array.isArray(instance) || !Object.hasOwn(instance, 'b64'))
    return undefined;
  const { b64, ...rest } = instance as { b64: unknown };
  if (Object.keys(rest).length > 0)
    throw invalid(i, 'an image instance is {"b64": "<base64 PNG, JPEG, WebP or GIF>"} alone');
  if (typeof b64 !== 'string' || !BASE64.test(b64)) throw invalid(i, 'b64 must be the image as base64 text');
  return b64;
}

/**
 * For a model trained on image folders: `{"b64": …}` instances become the pixels its dataset
 * stored (decoded, resized and given their channels as the upload was); pixel arrays pass
 * through unchanged. Runs before the synchronous tensor code. The request's size is already
 * bounded by PREDICT_BODY_LIMIT_BYTES; each image's declared pixels by `maxPixels`
 * (DATASET_MAX_IMAGE_PIXELS).
 */
export async function decodeImageInstances(
  instances: unknown[],
  spec: ImageSpec,
  maxPixels: number,
): Promise<unknown[]> {
  const encoded = instances.map(b64Of);
  if (encoded.every((b64) => b64 === undefined)) return instances;
  const decoded: unknown[] = [...instances];
  for (let start = 0; start < instances.length; start += DECODES_IN_FLIGHT) {
    const indices = encoded.map((_, i) => i).slice(start, start + DECODES_IN_FLIGHT);
    await Promise.all(
      indices.map(async (i) => {
        const b64 = encoded[i];
        if (b64 === undefined) return;
        try {
          decoded[i] = Array.from(await decodeImage(Buffer.from(b64, 'base64'), spec, maxPixels));
        } catch (err) {
          throw err instanceof ImageDecodeError ? invalid(i, `the image ${err.message}`) : err;
        }
      }),
    );
  }
  return decoded;
}
