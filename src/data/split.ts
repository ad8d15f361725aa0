import seedrandom from 'seedrandom';

/** A seeded Fisher-Yates permutation of 0..n-1: the same seed gives the same split. */
export function shuffledIndices(n: number, seed: number | string): Int32Array {
  const random = seedrandom(String(seed));
  const indices = Int32Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [indices[i], indices[j]] = [indices[j], indices[i]];
  }
  return indices;
}

/**
 * Holds out a shuffled fraction for validation. Keras takes the tail of the data, which is
 * biased when the data is sorted (by class, by time); a shuffled slice is not.
 */
export function validationSplit(n: number, fraction: number, seed: number | string) {
  const indices = shuffledIndices(n, seed);
  const held = Math.floor(n * fraction);
  return { validation: indices.subarray(0, held), train: indices.subarray(held) };
}
