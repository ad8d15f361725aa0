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
export function validationSplit(n: number, fraction: number, seed: number | string, strata?: ArrayLike<number>) {
  const { held, kept } = holdOut(n, fraction, seed, strata);
  return { validation: held, train: kept };
}

/**
 * Holds out floor(n * fraction) of n samples, shuffled by `seed`. With `strata` (a class
 * index per sample) every class gives up its share, so a rare class is not left out of the
 * held-out part by chance: the shuffled samples are grouped by class and every 1/fraction-th
 * one is held out.
 */
export function holdOut(
  n: number,
  fraction: number,
  seed: number | string,
  strata?: ArrayLike<number>,
): { held: Int32Array; kept: Int32Array } {
  const indices = shuffledIndices(n, seed);
  const count = Math.floor(n * fraction);
  if (!strata) return { held: indices.subarray(0, count), kept: indices.subarray(count) };
  const byClass = Array.from(indices).sort((a, b) => strata[a] - strata[b]);
  const held = new Int32Array(count);
  const kept = new Int32Array(n - count);
  let h = 0;
  let k = 0;
  byClass.forEach((index, i) => {
    if (Math.floor((i + 1) * fraction) > Math.floor(i * fraction)) held[h++] = index;
    else kept[k++] = index;
  });
  return { held, kept };
}
