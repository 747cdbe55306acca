/**
 * Reference z-normalisation of the features (an addition to SLMIA-SR, in the spirit of Z-norm score
 * normalisation in speaker verification): every model places its features at its own offsets and scales,
 * so an attack calibrated on a shadow model transfers badly to a target model. The reference speakers are
 * non-members of every model, so their feature distribution under the SAME model is a model-specific yard
 * stick: each reference speaker is treated as an audited speaker (its own reference voices, n at a time,
 * against a leave-one-out bank of the other K − 1 speakers) and the audited speaker's features become
 * z = (f − mean_ref) / std_ref per feature. Needs nothing beyond the reference bank; computed per model and n.
 */
import { buildReferenceBank, computeFeatures, FeatureError, type Similarity } from './features.js';

/** Per-feature mean and std of the reference speakers' own features for one n. */
export interface FeatureNorm {
  n: number;
  mean: Float64Array;
  std: Float64Array;
  /** Reference voice sets used. */
  samples: number;
}

/**
 * Compute the reference z-norm statistics for voice count n.
 * @param speakers `[K][m][D]` reference embeddings (as for {@link buildReferenceBank}); K ≥ 3
 * @throws FeatureError when no reference speaker has n voices
 */
export function referenceNorm(
  speakers: ArrayLike<number>[][],
  options: { similarity: Similarity; centre?: boolean },
  n: number,
): FeatureNorm {
  const full = buildReferenceBank(speakers, options);
  const rows: Float64Array[] = [];
  speakers.forEach((voices, k) => {
    if (voices.length < n) return;
    const others = speakers.filter((_, j) => j !== k);
    const bank = buildReferenceBank(others, { ...options, centreVector: full.centre });
    for (let s = 0; s + n <= voices.length; s += n)
      rows.push(computeFeatures(voices.slice(s, s + n), bank).features);
  });
  if (!rows.length) throw new FeatureError(`reference z-norm: no reference speaker has ${n} voices`);
  const F = rows[0].length;
  const mean = new Float64Array(F);
  const std = new Float64Array(F);
  for (const r of rows) for (let f = 0; f < F; f++) mean[f] += r[f] / rows.length;
  for (const r of rows) for (let f = 0; f < F; f++) std[f] += (r[f] - mean[f]) ** 2 / rows.length;
  for (let f = 0; f < F; f++) std[f] = Math.sqrt(std[f]) || 1;
  return { n, mean, std, samples: rows.length };
}

/** z-normalise features with the statistics of the largest n ≤ `voices` (or the smallest n). */
export function applyNorm(features: Float64Array, norms: FeatureNorm[], voices: number): Float64Array {
  const sorted = [...norms].sort((a, b) => b.n - a.n);
  const norm = sorted.find((x) => x.n <= voices) ?? sorted[sorted.length - 1];
  return features.map((v, f) => (v - norm.mean[f]) / norm.std[f]);
}

/** Reference z-norm statistics for each voice count in `counts`. */
export function referenceNorms(
  speakers: ArrayLike<number>[][],
  options: { similarity: Similarity; centre: boolean },
  counts: number[],
): FeatureNorm[] {
  return counts.map((n) => referenceNorm(speakers, options, n));
}
