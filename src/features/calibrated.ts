/**
 * The calibrated feature vector of an audit (an extension of SLMIA-SR, see docs/attack.md "Difficulty
 * calibration"): the 120 SLMIA-SR features of the target model, embedding-norm statistics, and the same
 * quantities on one or more reference models that never saw the audited population, as target − reference
 * differences (difficulty calibration, Watson et al., ICLR 2022; the offline variant of LiRA, Carlini et al.,
 * S&P 2022). Some speakers are simply consistent; a model that never trained on them says how consistent.
 *
 * Layout ({@link CALIBRATED_FEATURE_NAMES}, 252 values):
 * - `[0, 120)` the 120 target features (FEATURE_NAMES);
 * - `norm.log.{mean,std,max,min}`: summary of log ‖e_i − μ‖ over the audited voices, μ = mean raw embedding
 *   of the model's reference speakers (training a speaker model grows the embedding norm of its speakers);
 * - `log1m.intra.pairs.mean` = log(1 − intra.pairs.mean);
 * - `calib.<120 names>` = target feature − mean over reference models of the same feature;
 * - `calib.norm.log.{…}` likewise for the norm statistics;
 * - `calib.log1m.intra.pairs.mean`, `calib.log1m.intra.to_centroid.mean`: log(1 − sim) on the target minus
 *   the mean over reference models (log ratio of the speaker's spread);
 * - `calib.log.inter.refcentroid_centroid.mean`: log dis on the target minus the mean over reference models.
 * Without reference models only the first 125 values exist ({@link PLAIN_FEATURE_NAMES}).
 */
import { FEATURE_NAMES, featureIndex } from './names.js';
import { summarizeInto } from './stats.js';
import { FeatureError } from './features.js';

/** The 4 norm statistics. */
export const NORM_FEATURE_NAMES: readonly string[] = ['mean', 'std', 'max', 'min'].map(
  (s) => `norm.log.${s}`,
);

/** Target-only features: 120 SLMIA-SR + 4 norm statistics + log(1 − intra.pairs.mean). */
export const PLAIN_FEATURE_NAMES: readonly string[] = [
  ...FEATURE_NAMES,
  ...NORM_FEATURE_NAMES,
  'log1m.intra.pairs.mean',
];

/** The log-ratio features of the calibrated part (besides the 124 plain differences). */
const LOG_RATIOS = [
  'calib.log1m.intra.pairs.mean',
  'calib.log1m.intra.to_centroid.mean',
  'calib.log.inter.refcentroid_centroid.mean',
] as const;

/** Target features then their calibrated counterparts (252 names). */
export const CALIBRATED_FEATURE_NAMES: readonly string[] = [
  ...PLAIN_FEATURE_NAMES,
  ...FEATURE_NAMES.map((n) => `calib.${n}`),
  ...NORM_FEATURE_NAMES.map((n) => `calib.${n}`),
  ...LOG_RATIOS,
];

/**
 * The compact calibrated feature set (the second member of the default attack ensemble): the two log-ratio
 * spread features, the calibrated mean log-norm, the raw log spread and mean log-norm of the target, and the
 * log ratio of the distance to the reference centroids.
 */
export const COMPACT_FEATURE_NAMES: readonly string[] = [
  'calib.log1m.intra.pairs.mean',
  'calib.log1m.intra.to_centroid.mean',
  'calib.norm.log.mean',
  'log1m.intra.pairs.mean',
  'norm.log.mean',
  'calib.log.inter.refcentroid_centroid.mean',
];

/** One model's view of the audited voices: its 120 features and the log-norm of every voice. */
export interface ModelView {
  /** `[120]` SLMIA-SR features (computeFeatures). */
  features: ArrayLike<number>;
  /** `[n]` log ‖e_i − μ‖ of each voice (see {@link voiceLogNorms}). */
  logNorms: ArrayLike<number>;
}

/**
 * log ‖e_i − μ‖ of each voice embedding, μ = the bank's reference mean (`bank.mean`).
 * @param voices `[n][D]` raw voice embeddings
 * @param mean `[D]` reference mean
 * @returns `[n]` float64 (−Infinity for a voice exactly at the mean)
 */
export function voiceLogNorms(voices: ArrayLike<number>[], mean: ArrayLike<number>): Float64Array {
  return Float64Array.from(voices, (e) => {
    if (e.length !== mean.length)
      throw new FeatureError(`voice has ${e.length} dimensions, reference mean ${mean.length}`);
    let s = 0;
    for (let d = 0; d < e.length; d++) s += (e[d] - mean[d]) ** 2;
    return 0.5 * Math.log(s);
  });
}

const I_PAIRS = featureIndex('intra.pairs.mean');
const I_CENT = featureIndex('intra.to_centroid.mean');
const I_REFC = featureIndex('inter.refcentroid_centroid.mean');
const log1m = (v: number): number => Math.log(Math.max(1 - v, 1e-6));
const logPos = (v: number): number => Math.log(Math.max(v, 1e-6));

/** `[125]` plain part of one model's view. */
function plainPart(v: ModelView): Float64Array {
  const out = new Float64Array(PLAIN_FEATURE_NAMES.length);
  out.set(Array.from(v.features).slice(0, FEATURE_NAMES.length), 0);
  summarizeInto(Float64Array.from(v.logNorms), 0, v.logNorms.length, 1, out, FEATURE_NAMES.length);
  out[FEATURE_NAMES.length + 4] = log1m(v.features[I_PAIRS]);
  return out;
}

/**
 * The feature vector of one audited voice set.
 * @param target the target model's view
 * @param references the reference models' views of the same voices (may be empty)
 * @returns `[252]` float64 in CALIBRATED_FEATURE_NAMES order, or `[125]` (PLAIN_FEATURE_NAMES) without references
 * @throws FeatureError when a view has no voices or not 120 features
 */
export function calibratedFeatures(target: ModelView, references: ModelView[]): Float64Array {
  for (const v of [target, ...references]) {
    if (v.features.length !== FEATURE_NAMES.length)
      throw new FeatureError(`expected ${FEATURE_NAMES.length} features, got ${v.features.length}`);
    if (v.logNorms.length === 0) throw new FeatureError('no voice log-norms');
  }
  const t = plainPart(target);
  if (!references.length) return t;
  const out = new Float64Array(CALIBRATED_FEATURE_NAMES.length);
  out.set(t, 0);
  const P = PLAIN_FEATURE_NAMES.length;
  const refs = references.map(plainPart);
  const F = FEATURE_NAMES.length + 4; // differences of the 120 features and the 4 norm statistics
  for (let f = 0; f < F; f++) {
    let m = 0;
    for (const r of refs) m += r[f];
    out[P + f] = t[f] - m / refs.length;
  }
  const mean = (fn: (v: ModelView) => number): number =>
    references.reduce((a, r) => a + fn(r), 0) / references.length;
  out[P + F] = log1m(target.features[I_PAIRS]) - mean((r) => log1m(r.features[I_PAIRS]));
  out[P + F + 1] = log1m(target.features[I_CENT]) - mean((r) => log1m(r.features[I_CENT]));
  out[P + F + 2] = logPos(target.features[I_REFC]) - mean((r) => logPos(r.features[I_REFC]));
  return out;
}

/** Index of a name in a layout. @throws RangeError for an unknown name */
export function indexIn(names: readonly string[], name: string): number {
  const i = names.indexOf(name);
  if (i < 0) throw new RangeError(`unknown feature "${name}"`);
  return i;
}
