import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { featuresTensor, type Transforms } from '../src/data/transforms.ts';
import { initBackend } from '../src/compute/backend.ts';
import { testBackend } from './helpers.ts';

// featuresTensor scales raw features while widening them to float32 (one copy in the backend,
// not two); the values must be exactly what the backend's float32 multiply gave before.
test('scaled features are bit-identical to a float32 multiply on the backend', async () => {
  await initBackend(...testBackend());
  const t: Transforms = { featureShape: [4, 4], inputs: { reshape: [16], scale: 1 / 255 }, labels: {} };
  const raw = Uint8Array.from({ length: 3 * 16 }, (_, i) => (i * 37) % 256);
  const expected = tf.tidy(() =>
    tf
      .tensor(Float32Array.from(raw), [3, 16])
      .mul(1 / 255)
      .dataSync(),
  );
  const floats = Float64Array.from(raw, (v) => v + 0.1);
  const expectedFloats = tf.tidy(() =>
    tf
      .tensor(Float32Array.from(floats), [3, 16])
      .mul(1 / 255)
      .dataSync(),
  );
  for (const [input, want] of [
    [raw, expected],
    [floats, expectedFloats],
    [Float32Array.from(floats), expectedFloats],
  ] as const) {
    const features = featuresTensor(input, 3, t);
    assert.deepEqual(features.shape, [3, 16]);
    assert.deepEqual(Array.from(features.dataSync()), Array.from(want));
    features.dispose();
  }
  const f32 = Float32Array.from(floats);
  featuresTensor(f32, 3, t).dispose();
  assert.deepEqual(Array.from(f32), Array.from(Float32Array.from(floats)), 'the caller’s array is not scaled in place');
});
