/** Feature standardisation (z-scores) fitted on training rows. */

/** Per-feature mean and standard deviation (population; 1 for a constant feature). */
export interface Standardizer {
  mean: number[];
  std: number[];
}

/** Fit on `[samples][F]` rows. */
export function fitStandardizer(rows: ArrayLike<number>[]): Standardizer {
  const F = rows[0].length;
  const mean = new Array<number>(F).fill(0);
  const std = new Array<number>(F).fill(0);
  for (const r of rows) for (let f = 0; f < F; f++) mean[f] += r[f];
  for (let f = 0; f < F; f++) mean[f] /= rows.length;
  for (const r of rows) for (let f = 0; f < F; f++) std[f] += (r[f] - mean[f]) ** 2;
  for (let f = 0; f < F; f++) std[f] = Math.sqrt(std[f] / rows.length) || 1;
  return { mean, std };
}

/** z-scores of one row as a plain array. */
export function standardize(s: Standardizer, x: ArrayLike<number>): number[] {
  const out = new Array<number>(s.mean.length);
  for (let f = 0; f < out.length; f++) out[f] = (x[f] - s.mean[f]) / s.std[f];
  return out;
}
