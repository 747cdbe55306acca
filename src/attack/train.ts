/**
 * Calibration of one voice-count-dependent attack model on shadow features (SLMIA-SR Sec. IV-D, extended to
 * an ensemble): 8-bit quantization fitted on the shadow features → per member: feature selection,
 * standardisation, classifier (RBF SVM or logistic regression) with hyper-parameters chosen by speaker-grouped
 * cross-validation, final fit on all shadow samples → ensemble decision = mean of the members' z-scored
 * decisions → Platt sigmoid fitted on the out-of-fold ensemble decisions → threshold for the target FPR on
 * held-out shadow non-member probabilities.
 */
import type { AttackMember, AttackModelEntry, Classifier } from './bundle.js';
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

/**
 * One classifier of the ensemble: its kind and the features (indices into the layout) it reads. With `top`,
 * `selected` is a pool: the member reads the `top` features of the pool with the largest single-feature shadow
 * separation ({@link rankFeatures}), ranked on the training folds inside cross-validation and on all samples for
 * the final model.
 */
export interface MemberSpec {
  kind: 'svm' | 'logistic';
  selected: number[];
  top?: number;
}

/** Options of {@link trainAttackModel}. */
export interface TrainOptions {
  n: number;
  /** The ensemble (default: one logistic regression on every feature). */
  members?: MemberSpec[];
  targetFpr: number;
  folds?: number;
  seed?: number;
  /** SVM grid (defaults: C ∈ {0.3, 1, 3, 10}, gamma ∈ {0.25, 1, 4} / F). */
  Cs?: number[];
  gammaScales?: number[];
  /** Logistic-regression L2 grid (default {1e-3, 1e-2, 1e-1, 1}). */
  l2s?: number[];
  /** Quantization range widening on each side, fraction of the shadow range (default {@link QUANTIZATION_MARGIN}). */
  quantizationMargin?: number;
  /** Called after each grid point. */
  onStep?: () => void;
}

/**
 * Default quantization margin of {@link trainAttackModel} when none is given: the shadow's observed ranges
 * widened by half of themselves on each side. `slmia calibrate` instead chooses the margin per bundle from shadow
 * clamping rates (src/audit/selection.ts `chooseMargin`).
 */
export const QUANTIZATION_MARGIN = 0.5;

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
export function speakerFolds(samples: TrainingSample[], folds: number, seed: number): number[] {
  const rng = seededRng(seed);
  const foldOf = new Map<string, number>();
  for (const label of [1, 0]) {
    const speakers = [...new Set(samples.filter((s) => s.label === label).map((s) => s.speaker))].sort();
    shuffled(speakers, rng).forEach((s, i) => foldOf.set(s, i % folds));
  }
  return samples.map((s) => foldOf.get(s.speaker) as number);
}

/** Mean and population std of values (std 1 when constant). */
function meanStd(v: number[]): { mean: number; std: number } {
  const mean = v.reduce((a, b) => a + b, 0) / v.length;
  const std = Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / v.length) || 1;
  return { mean, std };
}

/**
 * Train one member: standardise its features, choose hyper-parameters by speaker-grouped CV (score = mean of
 * the held-out AUROC at r = 0 and r = 1), keep the out-of-fold decisions of the chosen point, retrain on all.
 * @throws AttackTrainingError when no grid point can be trained
 */
function trainMember(
  spec: MemberSpec,
  deq: Float64Array[],
  codes: Uint8Array[],
  y: number[],
  fold: number[],
  idx: { r0: number[]; r1: number[] },
  o: TrainOptions & { folds: number; seed: number },
): { member: AttackMember; oof: number[] } {
  const pool = spec.selected;
  const projAll = deq.map((x) => selectFeatures(x, pool));
  const stdAll = fitStandardizer(projAll);
  const Zall = projAll.map((x) => standardize(stdAll, x));
  const pick = (rows: number[]): number[] =>
    spec.top ? rankFeatures(Zall, y, rows, idx).slice(0, spec.top) : [...pool.keys()];
  const cols = (z: number[], c: number[]): number[] => c.map((j) => z[j]);
  const finalCols = pick(y.map((_, i) => i));
  const std = {
    mean: finalCols.map((j) => stdAll.mean[j]),
    std: finalCols.map((j) => stdAll.std[j]),
  };
  const Z = Zall.map((z) => cols(z, finalCols));
  const pcodes = codes.map((c) => Uint8Array.from(finalCols, (j) => c[pool[j]]));
  const F = finalCols.length;
  const foldCols = [...Array(o.folds).keys()].map((k) =>
    pick(y.map((_, i) => i).filter((i) => fold[i] !== k)),
  );
  const grid: Record<string, number>[] =
    spec.kind === 'svm'
      ? (o.Cs ?? [0.3, 1, 3, 10]).flatMap((C) =>
          (o.gammaScales ?? [0.25, 1, 4]).map((g) => ({ C, gamma: g / F })),
        )
      : (o.l2s ?? [1e-3, 1e-2, 1e-1, 1]).map((l2) => ({ l2 }));
  const sub = (v: number[], ix: number[]): number[] => ix.map((i) => v[i]);
  let best: { params: Record<string, number>; oof: number[]; score: number } | undefined;
  const gridOut: { params: Record<string, number>; auroc: number }[] = [];
  for (const params of grid) {
    const oof = new Array<number>(y.length).fill(0);
    let failed = false;
    for (let k = 0; k < o.folds && !failed; k++) {
      const tr = y.map((_, i) => i).filter((i) => fold[i] !== k);
      const te = y.map((_, i) => i).filter((i) => fold[i] === k);
      try {
        const c = foldCols[k];
        const m = fit(
          spec.kind,
          params,
          tr.map((i) => cols(Zall[i], c)),
          tr.map((i) => y[i]),
          tr.map((i) => Uint8Array.from(c, (j) => codes[i][pool[j]])),
          o.seed + k,
        );
        m.decide(te.map((i) => cols(Zall[i], c))).forEach((d, j) => (oof[te[j]] = d));
      } catch (err) {
        if (!(err instanceof AttackTrainingError)) throw err;
        failed = true; // e.g. SMO iteration limit: skip this grid point
      }
    }
    o.onStep?.();
    if (failed) {
      gridOut.push({ params, auroc: -1 });
      continue;
    }
    // Select on the mean of r = 0 and r = 1 AUROC: r = 0 is what audits face, r = 1 keeps it honest.
    const parts = [auroc(sub(oof, idx.r0), sub(y, idx.r0)), auroc(sub(oof, idx.r1), sub(y, idx.r1))].filter(
      Number.isFinite,
    );
    const score = parts.length ? parts.reduce((a, b) => a + b) / parts.length : auroc(oof, y);
    gridOut.push({ params, auroc: score });
    if (!best || score > best.score) best = { params, oof, score };
  }
  if (!best) throw new AttackTrainingError(`no ${spec.kind} grid point could be trained for n=${o.n}`);
  const chosen = best as { params: Record<string, number>; oof: number[]; score: number };
  // Final model on all shadow samples; if SMO fails for the chosen point, fall back to the next best.
  const ranked = gridOut.filter((g) => g.auroc >= 0).sort((a, b) => b.auroc - a.auroc);
  let final: Fitted | undefined;
  for (const g of ranked) {
    try {
      final = fit(spec.kind, g.params, Z, y, pcodes, o.seed);
      break;
    } catch (err) {
      if (!(err instanceof AttackTrainingError)) throw err;
    }
  }
  if (!final)
    throw new AttackTrainingError(`no ${spec.kind} model could be trained on all samples for n=${o.n}`);
  return {
    member: {
      selected: finalCols.map((j) => pool[j]),
      standardization: std,
      classifier: final.classifier,
      decision: meanStd(chosen.oof),
      grid: gridOut,
      oof_auroc_r0: finiteOrNull(auroc(sub(chosen.oof, idx.r0), sub(y, idx.r0))),
      oof_auroc_r1: finiteOrNull(auroc(sub(chosen.oof, idx.r1), sub(y, idx.r1))),
    },
    oof: chosen.oof,
  };
}

/**
 * Rank features by single-feature separation on shadow samples: |mean of the AUROC at r = 0 and at r = 1 − 0.5|
 * (each over the given rows only), largest first; ties keep layout order.
 * @param Z `[samples][F]` feature rows; `rows` the sample indices to rank on
 * @returns `[F]` feature positions (columns of Z), best first
 */
export function rankFeatures(
  Z: ArrayLike<number>[],
  y: number[],
  rows: number[],
  idx: { r0: number[]; r1: number[] },
): number[] {
  const inRows = new Set(rows);
  const parts = [idx.r0, idx.r1].map((ix) => ix.filter((i) => inRows.has(i)));
  const F = Z[0].length;
  const score = Array.from({ length: F }, (_, f) => {
    const a = parts
      .map((ix) =>
        auroc(
          ix.map((i) => Z[i][f]),
          ix.map((i) => y[i]),
        ),
      )
      .filter(Number.isFinite);
    return a.length ? Math.abs(a.reduce((u, v) => u + v, 0) / a.length - 0.5) : 0;
  });
  return [...Array(F).keys()].sort((a, b) => score[b] - score[a] || a - b);
}

/** Shadow samples of one n, quantized, with their speaker folds and the r = 0 / r = 1 evaluation rows. */
interface Prepared {
  quant: ReturnType<typeof fitQuantizer>;
  margin: number;
  codes: Uint8Array[];
  deq: Float64Array[];
  y: number[];
  fold: number[];
  idx: { r0: number[]; r1: number[] };
}

function prepare(
  samples: TrainingSample[],
  options: Pick<TrainOptions, 'quantizationMargin'>,
  folds: number,
  seed: number,
): Prepared {
  const y = samples.map((s) => s.label as number);
  if (!y.includes(1) || !y.includes(0))
    throw new AttackTrainingError('attack training needs members and non-members');
  const margin = options.quantizationMargin ?? QUANTIZATION_MARGIN;
  const quant = fitQuantizer(
    samples.map((s) => s.features),
    margin,
  );
  const codes = samples.map((s) => quantize(quant, s.features));
  const deq = codes.map((c) => dequantize(quant, c));
  const fold = speakerFolds(samples, folds, seed);
  const all = samples.map((_, i) => i);
  const idx = {
    r0: all.filter((i) => samples[i].label === 0 || samples[i].r === 0),
    r1: all.filter((i) => samples[i].label === 0 || samples[i].r === 1),
  };
  return { quant, margin, codes, deq, y, fold, idx };
}

/** Mean z-scored decision of trained members, per sample (the ensemble's out-of-fold decision). */
function ensembleOof(trained: { member: AttackMember; oof: number[] }[], count: number): number[] {
  return [...Array(count).keys()].map(
    (i) =>
      trained.reduce((a, t) => a + (t.oof[i] - t.member.decision.mean) / t.member.decision.std, 0) /
      trained.length,
  );
}

/** Mean of the r = 0 and r = 1 AUROCs of out-of-fold decisions (the selection criterion). */
function oofScore(oof: number[], p: Prepared): { r0: number; r1: number; score: number } {
  const sub = (v: number[], ix: number[]): number[] => ix.map((i) => v[i]);
  const r0 = auroc(sub(oof, p.idx.r0), sub(p.y, p.idx.r0));
  const r1 = auroc(sub(oof, p.idx.r1), sub(p.y, p.idx.r1));
  const parts = [r0, r1].filter(Number.isFinite);
  return { r0, r1, score: parts.length ? parts.reduce((a, b) => a + b) / parts.length : auroc(oof, p.y) };
}

/** The model entry of trained members: Platt sigmoid and threshold on their out-of-fold ensemble decisions. */
function assemble(
  trained: { member: AttackMember; oof: number[] }[],
  p: Prepared,
  n: number,
  targetFpr: number,
  folds: number,
): AttackModelEntry {
  const { y, idx } = p;
  const oof = ensembleOof(trained, y.length);
  const platt = fitPlatt(oof, y);
  const prob = oof.map((d) => plattProbability(platt, d));
  const sub = (v: number[], ix: number[]): number[] => ix.map((i) => v[i]);
  return {
    n,
    quantization: { bits: 8, min: p.quant.min, scale: p.quant.scale, margin: p.margin },
    members: trained.map((t) => t.member),
    platt,
    threshold: thresholdForFpr(
      prob.filter((_, i) => y[i] === 0),
      targetFpr,
    ),
    calibration: {
      samples: y.length,
      members: y.filter((v) => v === 1).length,
      nonmembers: y.filter((v) => v === 0).length,
      cv_folds: folds,
      oof_auroc: auroc(oof, y),
      oof_auroc_r0: finiteOrNull(auroc(sub(oof, idx.r0), sub(y, idx.r0))),
      oof_auroc_r1: finiteOrNull(auroc(sub(oof, idx.r1), sub(y, idx.r1))),
      oof_tpr_at_target_fpr: tprAtFpr(prob, y, targetFpr),
    },
  };
}

/**
 * Train one attack model for `n` voices: 8-bit quantization fitted on the shadow features, then every member
 * of the ensemble on the dequantized features; the model's decision is the mean of the members' z-scored
 * decisions, turned into a probability by a Platt sigmoid fitted on the out-of-fold ensemble decisions, with
 * the threshold for the target FPR on the held-out shadow non-members.
 * @param samples shadow samples (all with features from exactly n voices, in one layout)
 * @throws AttackTrainingError when a class is missing or no grid point can be trained
 */
export function trainAttackModel(samples: TrainingSample[], options: TrainOptions): AttackModelEntry {
  const o = { ...options, seed: options.seed ?? 1, folds: options.folds ?? 3 };
  const F = samples[0].features.length;
  const specs = options.members ?? [{ kind: 'logistic' as const, selected: [...Array(F).keys()] }];
  const p = prepare(samples, options, o.folds, o.seed);
  const trained = specs.map((spec) => trainMember(spec, p.deq, p.codes, p.y, p.fold, p.idx, o));
  return assemble(trained, p, options.n, options.targetFpr, o.folds);
}

/** One candidate of {@link selectAttackModels}: a name (the ensemble spec) and its members. */
export interface Candidate {
  name: string;
  members: MemberSpec[];
}

/** The selection table of {@link selectAttackModels} (stored in the bundle's notes). */
export interface SelectionTable {
  rule: string;
  candidates: {
    name: string;
    /** Per n: out-of-fold AUROC at r = 0, at r = 1 and their mean. */
    by_n: { n: number; r0: number | null; r1: number | null; score: number }[];
    mean: number;
  }[];
  chosen: string;
}

/**
 * Shadow-only model selection (docs/evaluation/README.md, "Shadow-only selection protocol"): every single-member
 * candidate is trained once per n (hyper-parameters by speaker-grouped CV as in {@link trainAttackModel}); the
 * ensemble of the two best is scored from their out-of-fold decisions; the candidate with the highest mean over
 * n of the mean out-of-fold AUROC at r = 0 and r = 1 is chosen (ties: the earlier one).
 * @param samplesByN shadow samples per voice count, in `options.counts` order
 * @param candidates single-member candidates (each exactly one member spec), in tie-break order
 * @returns the chosen candidate's models (one per n) and the selection table
 * @throws AttackTrainingError as {@link trainAttackModel}
 */
export function selectAttackModels(
  samplesByN: { n: number; samples: TrainingSample[] }[],
  candidates: Candidate[],
  options: Omit<TrainOptions, 'n' | 'members'>,
): { models: AttackModelEntry[]; table: SelectionTable; chosen: Candidate } {
  const o = { ...options, n: 0, seed: options.seed ?? 1, folds: options.folds ?? 3 };
  const perN = samplesByN.map(({ n, samples }) => {
    const p = prepare(samples, options, o.folds, o.seed);
    const trained = candidates.map((c) =>
      c.members.map((spec) => trainMember(spec, p.deq, p.codes, p.y, p.fold, p.idx, { ...o, n })),
    );
    return { n, p, trained };
  });
  const rows: SelectionTable['candidates'] = [];
  const scoreOf = (pick: (x: (typeof perN)[number]) => { member: AttackMember; oof: number[] }[]) =>
    perN.map((x) => {
      const s = oofScore(ensembleOof(pick(x), x.p.y.length), x.p);
      return { n: x.n, r0: finiteOrNull(s.r0), r1: finiteOrNull(s.r1), score: s.score };
    });
  const mean = (v: { score: number }[]): number => v.reduce((a, b) => a + b.score, 0) / v.length;
  candidates.forEach((c, ci) => {
    const by_n = scoreOf((x) => x.trained[ci]);
    rows.push({ name: c.name, by_n, mean: mean(by_n) });
  });
  const order = [...rows.keys()].sort((a, b) => rows[b].mean - rows[a].mean || a - b);
  const all: Candidate[] = [...candidates];
  if (candidates.length >= 2) {
    const [a, b] = order.slice(0, 2).sort((u, v) => u - v);
    const ens: Candidate = {
      name: `${candidates[a].name}+${candidates[b].name}`,
      members: [...candidates[a].members, ...candidates[b].members],
    };
    const by_n = scoreOf((x) => [...x.trained[a], ...x.trained[b]]);
    rows.push({ name: ens.name, by_n, mean: mean(by_n) });
    all.push(ens);
    perN.forEach((x) => x.trained.push([...x.trained[a], ...x.trained[b]]));
  }
  const best = [...rows.keys()].sort((a, b) => rows[b].mean - rows[a].mean || a - b)[0];
  const models = perN.map((x) => assemble(x.trained[best], x.p, x.n, options.targetFpr, o.folds));
  return {
    models,
    chosen: all[best],
    table: {
      rule: 'highest mean over n of the mean out-of-fold AUROC at r = 0 and r = 1 (3-fold speaker-grouped CV on shadow samples)',
      candidates: rows,
      chosen: all[best].name,
    },
  };
}
