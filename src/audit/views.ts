/**
 * Several models' views of the same voices: the target (or shadow) model and the reference models each embed
 * the audited voices and hold their own reference bank; this module turns those views into the bundle's
 * feature layout (src/features/calibrated.ts) and computes the target-side null of a bundle on a target (the
 * reference speakers audited against leave-one-out banks, src/attack/null.ts) and the guard statistics.
 */
import {
  fitNull,
  nullPValue,
  seededRng,
  shuffled,
  type AttackBundle,
  type AttackScorer,
  type NullFit,
} from '../attack/index.js';
import {
  applyNorm,
  buildReferenceBank,
  calibratedFeatures,
  computeFeatures,
  median,
  voiceLogNorms,
  type FeatureNorm,
  referenceNorms,
  type ModelView,
  type ReferenceBank,
  type Similarity,
} from '../features/index.js';
import type { ReferenceEmbeddings } from './reference-bank.js';

/** A model's reference bank prepared for feature computation. */
export interface BankContext {
  /** sha256 of the model the bank belongs to. */
  modelSha256: string;
  references: ReferenceEmbeddings;
  bank: ReferenceBank;
  /** Reference z-norm statistics per voice count (bundles with `reference-znorm`). */
  norms: FeatureNorm[] | undefined;
}

/** Feature settings of a bundle. */
export interface FeatureSettings {
  similarity: Similarity;
  centre: boolean;
  znorm: boolean;
  /** Voice counts (for the z-norm statistics). */
  counts: number[];
}

/** The feature settings of a bundle. */
export function bundleFeatureSettings(bundle: AttackBundle): FeatureSettings {
  return {
    similarity: bundle.features.similarity,
    centre: bundle.features.centre,
    znorm: bundle.features.normalization === 'reference-znorm',
    counts: bundle.models.map((m) => m.n),
  };
}

/** Prepare one model's bank (and z-norm statistics when asked). */
export function bankContext(references: ReferenceEmbeddings, s: FeatureSettings): BankContext {
  const opts = { similarity: s.similarity, centre: s.centre };
  return {
    modelSha256: references.modelSha256,
    references,
    bank: buildReferenceBank(references.embeddings, opts),
    norms: s.znorm ? referenceNorms(references.embeddings, opts, s.counts) : undefined,
  };
}

/** One model's view of a voice set plus its sorted pairwise similarities (EncoderMI-V input). */
export interface SetView extends ModelView {
  /** `[120]` features before the optional z-norm (EncoderMI-T reads intra.pairs.mean here). */
  raw: Float64Array;
  /** `[n(n−1)/2]` pairwise similarities in pair order (i < j). */
  pairs: Float64Array;
}

/** One model's view of voices against a bank. */
export function viewOf(ctx: Pick<BankContext, 'bank' | 'norms'>, voices: ArrayLike<number>[]): SetView {
  const { features, lists } = computeFeatures(voices, ctx.bank, { lists: true });
  return {
    features: ctx.norms ? applyNorm(features, ctx.norms, voices.length) : features,
    raw: features,
    logNorms: voiceLogNorms(voices, ctx.bank.mean),
    pairs: lists?.get('intra.pairs') ?? new Float64Array(0),
  };
}

/** Sorted descending copy. */
export function sortedDesc(v: ArrayLike<number>): Float64Array {
  return Float64Array.from(v).sort().reverse();
}

/** The pairwise similarities of the target minus the mean over reference models, sorted (calibrated EncoderMI-V). */
export function calibratedPairs(target: SetView, refs: SetView[]): Float64Array {
  return sortedDesc(
    target.pairs.map((v, i) => v - refs.reduce((a, r) => a + r.pairs[i], 0) / Math.max(1, refs.length)),
  );
}

/** Features of one voice set in the bundle layout from the target's and the references' views. */
export function layoutFeatures(target: SetView, refs: SetView[]): Float64Array {
  return calibratedFeatures(target, refs);
}

/**
 * The banks of every model without reference speaker k (mean recomputed without k, so k is a stranger to them)
 * and k's own voices (bank + extra) per model: the leave-one-out construction of the target-side null.
 * @param all bank contexts, one per model, holding the same reference speakers
 */
export function leaveOneOut(
  all: Pick<BankContext, 'references' | 'norms'>[],
  k: number,
  opts: { similarity: Similarity; centre: boolean },
): { loo: Pick<BankContext, 'bank' | 'norms'>[]; pool: Float32Array[][] } {
  return {
    loo: all.map((c) => ({
      bank: buildReferenceBank(
        c.references.embeddings.filter((_, j) => j !== k),
        opts,
      ),
      norms: c.norms,
    })),
    pool: all.map((c) => [...c.references.embeddings[k], ...(c.references.extra[k] ?? [])]),
  };
}

/** The target-side null and guard statistics of a bundle on one target (per voice count n). */
export interface TargetNull {
  /** Main attack decision null per n. */
  main: Map<number, NullFit>;
  /** Per reference model: guard-attack decision null per n. */
  guard: Map<number, NullFit>[];
  /** Per reference model: the `norm_quantile` of the reference speakers' voice log-norms. */
  normThreshold: number[];
  /** Reference speakers and voice sets per n that went in. */
  speakers: number;
  setsPerN: Record<string, number>;
  /** Nulls of averaged audits (several subsets), by {@link averagedNullKey}; filled on demand or shipped. */
  averaged: Map<number, AveragedNull>;
}

/** The smallest number of voices any reference speaker has (bank + extra). */
export function referencePoolSize(target: BankContext): number {
  return Math.min(
    ...target.references.embeddings.map((sp, k) => sp.length + (target.references.extra[k]?.length ?? 0)),
  );
}

/** Voice counts whose averaged null a shipped null file carries: every key from the smallest n to the pool size. */
export function averagedNullKeys(poolSize: number, counts: number[]): number[] {
  const keys: number[] = [];
  for (let v = Math.min(...counts); v <= poolSize; v++) if (!counts.includes(v)) keys.push(v);
  return keys;
}

/**
 * Audit every reference speaker k on the target and on each reference model: `bundle.null.subsets` random
 * n-voice subsets of its voices (bank + extra), against banks of the other K − 1 speakers (mean recomputed
 * without k, so k is a stranger to the bank), scored with the main attack and with each reference's guard.
 * @param target the target's bank context; `refs` those of the bundle's reference models, in bundle order
 * @throws NullFitError when too few reference speakers have n voices
 */
export function computeTargetNull(
  bundle: AttackBundle,
  scorer: AttackScorer,
  target: BankContext,
  refs: BankContext[],
): TargetNull {
  const s = bundleFeatureSettings(bundle);
  const opts = { similarity: s.similarity, centre: s.centre };
  const all = [target, ...refs];
  const K = target.references.embeddings.length;
  for (const c of refs) {
    if (c.references.speakers.join() !== target.references.speakers.join())
      throw new Error('reference banks of the target and the reference models hold different speakers');
  }
  const counts = scorer.voiceCounts;
  const main = new Map<number, number[]>(counts.map((n) => [n, []]));
  const guard = refs.map(() => new Map<number, number[]>(counts.map((n) => [n, []])));
  const setsPerN: Record<string, number> = {};
  for (let k = 0; k < K; k++) {
    const { loo, pool } = leaveOneOut(all, k, opts);
    const count = pool[0].length;
    const rng = seededRng(bundle.null.seed * 100003 + k);
    for (const n of counts) {
      if (count < n) continue;
      for (let t = 0; t < bundle.null.subsets; t++) {
        const idx = shuffled([...Array(count).keys()], rng).slice(0, n);
        const views = loo.map((b, m) =>
          viewOf(
            b,
            idx.map((i) => pool[m][i]),
          ),
        );
        const model = scorer.main.modelFor(n);
        main.get(n)?.push(scorer.main.decide(model, layoutFeatures(views[0], views.slice(1))).decision);
        refs.forEach((_, j) => {
          const g = scorer.guards[j];
          guard[j].get(n)?.push(g.decide(g.modelFor(n), views[j + 1].features).decision);
        });
        setsPerN[n] = (setsPerN[n] ?? 0) + 1;
      }
    }
  }
  const normThreshold = refs.map((c) => {
    const ln = c.references.embeddings.flatMap((sp, k) => [
      ...voiceLogNorms(sp, c.bank.mean),
      ...voiceLogNorms(c.references.extra[k] ?? [], c.bank.mean),
    ]);
    const sorted = ln.sort((a, b) => a - b);
    return sorted[Math.min(sorted.length - 1, Math.floor(bundle.guard.norm_quantile * sorted.length))];
  });
  const fits = (m: Map<number, number[]>): Map<number, NullFit> =>
    new Map([...m].filter(([, v]) => v.length).map(([n, v]) => [n, fitNull(v)]));
  return {
    main: fits(main),
    guard: guard.map(fits),
    normThreshold,
    speakers: K,
    setsPerN,
    averaged: new Map(),
  };
}

/** Why a verdict is inconclusive (null: it is not). */
export type InconclusiveReason =
  | 'voices-too-short'
  | 'noisy-margins'
  | 'reference-member-like'
  | 'reference-atypical-voices'
  | 'features-out-of-range'
  | null;

/**
 * Largest median share of a clip's kept audio that the energy gate may cut before an audit is `noisy-margins`.
 * Reference (imposter) speakers' clips, 10 per speaker, 50 speakers: median share ≤ 0.016 (0 for half of them);
 * 0.10 is six times that. Steady background kept as speech around the voices makes them look alike (a non-member
 * with 0.5 s of −50 dBFS noise around each clip was called member in 8 of 50 cases), and the shipped bundles
 * were calibrated on clean clips.
 */
export const NOISY_MARGIN_SHARE = 0.1;

/** The out-of-domain guard's findings for one audit. */
export interface GuardResult {
  /** Per reference model: p-value of its plain attack on the reference-speaker null. */
  reference_p_values: number[];
  /** Per reference model: share of voices above the reference speakers' voice log-norm quantile. */
  atypical_voice_shares: number[];
  /** Share of calibrated features outside the shadow's quantization ranges. */
  out_of_range_share: number;
  /** Median seconds of audio per audited voice (before wrap padding). */
  median_voice_seconds: number;
  /**
   * Median over the clips of the share of kept audio that the energy gate would cut (steady background around
   * the speech; `Clip.gatedSeconds`), or null when not measured.
   */
  noisy_margin_share: number | null;
  reason: InconclusiveReason;
  /** Human-readable explanation when inconclusive. */
  detail: string | null;
}

/**
 * Apply the guard of a bundle to one audit's statistics.
 * @param guardNulls per reference: the guard decision's null for this audit's voice count
 * @param normThreshold per reference: the voice log-norm quantile of the reference speakers
 * @param guardDecisions per reference: mean guard decision over the audit's voice sets
 * @param refLogNorms per reference: `[voices]` log-norms of all audited voices
 * @param voiceSeconds `[voices]` seconds of audio in each audited voice (before wrap padding)
 */
export function applyGuard(
  bundle: AttackBundle,
  guardNulls: (NullFit | undefined)[],
  normThreshold: number[],
  guardDecisions: number[],
  refLogNorms: ArrayLike<number>[],
  outOfRange: number,
  voiceSeconds: ArrayLike<number>,
  noisyMarginShares: ArrayLike<number> = [],
): GuardResult {
  const g = bundle.guard;
  const pv = guardDecisions.map((d, j) => {
    const fit = guardNulls[j];
    return fit ? nullPValue(fit, d) : 1;
  });
  const shares = refLogNorms.map((ln, j) => {
    let c = 0;
    for (let i = 0; i < ln.length; i++) if (ln[i] > normThreshold[j]) c++;
    return ln.length ? c / ln.length : 0;
  });
  const names = bundle.references.map((r) => r.name);
  let reason: InconclusiveReason = null;
  let detail: string | null = null;
  const j1 = pv.findIndex((p) => p < g.alpha);
  const j2 = shares.findIndex((v) => v > g.norm_share);
  const seconds = median(voiceSeconds);
  const noisy = noisyMarginShares.length ? median(noisyMarginShares) : null;
  if (seconds < g.min_voice_seconds) {
    reason = 'voices-too-short';
    detail = `the voices hold ${seconds.toFixed(2)} s of audio (median), less than the ${g.min_voice_seconds.toFixed(2)} s of the shortest calibration voices (1st percentile): record longer utterances`;
  } else if (noisy !== null && noisy > NOISY_MARGIN_SHARE) {
    reason = 'noisy-margins';
    detail = `${Math.round(noisy * 100)}% of each clip's kept audio (median) is steady background around the speech, not speech (limit ${NOISY_MARGIN_SHARE * 100}%): the attack was calibrated on clean clips; trim the clips to the speech or record in a quieter place`;
  } else if (j1 >= 0) {
    reason = 'reference-member-like';
    detail = `reference model ${names[j1]}, which never trained on this speaker, would call the voices a member (p = ${pv[j1].toPrecision(2)} < ${g.alpha} on its reference speakers): the voices are unlike the speech the attack was calibrated on`;
  } else if (j2 >= 0) {
    reason = 'reference-atypical-voices';
    detail = `${Math.round(shares[j2] * 100)}% of the voices have embedding norms beyond the ${g.norm_quantile * 100}th percentile of the reference speakers' voices on reference model ${names[j2]}: the voices are unlike the calibration speech`;
  } else if (outOfRange > g.range_share) {
    reason = 'features-out-of-range';
    detail = `${Math.round(outOfRange * 100)}% of the features lie outside the ranges seen in calibration (limit ${g.range_share * 100}%)`;
  }
  return {
    reference_p_values: pv,
    atypical_voice_shares: shares,
    out_of_range_share: outOfRange,
    median_voice_seconds: seconds,
    noisy_margin_share: noisy,
    reason,
    detail,
  };
}

/**
 * Voice subsets for `total` voices and a model of n voices: all voices once when total = n, else
 * min(16, max(4, 2·⌈total/n⌉)) subsets of n, drawn by repeatedly shuffling all voices (seeded, so the same
 * input gives the same verdict) and cutting consecutive chunks, so every voice is used about equally often.
 */
export function voiceSubsets(total: number, n: number, seed = 1): number[][] {
  const all = [...Array(total).keys()];
  if (total <= n) return [all];
  const want = Math.min(16, Math.max(4, 2 * Math.ceil(total / n)));
  const rng = seededRng(seed);
  const out: number[][] = [];
  while (out.length < want) {
    const order = shuffled(all, rng);
    for (let s = 0; s + n <= total && out.length < want; s += n) out.push(order.slice(s, s + n));
  }
  return out;
}

/** The null of averaged decisions for audits of `voices` voices (several n-voice subsets). */
export interface AveragedNull {
  voices: number;
  /** Voices per reference speaker the null could use (min of `voices` and the smallest speaker's voices). */
  used: number;
  n: number;
  main: NullFit;
  guard: (NullFit | undefined)[];
}

/**
 * Null of an audit of `voices` voices scored as {@link voiceSubsets}: every reference speaker, `bundle.null.subsets`
 * times, takes a random `min(voices, its voices)` of its voices, scores their n-voice subsets exactly as the
 * audit does (leave-one-out banks, as in {@link computeTargetNull}) and contributes the mean decision. With more
 * voices than the reference speakers have, the null of fewer voices (wider, hence conservative) is used.
 * @throws NullFitError when the reference speakers have too few voices
 */
export function computeAveragedNull(
  bundle: AttackBundle,
  scorer: AttackScorer,
  target: BankContext,
  refs: BankContext[],
  voices: number,
): AveragedNull {
  const s = bundleFeatureSettings(bundle);
  const opts = { similarity: s.similarity, centre: s.centre };
  const all = [target, ...refs];
  const K = target.references.embeddings.length;
  const pools = [...Array(K).keys()].map((k) =>
    all.map((c) => [...c.references.embeddings[k], ...(c.references.extra[k] ?? [])]),
  );
  const used = Math.min(voices, ...pools.map((p) => p[0].length));
  const model = scorer.main.modelFor(used);
  const n = model.n;
  const sets = voiceSubsets(used, n);
  const main: number[] = [];
  const guard: number[][] = refs.map(() => []);
  for (let k = 0; k < K; k++) {
    const { loo } = leaveOneOut(all, k, opts);
    const rng = seededRng(bundle.null.seed * 100003 + 7919 * voices + k);
    for (let t = 0; t < bundle.null.subsets; t++) {
      const pick = shuffled([...Array(pools[k][0].length).keys()], rng).slice(0, used);
      let d = 0;
      const g = refs.map(() => 0);
      for (const set of sets) {
        const views = loo.map((b, m) =>
          viewOf(
            b,
            set.map((i) => pools[k][m][pick[i]]),
          ),
        );
        d += scorer.main.decide(model, layoutFeatures(views[0], views.slice(1))).decision;
        refs.forEach((_, j) => {
          const gs = scorer.guards[j];
          g[j] += gs.decide(gs.modelFor(n), views[j + 1].features).decision;
        });
      }
      main.push(d / sets.length);
      g.forEach((v, j) => guard[j].push(v / sets.length));
    }
  }
  return {
    voices,
    used,
    n,
    main: fitNull(main),
    guard: guard.map((v) => (v.length ? fitNull(v) : undefined)),
  };
}
