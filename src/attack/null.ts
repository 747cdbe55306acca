/**
 * The target-side null of the attack score: the reference (imposter) speakers are known non-members of the
 * target and of every reference model, so their attack scores (each audited against a leave-one-out bank of
 * the others, n voices at a time) sample the score distribution of non-members on THIS target. A Gaussian fit
 * gives every verdict a p-value (probability that a non-member scores at least this high) and the member
 * threshold at the target FPR, instead of the shadow's threshold alone.
 */
import normalCdf from '@stdlib/stats-base-dists-normal-cdf';
import normalQuantile from '@stdlib/stats-base-dists-normal-quantile';
import { SlmiaError } from '../errors.js';

/** Too few or degenerate null samples. */
export class NullFitError extends SlmiaError {
  constructor(detail: string) {
    super('attack.null', detail);
  }
}

/** Gaussian fit of null scores. */
export interface NullFit {
  /** Sample mean and (n − 1) standard deviation of the null scores. */
  mean: number;
  std: number;
  /** Null samples and the largest of them. */
  samples: number;
  max: number;
}

/**
 * Fit a Gaussian to null scores.
 * @throws NullFitError with fewer than 10 samples or zero spread
 */
export function fitNull(scores: ArrayLike<number>): NullFit {
  const v = Array.from(scores).filter(Number.isFinite);
  if (v.length < 10) throw new NullFitError(`null needs at least 10 finite scores, got ${v.length}`);
  const mean = v.reduce((a, b) => a + b, 0) / v.length;
  const std = Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / (v.length - 1));
  if (!(std > 0)) throw new NullFitError('null scores have no spread');
  return { mean, std, samples: v.length, max: Math.max(...v) };
}

/** Upper-tail p-value of a score under the fitted null: P(null ≥ score). */
export function nullPValue(fit: NullFit, score: number): number {
  return normalCdf(-(score - fit.mean) / fit.std, 0, 1);
}

/** Score threshold whose null upper-tail probability is `fpr` (member when score ≥ threshold). */
export function nullThreshold(fit: NullFit, fpr: number): number {
  return fit.mean + fit.std * normalQuantile(1 - fpr, 0, 1);
}
