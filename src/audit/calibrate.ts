/**
 * Attack calibration on a shadow model (SLMIA-SR with its three enhancements): mixing-ratio training,
 * voice chunk splitting (the bundle's voice spec), and one attack model per voice count n. Produces the
 * attack bundle, including the EncoderMI-T/-V baselines trained on the same shadow samples.
 */
import {
  bestAccuracyThreshold,
  fitStandardizer,
  seededRng,
  standardize,
  trainAttackModel,
  trainLogistic,
  type AttackBundle,
  type TrainingSample,
} from '../attack/index.js';
import {
  buildReferenceBank,
  computeFeatures,
  FEATURE_NAMES,
  featuresByPrefix,
  applyNorm,
  referenceNorm,
  type FeatureNorm,
  type EmbeddingCache,
  type ReferenceBank,
  type Similarity,
  type VoiceSpec,
} from '../features/index.js';
import { loadSpeakerModel } from '../model/index.js';
import { buildReferenceEmbeddings } from './reference-bank.js';
import { drawVoiceSet, embedGroups, type LabSpeaker, type VoiceSet } from './lab-data.js';

/** Options of {@link runCalibration}. */
export interface CalibrateOptions {
  shadowModel: string;
  dataset: string;
  split?: string;
  voiceCounts: number[];
  ratios: number[];
  voice: VoiceSpec;
  /** Random voice subsets per shadow speaker and ratio (default 2). */
  subsets?: number;
  kind?: 'svm' | 'logistic';
  targetFpr?: number;
  centre?: boolean;
  similarity?: Similarity;
  referenceVoices?: number;
  seed?: number;
  folds?: number;
  cache?: EmbeddingCache;
  /** Split groups of the shadow model's members / non-members (defaults shadow-member / shadow-nonmember). */
  memberGroup?: string;
  nonmemberGroup?: string;
  /** Reference z-normalisation of the features (default false). */
  znorm?: boolean;
  /** Feature selection by name prefixes (default: all 120). */
  featurePrefixes?: string[];
  commandLine?: string;
  /** Progress: phase name, done, total. */
  onProgress?: (phase: string, done: number, total: number) => void;
}

/** Features of a voice set plus the sorted pairwise similarities (EncoderMI-V input). */
export interface FeaturedSet extends VoiceSet {
  features: Float64Array;
  raw: Float64Array;
  sortedPairs: Float64Array;
}

/**
 * Compute features (reference z-normalised when `norms` is given) and sorted pairwise similarities of voice
 * sets. `raw` keeps the unnormalised features (the EncoderMI-T baseline uses them).
 */
export function featurize(sets: VoiceSet[], bank: ReferenceBank, norms?: FeatureNorm[]): FeaturedSet[] {
  return sets.map((s) => {
    const { features, lists } = computeFeatures(s.voices, bank, { lists: true });
    const pairs = Float64Array.from(lists?.get('intra.pairs') ?? [])
      .sort()
      .reverse();
    const normed = norms ? applyNorm(features, norms, s.voices.length) : features;
    return { ...s, features: normed, raw: features, sortedPairs: pairs };
  });
}

/** Reference z-norm statistics for each voice count (see src/features/normalize.ts). */
export function referenceNorms(
  speakers: ArrayLike<number>[][],
  options: { similarity: Similarity; centre: boolean },
  counts: number[],
): FeatureNorm[] {
  return counts.map((n) => referenceNorm(speakers, options, n));
}

/** Draw shadow training voice sets for one n: every ratio × `subsets` per member, balanced non-members. */
export function shadowVoiceSets(
  speakers: LabSpeaker[],
  n: number,
  ratios: number[],
  subsets: number,
  seed: number,
): VoiceSet[] {
  const rng = seededRng(seed * 1000 + n);
  const ids = new WeakMap<Float32Array, number>();
  let next = 0;
  const key = (s: VoiceSet): string =>
    `${s.speaker}|${s.r}|${s.voices
      .map((v) => {
        if (!ids.has(v)) ids.set(v, next++);
        return ids.get(v);
      })
      .sort((a, b) => (a as number) - (b as number))
      .join(',')}`;
  const seen = new Set<string>();
  const out: VoiceSet[] = [];
  for (const s of speakers) {
    const draws =
      s.label === 1
        ? ratios.flatMap((r) => Array<number>(subsets).fill(r))
        : Array<number>(ratios.length * subsets).fill(0);
    for (const r of draws) {
      const set = drawVoiceSet(s, n, r, rng);
      if (!set) continue;
      const k = key(set);
      if (seen.has(k)) continue;
      seen.add(k);
      out.push(set);
    }
  }
  return out;
}

/**
 * Calibrate an attack bundle on a shadow model.
 * @throws DatasetError, ManifestError, ModelError, AttackTrainingError
 */
export async function runCalibration(
  o: CalibrateOptions,
): Promise<{ bundle: AttackBundle; queries: number; seconds: number }> {
  const t0 = performance.now();
  const seed = o.seed ?? 1;
  const kind = o.kind ?? 'svm';
  const targetFpr = o.targetFpr ?? 0.01;
  const subsets = o.subsets ?? 2;
  const referenceVoices = o.referenceVoices ?? 10;
  const model = await loadSpeakerModel(o.shadowModel);
  try {
    const similarity = o.similarity ?? model.manifest.similarity;
    const centre = o.centre ?? false;
    const refs = await buildReferenceEmbeddings(model, {
      dataset: o.dataset,
      split: o.split,
      voicesPerSpeaker: referenceVoices,
      voice: o.voice,
      cache: o.cache,
      onProgress: (d, t) => o.onProgress?.('embed reference speakers', d, t),
    });
    const bank = buildReferenceBank(refs.embeddings, { similarity, centre });
    const lab = await embedGroups(model, {
      dataset: o.dataset,
      split: o.split,
      groups: { [o.memberGroup ?? 'shadow-member']: 1, [o.nonmemberGroup ?? 'shadow-nonmember']: 0 },
      voice: o.voice,
      cache: o.cache,
      onProgress: (d, t) => o.onProgress?.('embed shadow speakers', d, t),
    });
    const models = [];
    const baselinesT = [];
    const baselinesV = [];
    const counts = [...o.voiceCounts].sort((a, b) => a - b);
    const gridSize = kind === 'svm' ? 12 : 4;
    let step = 0;
    const steps = counts.length * gridSize;
    for (const n of counts) {
      const norms = o.znorm ? referenceNorms(refs.embeddings, { similarity, centre }, [n]) : undefined;
      const sets = featurize(shadowVoiceSets(lab.speakers, n, o.ratios, subsets, seed), bank, norms);
      const samples: TrainingSample[] = sets.map((s) => ({
        features: s.features,
        label: s.label,
        speaker: s.speaker,
        r: s.r,
      }));
      models.push(
        trainAttackModel(samples, {
          n,
          kind,
          targetFpr,
          seed,
          folds: o.folds,
          selected: o.featurePrefixes ? featuresByPrefix(o.featurePrefixes) : undefined,
          onStep: () => o.onProgress?.(`train attack models`, ++step, steps),
        }),
      );
      const y = sets.map((s) => s.label);
      baselinesT.push({
        n,
        feature: 'intra.pairs.mean' as const,
        threshold: bestAccuracyThreshold(
          sets.map((s) => s.raw[4]),
          y,
        ),
      });
      const std = fitStandardizer(sets.map((s) => s.sortedPairs));
      const lr = trainLogistic(
        sets.map((s) => standardize(std, s.sortedPairs)),
        y,
        1e-2,
      );
      baselinesV.push({
        n,
        standardization: std,
        classifier: { kind: 'logistic' as const, w: lr.w, b: lr.b, l2: lr.l2 },
      });
    }
    const m = model.manifest;
    const bundle: AttackBundle = {
      format: 'slmia-attack',
      version: 1,
      created_at: new Date().toISOString(),
      command_line: o.commandLine ?? '',
      shadow_models: [{ name: m.name, sha256: model.sha256, architecture: m.architecture }],
      features: {
        names: [...FEATURE_NAMES],
        similarity,
        centre,
        normalization: o.znorm ? 'reference-znorm' : 'none',
        voice: { chunk_seconds: o.voice.chunkSeconds, pad: o.voice.pad ?? 'none' },
        reference: { group: refs.group, speakers: refs.speakers.length, voices_per_speaker: referenceVoices },
      },
      ratios: o.ratios,
      target_fpr: targetFpr,
      attack_model: kind,
      models,
      baselines: { encodermi_t: baselinesT, encodermi_v: baselinesV },
      notes: {
        subsets_per_speaker_and_ratio: subsets,
        seed,
        shadow_speakers: lab.speakers.length,
        shadow_clips: lab.clips,
        queries: lab.queries + refs.queries,
      },
    };
    return { bundle, queries: lab.queries + refs.queries, seconds: (performance.now() - t0) / 1000 };
  } finally {
    await model.close();
  }
}
