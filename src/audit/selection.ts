/**
 * Shadow-only choices of a calibration (docs/evaluation/README.md, "Shadow-only selection protocol"): the
 * quantization margin from clamping rates on out-of-fold shadow features and on the imposter null of the
 * shadow-side pair, and the guard's norm quantile from its false-alarm rate on shadow speakers. Neither reads a
 * target or out-of-domain speaker.
 */
import {
  fitQuantizer,
  seededRng,
  shuffled,
  speakerFolds,
  type Quantizer,
  type TrainingSample,
} from '../attack/index.js';
import { voiceLogNorms } from '../features/index.js';
import { layoutFeatures, leaveOneOut, viewOf, type BankContext, type FeatureSettings } from './views.js';

/** Candidate quantization margins, smallest first, and the largest clamping rate allowed. */
export const MARGIN_CANDIDATES = [0.1, 0.25, 0.5, 1];
export const MAX_CLAMP_RATE = 0.005;
/** Candidate guard norm quantiles, smallest (strictest) first, and the largest false-alarm rate allowed. */
export const NORM_QUANTILE_CANDIDATES = [0.95, 0.99];
export const MAX_GUARD_FALSE_ALARMS = 0.05;

/** Share of the values of `rows` outside the quantizer's 256 codes (clamped). */
export function clampRate(q: Quantizer, rows: ArrayLike<number>[]): number {
  let out = 0;
  let total = 0;
  for (const r of rows) {
    for (let f = 0; f < q.min.length; f++) {
      const c = (r[f] - q.min[f]) / q.scale[f];
      if (c < -0.5 || c > 255.5) out++;
      total++;
    }
  }
  return total ? out / total : 0;
}

/**
 * Calibrated features of the imposters audited on the shadow-side pair, built like the target-side null: each
 * reference speaker k, `subsets` random n-voice subsets of its voices (bank + extra), against banks of the other
 * K − 1 speakers.
 * @param model the shadow model's bank; `refs` the shadow-side reference models' banks
 * @returns per n: `[K·subsets]` feature vectors in the bundle layout
 */
export function imposterNullFeatures(
  model: BankContext,
  refs: BankContext[],
  settings: FeatureSettings,
  subsets: number,
  seed: number,
): Map<number, Float64Array[]> {
  const opts = { similarity: settings.similarity, centre: settings.centre };
  const all = [model, ...refs];
  const out = new Map<number, Float64Array[]>(settings.counts.map((n) => [n, []]));
  const K = model.references.embeddings.length;
  for (let k = 0; k < K; k++) {
    const { loo, pool } = leaveOneOut(all, k, opts);
    const rng = seededRng(seed * 100003 + k);
    for (const n of settings.counts) {
      if (pool[0].length < n) continue;
      for (let t = 0; t < subsets; t++) {
        const idx = shuffled([...Array(pool[0].length).keys()], rng).slice(0, n);
        const views = loo.map((b, m) =>
          viewOf(
            b,
            idx.map((i) => pool[m][i]),
          ),
        );
        out.get(n)?.push(layoutFeatures(views[0], views.slice(1)));
      }
    }
  }
  return out;
}

/** The margin choice with every candidate's clamping rates. */
export interface MarginChoice {
  chosen: number;
  rule: string;
  candidates: { margin: number; oof_clamp_rate: number; null_clamp_rate: number }[];
}

/**
 * The smallest margin whose clamping rates — out-of-fold shadow features (ranges fitted on the other speaker
 * folds) and imposter-null features (ranges fitted on all shadow samples) — are both ≤ {@link MAX_CLAMP_RATE}.
 * @param samplesByN shadow samples per n; `nulls` imposter-null features per n
 */
export function chooseMargin(
  samplesByN: { n: number; samples: TrainingSample[] }[],
  nulls: Map<number, Float64Array[]>,
  folds: number,
  seed: number,
): MarginChoice {
  const candidates = MARGIN_CANDIDATES.map((margin) => {
    let oofOut = 0;
    let oofN = 0;
    let nullOut = 0;
    let nullN = 0;
    for (const { n, samples } of samplesByN) {
      const fold = speakerFolds(samples, folds, seed);
      for (let k = 0; k < folds; k++) {
        const tr = samples.filter((_, i) => fold[i] !== k).map((s) => s.features);
        const te = samples.filter((_, i) => fold[i] === k).map((s) => s.features);
        if (!tr.length || !te.length) continue;
        oofOut += clampRate(fitQuantizer(tr, margin), te) * te.length;
        oofN += te.length;
      }
      const rows = nulls.get(n) ?? [];
      if (rows.length) {
        const q = fitQuantizer(
          samples.map((s) => s.features),
          margin,
        );
        nullOut += clampRate(q, rows) * rows.length;
        nullN += rows.length;
      }
    }
    return {
      margin,
      oof_clamp_rate: oofN ? oofOut / oofN : 0,
      null_clamp_rate: nullN ? nullOut / nullN : 0,
    };
  });
  const ok = candidates.find(
    (c) => c.oof_clamp_rate <= MAX_CLAMP_RATE && c.null_clamp_rate <= MAX_CLAMP_RATE,
  );
  return {
    chosen: ok?.margin ?? MARGIN_CANDIDATES[MARGIN_CANDIDATES.length - 1],
    rule: `smallest of {${MARGIN_CANDIDATES.join(', ')}} with out-of-fold and imposter-null clamping rates ≤ ${MAX_CLAMP_RATE * 100}%`,
    candidates,
  };
}

/** The norm-quantile choice with every candidate's false-alarm rate on shadow speakers. */
export interface NormQuantileChoice {
  chosen: number;
  rule: string;
  candidates: { quantile: number; false_alarm_rate: number }[];
}

/**
 * The guard's norm quantile on the shadow-side pair: per shadow-side reference model, the threshold is the
 * quantile of the imposters' voice log-norms (bank + extra voices), and a shadow voice set (every shadow speaker
 * is a non-member of that model) raises a false alarm when more than `normShare` of its voices exceed it on any
 * reference. The smallest quantile with a false-alarm rate ≤ {@link MAX_GUARD_FALSE_ALARMS} is chosen.
 * @param refs the shadow-side reference models' banks
 * @param setLogNorms per calibration voice set, per reference model: `[n]` voice log-norms on it
 */
export function chooseNormQuantile(
  refs: BankContext[],
  setLogNorms: ArrayLike<number>[][],
  normShare: number,
): NormQuantileChoice {
  const sorted = refs.map((c) =>
    c.references.embeddings
      .flatMap((sp, k) => [
        ...voiceLogNorms(sp, c.bank.mean),
        ...voiceLogNorms(c.references.extra[k] ?? [], c.bank.mean),
      ])
      .sort((a, b) => a - b),
  );
  const candidates = NORM_QUANTILE_CANDIDATES.map((quantile) => {
    const thr = sorted.map((v) => v[Math.min(v.length - 1, Math.floor(quantile * v.length))]);
    const alarms = setLogNorms.filter((perRef) =>
      perRef.some((ln, j) => {
        let c = 0;
        for (let i = 0; i < ln.length; i++) if (ln[i] > thr[j]) c++;
        return ln.length > 0 && c / ln.length > normShare;
      }),
    ).length;
    return { quantile, false_alarm_rate: setLogNorms.length ? alarms / setLogNorms.length : 0 };
  });
  const ok = candidates.find((c) => c.false_alarm_rate <= MAX_GUARD_FALSE_ALARMS);
  return {
    chosen: ok?.quantile ?? NORM_QUANTILE_CANDIDATES[NORM_QUANTILE_CANDIDATES.length - 1],
    rule: `smallest of {${NORM_QUANTILE_CANDIDATES.join(', ')}} whose false-alarm rate on shadow voice sets (shadow-side reference model) is ≤ ${MAX_GUARD_FALSE_ALARMS * 100}%`,
    candidates,
  };
}
