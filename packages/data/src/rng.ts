import seedrandom from 'seedrandom';

/**
 * A seeded uniform [0, 1) generator. seedrandom's default ARC4 generator gives the same stream on
 * every platform, so a seed fixes splits and augmentations across machines.
 */
export function makeRng(seed: number | string): () => number {
  return seedrandom(String(seed));
}

/** Seeded Fisher-Yates shuffle; returns a new array and leaves the input alone. */
export function shuffled<T>(items: readonly T[], rng: () => number): T[] {
  const out = items.slice();
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}
