/**
 * Scoring with a calibrated attack bundle: pick the voice-count-dependent model, quantize the features with
 * its stored ranges, run every classifier of its ensemble and average their z-scored decision values; the
 * Platt sigmoid turns the ensemble decision into a member probability. The same machinery scores the plain
 * attack (the baseline) and the reference models' guard attacks.
 */
import { SlmiaError } from '../errors.js';
import type { AttackBundle, AttackModelEntry } from './bundle.js';
import { logisticDecision, sigmoid } from './logistic.js';
import { plattProbability } from './platt.js';
import { dequantize, quantize } from './quantize.js';
import { standardize } from './standardize.js';
import { rbfDecision } from './svm.js';
import { decodeCodes, selectFeatures } from './train.js';

/** Fewer voices than the smallest attack model needs. */
export class TooFewVoicesError extends SlmiaError {
  readonly voices: number;
  readonly needed: number;
  /**
   * @param voices voices the audit got
   * @param needed voices of the smallest attack model
   * @param context who and what was audited, for the message (e.g. `speaker "alice", 1 clip (a.wav)`)
   */
  constructor(voices: number, needed: number, context?: string) {
    super(
      'attack.too-few-voices',
      `${context ? `${context}: ` : ''}${voices} voice(s) given; the attack needs at least ${needed}` +
        (context ? ' (more clips, or longer ones)' : ''),
    );
    this.voices = voices;
    this.needed = needed;
  }
}

/** The ensemble decision of one feature vector. */
export interface ModelDecision {
  /** Mean of the members' z-scored decision values (higher = more member-like). */
  decision: number;
  /** `[F] uint8` quantized features. */
  codes: Uint8Array;
  /** Share of features outside the shadow's observed range (before the quantization margin). */
  outOfRange: number;
}

/** A family of voice-count-dependent models (main, plain or a reference's guard) ready to score. */
export class ModelSet {
  /** Standardised support vectors per model n and member index. */
  private readonly svs = new Map<string, number[][]>();
  constructor(readonly models: AttackModelEntry[]) {
    for (const m of models) {
      const q = { min: m.quantization.min, scale: m.quantization.scale };
      m.members.forEach((mem, j) => {
        if (mem.classifier.kind !== 'svm') return;
        const F = mem.selected.length;
        this.svs.set(
          `${m.n}|${j}`,
          decodeCodes(mem.classifier.support_vectors_q, F).map((c) => {
            const full = new Float64Array(q.min.length);
            mem.selected.forEach((f, k) => (full[f] = q.min[f] + c[k] * q.scale[f]));
            return standardize(mem.standardization, selectFeatures(full, mem.selected));
          }),
        );
      });
    }
  }

  /** Voice counts with a model, ascending. */
  get voiceCounts(): number[] {
    return this.models.map((m) => m.n).sort((a, b) => a - b);
  }

  /**
   * The model for `voices` voices: the one whose n matches, else the largest n below.
   * @throws TooFewVoicesError below the smallest n
   */
  modelFor(voices: number): AttackModelEntry {
    const fits = this.models.filter((m) => m.n <= voices).sort((a, b) => b.n - a.n);
    if (!fits.length) throw new TooFewVoicesError(voices, Math.min(...this.voiceCounts));
    return fits[0];
  }

  /**
   * Ensemble decision of one feature vector under the model for n voices.
   * @param features `[F]` float64 in the bundle layout of this family
   * @param quantized score the 8-bit codes (the product path; default) or the float features (quantization check)
   */
  decide(model: AttackModelEntry, features: ArrayLike<number>, quantized = true): ModelDecision {
    const q = { min: model.quantization.min, scale: model.quantization.scale };
    const codes = quantize(q, features);
    const out = outOfObservedRange(model.quantization, features);
    const full = quantized ? dequantize(q, codes) : features;
    let sum = 0;
    model.members.forEach((mem, j) => {
      const x = standardize(mem.standardization, selectFeatures(full, mem.selected));
      const c = mem.classifier;
      const d =
        c.kind === 'svm'
          ? rbfDecision(c, this.svs.get(`${model.n}|${j}`) as number[][], [x])[0]
          : logisticDecision(c, [x])[0];
      sum += (d - mem.decision.mean) / mem.decision.std;
    });
    return { decision: sum / model.members.length, codes, outOfRange: out / features.length };
  }
}

/**
 * How many features lie outside the shadow's OBSERVED range: the codes' span less the quantization margins
 * (src/attack/quantize.ts `fitQuantizer`), with half a code of slack. A feature that was constant in calibration
 * (`scale` exactly 1, `min` its value: e.g. the per-voice std over j ≠ i of the intra lists at n = 2) has the
 * observed range {min}: it is out of range only when it rounds to another code.
 * @param q the model's quantization (`[F]` min and scale, margin as a fraction of the range)
 * @param features `[F]` float64 in the bundle layout
 * @returns count of features out of range (NaN counts as out of range)
 */
export function outOfObservedRange(
  q: { min: number[]; scale: number[]; margin: number },
  features: ArrayLike<number>,
): number {
  const lo = (255 * q.margin) / (1 + 2 * q.margin);
  const hi = 255 - lo;
  let out = 0;
  for (let f = 0; f < features.length; f++) {
    const v = (features[f] - q.min[f]) / q.scale[f];
    const constant = q.scale[f] === 1;
    if (constant ? !(Math.abs(v) < 0.5) : !(v >= lo - 0.5 && v <= hi + 0.5)) out++;
  }
  return out;
}

/** One scored voice set. */
export interface AttackScore {
  /** n of the attack model used. */
  modelN: number;
  /** Ensemble decision value on the quantized features. */
  decision: number;
  /** Platt member probability of the decision. */
  probability: number;
  /** Probability threshold for the target FPR on held-out shadow non-members. */
  shadowThreshold: number;
  /** `[F] uint8` quantized features the model saw. */
  quantized: Uint8Array;
  /** Share of features outside the shadow's quantization range. */
  outOfRange: number;
}

/** A ready-to-use attack bundle: the main (calibrated) models, the plain models and each reference's guard. */
export class AttackScorer {
  readonly main: ModelSet;
  readonly plain: ModelSet;
  /** Guard models per reference model, in bundle order. */
  readonly guards: ModelSet[];
  constructor(readonly bundle: AttackBundle) {
    this.main = new ModelSet(bundle.models);
    this.plain = new ModelSet(bundle.plain_models);
    this.guards = bundle.references.map((r) => new ModelSet(r.guard_models));
  }

  /** Voice counts with a model, ascending. */
  get voiceCounts(): number[] {
    return this.main.voiceCounts;
  }

  /** @throws TooFewVoicesError below the smallest n */
  modelFor(voices: number): AttackModelEntry {
    return this.main.modelFor(voices);
  }

  /**
   * Score one voice set of `voices` voices (features in the bundle layout).
   * @throws TooFewVoicesError
   */
  score(features: ArrayLike<number>, voices: number, options: { quantized?: boolean } = {}): AttackScore {
    const model = this.main.modelFor(voices);
    const d = this.main.decide(model, features, options.quantized ?? true);
    return {
      modelN: model.n,
      decision: d.decision,
      probability: plattProbability(model.platt, d.decision),
      shadowThreshold: model.threshold,
      quantized: d.codes,
      outOfRange: d.outOfRange,
    };
  }

  /** Member probability of an ensemble decision value under the model for `voices` voices. */
  probability(decision: number, voices: number): number {
    return plattProbability(this.main.modelFor(voices).platt, decision);
  }

  /** EncoderMI-T score (the feature itself) and EncoderMI-V probability, plain or calibrated. */
  baselines(
    t: number,
    sortedPairs: ArrayLike<number>,
    n: number,
    calibrated = false,
  ): { t: number; v: number | undefined } {
    const list = calibrated
      ? this.bundle.baselines.encodermi_v_calibrated
      : this.bundle.baselines.encodermi_v;
    const v = list.find((b) => b.n === n);
    if (!v) return { t, v: undefined };
    const x = standardize(v.standardization, sortedPairs);
    return { t, v: sigmoid(logisticDecision(v.classifier, [x])[0]) };
  }
}
