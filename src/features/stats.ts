/**
 * Strided summary statistics over Float64Array slices: the SLMIA-SR summary [mean, std, max, min] with the
 * POPULATION standard deviation (divide by N; 0 for one value), ../shared/docs/slmia-sr-method.md.
 */

/**
 * Summarise `count` values `src[start + j * stride]` into `out[o..o+3]` = [mean, std, max, min].
 * Two-pass variance (mean first) for float64 accuracy. `count` must be ≥ 1.
 */
export function summarizeInto(
  src: Float64Array,
  start: number,
  count: number,
  stride: number,
  out: Float64Array,
  o: number,
): void {
  let sum = 0;
  let max = -Infinity;
  let min = Infinity;
  for (let j = 0, p = start; j < count; j++, p += stride) {
    const v = src[p];
    sum += v;
    if (v > max) max = v;
    if (v < min) min = v;
  }
  const mean = sum / count;
  let ss = 0;
  for (let j = 0, p = start; j < count; j++, p += stride) {
    const d = src[p] - mean;
    ss += d * d;
  }
  out[o] = mean;
  out[o + 1] = Math.sqrt(ss / count);
  out[o + 2] = max;
  out[o + 3] = min;
}

/**
 * Reduce groups of a list to four lists (mean, std, max, min per group).
 * Group g is `count` values starting at `startOf(g)` with `stride`.
 * @returns `[4][groups]` float64
 */
export function reduceGroups(
  src: Float64Array,
  groups: number,
  startOf: (g: number) => number,
  countOf: (g: number) => number,
  stride: number,
): [Float64Array, Float64Array, Float64Array, Float64Array] {
  const tmp = new Float64Array(4);
  const out: [Float64Array, Float64Array, Float64Array, Float64Array] = [
    new Float64Array(groups),
    new Float64Array(groups),
    new Float64Array(groups),
    new Float64Array(groups),
  ];
  for (let g = 0; g < groups; g++) {
    summarizeInto(src, startOf(g), countOf(g), stride, tmp, 0);
    out[0][g] = tmp[0];
    out[1][g] = tmp[1];
    out[2][g] = tmp[2];
    out[3][g] = tmp[3];
  }
  return out;
}
