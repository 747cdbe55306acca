/** Seeded pseudo-random numbers (mulberry32) so calibrations are reproducible. */

/** A function returning uniform numbers in [0, 1). */
export type Rng = () => number;

/** mulberry32 generator from a 32-bit seed. */
export function seededRng(seed: number): Rng {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Fisher–Yates shuffle of a copy. */
export function shuffled<T>(items: readonly T[], rng: Rng): T[] {
  const a = [...items];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

/** `k` distinct items drawn without replacement (in random order). */
export function sample<T>(items: readonly T[], k: number, rng: Rng): T[] {
  return shuffled(items, rng).slice(0, k);
}
