/**
 * Membership-inference metrics (as in the SLMIA-SR paper): accuracy, AUROC, ROC curve, TPR at a fixed FPR,
 * and a bootstrap confidence interval over speakers. Labels: 1 = member, 0 = non-member; higher score =
 * more likely member.
 */
import { seededRng } from './rng.js';

/**
 * Area under the ROC curve by the Mann–Whitney U statistic (ties count 1/2).
 * @returns NaN when one class is empty
 */
export function auroc(scores: ArrayLike<number>, labels: ArrayLike<number>): number {
  const idx = [...Array(scores.length).keys()].sort((a, b) => scores[a] - scores[b]);
  let pos = 0;
  let neg = 0;
  let rankSumPos = 0;
  for (let i = 0; i < idx.length;) {
    let j = i;
    while (j + 1 < idx.length && scores[idx[j + 1]] === scores[idx[i]]) j++;
    const rank = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) {
      if (labels[idx[k]] === 1) {
        pos++;
        rankSumPos += rank;
      } else neg++;
    }
    i = j + 1;
  }
  if (pos === 0 || neg === 0) return NaN;
  return (rankSumPos - (pos * (pos + 1)) / 2) / (pos * neg);
}

/** One ROC point at threshold `threshold` (predict member when score ≥ threshold). */
export interface RocPoint {
  threshold: number;
  fpr: number;
  tpr: number;
}

/** ROC curve from (+∞, 0, 0) to (−∞, 1, 1), one point per distinct score. */
export function rocCurve(scores: ArrayLike<number>, labels: ArrayLike<number>): RocPoint[] {
  const idx = [...Array(scores.length).keys()].sort((a, b) => scores[b] - scores[a]);
  let P = 0;
  for (let i = 0; i < labels.length; i++) if (labels[i] === 1) P++;
  const N = labels.length - P;
  const out: RocPoint[] = [{ threshold: Infinity, fpr: 0, tpr: 0 }];
  let tp = 0;
  let fp = 0;
  for (let i = 0; i < idx.length;) {
    const s = scores[idx[i]];
    while (i < idx.length && scores[idx[i]] === s) {
      if (labels[idx[i]] === 1) tp++;
      else fp++;
      i++;
    }
    out.push({ threshold: s, fpr: N ? fp / N : 0, tpr: P ? tp / P : 0 });
  }
  return out;
}

/** Highest TPR whose FPR ≤ `maxFpr` (thresholds at observed scores). */
export function tprAtFpr(scores: ArrayLike<number>, labels: ArrayLike<number>, maxFpr: number): number {
  let best = 0;
  for (const p of rocCurve(scores, labels)) if (p.fpr <= maxFpr + 1e-12 && p.tpr > best) best = p.tpr;
  return best;
}

/** Fraction of correct decisions with "member" when score ≥ threshold. */
export function accuracy(scores: ArrayLike<number>, labels: ArrayLike<number>, threshold: number): number {
  let ok = 0;
  for (let i = 0; i < scores.length; i++) if ((scores[i] >= threshold ? 1 : 0) === labels[i]) ok++;
  return scores.length ? ok / scores.length : NaN;
}

/**
 * Smallest threshold whose FPR on the negatives is ≤ `targetFpr` (negatives strictly above it are false
 * positives). With fewer than 1/targetFpr negatives this is just above the largest negative score.
 */
export function thresholdForFpr(negativeScores: ArrayLike<number>, targetFpr: number): number {
  const s = Array.from(negativeScores).sort((a, b) => b - a);
  const allowed = Math.floor(targetFpr * s.length + 1e-9); // negatives allowed at or above the threshold
  if (s.length === 0) return 0.5;
  if (allowed >= s.length) return -Infinity;
  // threshold just above the (allowed)-th highest negative
  const v = s[allowed];
  return v + Math.max(1e-12, Math.abs(v) * 1e-9);
}

/** Threshold maximising accuracy (midpoint between neighbouring scores). */
export function bestAccuracyThreshold(scores: ArrayLike<number>, labels: ArrayLike<number>): number {
  const s = [...new Set(Array.from(scores))].sort((a, b) => a - b);
  let best = -Infinity;
  let bestAcc = -1;
  const cands = [s[0] - 1, ...s.slice(1).map((v, i) => (v + s[i]) / 2), s[s.length - 1] + 1];
  for (const t of cands) {
    const a = accuracy(scores, labels, t);
    if (a > bestAcc) {
      bestAcc = a;
      best = t;
    }
  }
  return best;
}

/**
 * 95% (or `level`) percentile bootstrap interval of AUROC, resampling members and non-members separately
 * (one score per speaker, so this resamples speakers).
 */
export function bootstrapAurocCi(
  scores: ArrayLike<number>,
  labels: ArrayLike<number>,
  options: { rounds?: number; level?: number; seed?: number } = {},
): [number, number] {
  const rounds = options.rounds ?? 1000;
  const level = options.level ?? 0.95;
  const rng = seededRng(options.seed ?? 1);
  const pos: number[] = [];
  const neg: number[] = [];
  for (let i = 0; i < scores.length; i++) (labels[i] === 1 ? pos : neg).push(scores[i]);
  if (!pos.length || !neg.length) return [NaN, NaN];
  const vals: number[] = [];
  const s = new Float64Array(pos.length + neg.length);
  const l = new Uint8Array(pos.length + neg.length).fill(1, 0, pos.length);
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < pos.length; i++) s[i] = pos[Math.floor(rng() * pos.length)];
    for (let i = 0; i < neg.length; i++) s[pos.length + i] = neg[Math.floor(rng() * neg.length)];
    vals.push(auroc(s, l));
  }
  vals.sort((a, b) => a - b);
  const lo = vals[Math.floor(((1 - level) / 2) * rounds)];
  const hi = vals[Math.min(rounds - 1, Math.ceil(((1 + level) / 2) * rounds) - 1)];
  return [lo, hi];
}
