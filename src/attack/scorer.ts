/**
 * Scoring with a calibrated attack bundle: pick the voice-count-dependent model, quantize the features with
 * its stored ranges, and turn the classifier's decision value into a Platt probability and a verdict.
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
  constructor(voices: number, needed: number) {
    super('attack.too-few-voices', `${voices} voice(s) given; the attack needs at least ${needed}`);
    this.voices = voices;
    this.needed = needed;
  }
}

/** One scored speaker. */
export interface AttackScore {
  /** n of the attack model used. */
  modelN: number;
  /** Raw classifier decision value on the quantized features. */
  decision: number;
  /** Platt member probability. */
  probability: number;
  threshold: number;
  verdict: 'member' | 'non-member';
  /** `[120] uint8` quantized features the model saw. */
  quantized: Uint8Array;
}

/** A ready-to-use attack model (support vectors standardised once at load). */
export class AttackScorer {
  private readonly svs = new Map<number, number[][]>();
  constructor(readonly bundle: AttackBundle) {
    const F = bundle.features.names.length;
    for (const m of bundle.models) {
      if (m.classifier.kind === 'svm') {
        const q = { min: m.quantization.min, scale: m.quantization.scale };
        this.svs.set(
          m.n,
          decodeCodes(m.classifier.support_vectors_q, F).map((c) => {
            const x = dequantize(q, c);
            return standardize(m.standardization, m.selected ? selectFeatures(x, m.selected) : x);
          }),
        );
      }
    }
  }

  /** Voice counts with a model, ascending. */
  get voiceCounts(): number[] {
    return this.bundle.models.map((m) => m.n).sort((a, b) => a - b);
  }

  /**
   * The model for `voices` voices: the one whose n matches, else the largest n below.
   * @throws TooFewVoicesError below the smallest n
   */
  modelFor(voices: number): AttackModelEntry {
    const fits = this.bundle.models.filter((m) => m.n <= voices).sort((a, b) => b.n - a.n);
    if (!fits.length) throw new TooFewVoicesError(voices, Math.min(...this.voiceCounts));
    return fits[0];
  }

  /** Decision value of features (float, or quantized when `quantized` is true — the product path). */
  decision(
    model: AttackModelEntry,
    features: ArrayLike<number>,
    quantized = true,
  ): { decision: number; codes: Uint8Array } {
    const q = { min: model.quantization.min, scale: model.quantization.scale };
    const codes = quantize(q, features);
    const full = quantized ? dequantize(q, codes) : features;
    const x = standardize(
      model.standardization,
      model.selected ? selectFeatures(full, model.selected) : full,
    );
    const c = model.classifier;
    const decision =
      c.kind === 'svm'
        ? rbfDecision(c, this.svs.get(model.n) as number[][], [x])[0]
        : logisticDecision(c, [x])[0];
    return { decision, codes };
  }

  /**
   * Score one speaker's 120 features computed from `voices` voices.
   * @throws TooFewVoicesError
   */
  score(features: ArrayLike<number>, voices: number, options: { quantized?: boolean } = {}): AttackScore {
    const model = this.modelFor(voices);
    const { decision, codes } = this.decision(model, features, options.quantized ?? true);
    const probability = plattProbability(model.platt, decision);
    return {
      modelN: model.n,
      decision,
      probability,
      threshold: model.threshold,
      verdict: probability >= model.threshold ? 'member' : 'non-member',
      quantized: codes,
    };
  }

  /** EncoderMI-T score (the feature itself) and EncoderMI-V probability for the same speaker. */
  baselines(
    features: ArrayLike<number>,
    sortedPairs: ArrayLike<number>,
    n: number,
  ): { t: number; v: number | undefined } {
    const t = features[4]; // intra.pairs.mean
    const v = this.bundle.baselines.encodermi_v.find((b) => b.n === n);
    if (!v) return { t, v: undefined };
    const x = standardize(v.standardization, sortedPairs);
    return { t, v: sigmoid(logisticDecision(v.classifier, [x])[0]) };
  }
}
