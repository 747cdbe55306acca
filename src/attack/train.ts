/**
 * Calibration of one voice-count-dependent attack model on shadow features (SLMIA-SR Sec. IV-D):
 * 8-bit quantization fitted on the shadow features → standardisation → classifier (RBF SVM or logistic
 * regression) with hyper-parameters chosen by speaker-grouped cross-validation → Platt sigmoid fitted on the
 * out-of-fold (held-out) decision values → threshold for the target FPR on held-out non-member probabilities
 * → final classifier trained on all shadow samples.
 */
import type { AttackModelEntry, Classifier } from './bundle.js';
import { logisticDecision, trainLogistic } from './logistic.js';
import { auroc, thresholdForFpr, tprAtFpr } from './metrics.js';
import { fitPlatt, plattProbability } from './platt.js';
import { dequantize, fitQuantizer, quantize } from './quantize.js';
import { seededRng, shuffled } from './rng.js';
import { fitStandardizer, standardize } from './standardize.js';
import { AttackTrainingError, rbfDecision, trainRbfSvm } from './svm.js';

/** One shadow training sample: a speaker's features from n voices at mixing ratio r. */
export interface TrainingSample {
  features: Float64Array;
  /** 1 = member of the shadow model's training set, 0 = non-member. */
  label: 0 | 1;
  speaker: string;
  /** Mixing ratio of the voices (fraction that were training clips); 0 for non-members. */
  r: number;
}

/** Options of {@link trainAttackModel}. */
export interface TrainOptions {
  n: number;
  kind: 'svm' | 'logistic';
  targetFpr: number;
  folds?: number;
  seed?: number;
  /** SVM grid (defaults: C ∈ {0.3, 1, 3, 10}, gamma ∈ {0.25, 1, 4} / F). */
  Cs?: number[];
  gammaScales?: number[];
  /** Logistic-regression L2 grid (default {1e-3, 1e-2, 1e-1, 1}). */
  l2s?: number[];
  /** Indices of the features the classifier uses (feature selection; default all). */
  selected?: number[];
  /** Called after each grid point. */
  onStep?: () => void;
}

/** NaN (e.g. no member sample at that ratio) → null in the bundle. */
function finiteOrNull(v: number): number | null {
  return Number.isFinite(v) ? v : null;
}

/** The features at `indices` (feature selection). */
export function selectFeatures(x: ArrayLike<number>, indices: number[]): Float64Array {
  return Float64Array.from(indices, (i) => x[i]);
}

/** Base64 of uint8 rows. */
export function encodeCodes(rows: Uint8Array[]): string {
  const F = rows[0]?.length ?? 0;
  const all = new Uint8Array(rows.length * F);
  rows.forEach((r, i) => all.set(r, i * F));
  return Buffer.from(all).toString('base64');
}

/** Rows of `F` uint8 codes from base64. */
export function decodeCodes(b64: string, F: number): Uint8Array[] {
  const all = new Uint8Array(Buffer.from(b64, 'base64'));
  return [...Array(all.length / F).keys()].map((i) => all.subarray(i * F, (i + 1) * F));
}

interface Fitted {
  classifier: Classifier;
  decide: (rows: number[][]) => number[];
}

function fit(
  kind: 'svm' | 'logistic',
  params: Record<string, number>,
  Z: number[][],
  y: number[],
  codes: Uint8Array[],
  seed: number,
): Fitted {
  if (kind === 'logistic') {
    const m = trainLogistic(Z, y, params.l2);
    return {
      classifier: { kind: 'logistic', w: m.w, b: m.b, l2: m.l2 },
      decide: (rows) => logisticDecision(m, rows),
    };
  }
  const m = trainRbfSvm(Z, y, { C: params.C, gamma: params.gamma, seed });
  const sv = m.supportIndex.map((i) => Z[i]);
  return {
    classifier: {
      kind: 'svm',
      kernel: 'rbf',
      C: m.C,
      gamma: m.gamma,
      b: m.b,
      coef: m.coef,
      support_vectors_q: encodeCodes(m.supportIndex.map((i) => codes[i])),
    },
    decide: (rows) => rbfDecision(m, sv, rows),
  };
}

/** Speaker-grouped fold of every sample (members and non-members spread evenly over folds). */
function speakerFolds(samples: TrainingSample[], folds: number, seed: number): number[] {
  const rng = seededRng(seed);
  const foldOf = new Map<string, number>();
  for (const label of [1, 0]) {
    const speakers = [...new Set(samples.filter((s) => s.label === label).map((s) => s.speaker))].sort();
    shuffled(speakers, rng).forEach((s, i) => foldOf.set(s, i % folds));
  }
  return samples.map((s) => foldOf.get(s.speaker) as number);
}

/**
 * Train one attack model for `n` voices.
 * @param samples shadow samples (all with features from exactly n voices)
 * @throws AttackTrainingError when a class is missing or SMO fails
 */
export function trainAttackModel(samples: TrainingSample[], options: TrainOptions): AttackModelEntry {
  const seed = options.seed ?? 1;
  const folds = options.folds ?? 3;
  const F = samples[0].features.length;
  const quant = fitQuantizer(samples.map((s) => s.features));
  const codes = samples.map((s) => quantize(quant, s.features));
  const deq = codes.map((c) => dequantize(quant, c));
  const selected = options.selected;
  const proj = selected ? deq.map((x) => selectFeatures(x, selected)) : deq;
  const std = fitStandardizer(proj);
  const Z = proj.map((x) => standardize(std, x));
  const y = samples.map((s) => s.label);
  const fold = speakerFolds(samples, folds, seed);

  const grid: Record<string, number>[] =
    options.kind === 'svm'
      ? (options.Cs ?? [0.3, 1, 3, 10]).flatMap((C) =>
          (options.gammaScales ?? [0.25, 1, 4]).map((g) => ({ C, gamma: g / (selected?.length ?? F) })),
        )
      : (options.l2s ?? [1e-3, 1e-2, 1e-1, 1]).map((l2) => ({ l2 }));

  const r0 = samples.map((s, i) => i).filter((i) => samples[i].label === 0 || samples[i].r === 0);
  const r1 = samples.map((s, i) => i).filter((i) => samples[i].label === 0 || samples[i].r === 1);
  const sub = (v: number[], idx: number[]): number[] => idx.map((i) => v[i]);
  let best: { params: Record<string, number>; oof: number[]; score: number } | undefined;
  const gridOut: { params: Record<string, number>; auroc: number }[] = [];
  for (const params of grid) {
    const oof = new Array<number>(samples.length).fill(0);
    let failed = false;
    for (let k = 0; k < folds && !failed; k++) {
      const tr = samples.map((_, i) => i).filter((i) => fold[i] !== k);
      const te = samples.map((_, i) => i).filter((i) => fold[i] === k);
      try {
        const m = fit(
          options.kind,
          params,
          tr.map((i) => Z[i]),
          tr.map((i) => y[i]),
          tr.map((i) => codes[i]),
          seed + k,
        );
        m.decide(te.map((i) => Z[i])).forEach((d, j) => (oof[te[j]] = d));
      } catch (err) {
        if (!(err instanceof AttackTrainingError)) throw err;
        failed = true; // e.g. SMO iteration limit: skip this grid point
      }
    }
    if (failed) {
      gridOut.push({ params, auroc: -1 });
      options.onStep?.();
      continue;
    }
    // Select on the mean of r = 0 and r = 1 AUROC: r = 0 is what audits face, r = 1 keeps it honest.
    const parts = [auroc(sub(oof, r0), sub(y, r0)), auroc(sub(oof, r1), sub(y, r1))].filter(Number.isFinite);
    const score = parts.length ? parts.reduce((a, b) => a + b) / parts.length : auroc(oof, y);
    gridOut.push({ params, auroc: score });
    if (!best || score > best.score) best = { params, oof, score };
    options.onStep?.();
  }
  if (!best)
    throw new AttackTrainingError(`no ${options.kind} grid point could be trained for n=${options.n}`);
  const chosen = best as { params: Record<string, number>; oof: number[]; score: number };
  const platt = fitPlatt(chosen.oof, y);
  const prob = chosen.oof.map((d) => plattProbability(platt, d));
  const threshold = thresholdForFpr(
    prob.filter((_, i) => y[i] === 0),
    options.targetFpr,
  );
  // Final model on all shadow samples; if SMO fails for the chosen point, fall back to the next best.
  const ranked = gridOut.filter((g) => g.auroc >= 0).sort((a, b) => b.auroc - a.auroc);
  let final: Fitted | undefined;
  for (const g of ranked) {
    try {
      final = fit(options.kind, g.params, Z, y, codes, seed);
      break;
    } catch (err) {
      if (!(err instanceof AttackTrainingError)) throw err;
    }
  }
  if (!final)
    throw new AttackTrainingError(
      `no ${options.kind} model could be trained on all samples for n=${options.n}`,
    );
  return {
    n: options.n,
    quantization: { bits: 8, min: quant.min, scale: quant.scale },
    standardization: std,
    ...(selected && { selected }),
    classifier: final.classifier,
    platt,
    threshold,
    calibration: {
      samples: samples.length,
      members: y.filter((v) => v === 1).length,
      nonmembers: y.filter((v) => v === 0).length,
      cv_folds: folds,
      grid: gridOut,
      oof_auroc: auroc(chosen.oof, y),
      oof_auroc_r0: finiteOrNull(auroc(sub(chosen.oof, r0), sub(y, r0))),
      oof_auroc_r1: finiteOrNull(auroc(sub(chosen.oof, r1), sub(y, r1))),
      oof_tpr_at_target_fpr: tprAtFpr(prob, y, options.targetFpr),
    },
  };
}
