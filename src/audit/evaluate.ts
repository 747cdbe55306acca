/**
 * Paper-style evaluation of an attack bundle on a target model (SLMIA-SR Sec. V): member speakers of the
 * target at r = 1 (queried voices are training clips) and r = 0 (fresh voices) against non-member speakers;
 * SLMIA-SR (quantized, plus the float AUROC for the quantization check) and the EncoderMI-T/-V baselines;
 * accuracy, AUROC with a 95% bootstrap interval over speakers, TPR at 1% / 5% FPR, query counts, wall time.
 */
import {
  accuracy,
  auroc,
  AttackScorer,
  bootstrapAurocCi,
  readBundle,
  rocCurve,
  seededRng,
  tprAtFpr,
  type RocPoint,
} from '../attack/index.js';
import { buildReferenceBank, type EmbeddingCache } from '../features/index.js';
import { loadSpeakerModel } from '../model/index.js';
import { bundleVoiceSpec } from './audit-speaker.js';
import { featurize, referenceNorms } from './calibrate.js';
import { drawVoiceSet, embedDatasetSpeakers, embedGroups, type VoiceSet } from './lab-data.js';
import { buildReferenceEmbeddings, referencesFileName, writeReferenceFile } from './reference-bank.js';
import { dirname, resolve } from 'node:path';

/** One row of the report (the report.json `rows` schema of issue 4, plus n and the AUROC interval). */
export interface ReportRow {
  attack: 'slmia-sr' | 'encodermi-t' | 'encodermi-v';
  r: 0 | 1;
  n: number;
  accuracy: number;
  auroc: number;
  auroc_ci95: [number, number];
  tpr_at_1pct_fpr: number;
  tpr_at_5pct_fpr: number;
  n_members: number;
  n_nonmembers: number;
  /** SLMIA-SR only: AUROC on float (unquantized) features, same model. */
  auroc_float?: number;
  /** SLMIA-SR only: TPR / FPR of the verdict at the bundle's stored threshold. */
  tpr_at_threshold?: number;
  fpr_at_threshold?: number;
}

/** The evaluation result (report.json). */
export interface EvaluationReport {
  rows: ReportRow[];
  /** All model queries of this run (reference + audited speakers). */
  queries: number;
  reference_queries: number;
  speaker_queries: number;
  /** Clips embedded for audited speakers and the model's max_batch: bound = ceil(clips / max_batch) per speaker. */
  speaker_clips: number;
  speakers: number;
  max_batch: number;
  wall_seconds: number;
  /** Where the non-members come from: the split's `target-nonmember` group, or another dataset (out-of-domain). */
  nonmembers: string;
  target: { name: string; sha256: string; architecture?: string };
  attack: {
    path: string;
    id: string;
    attack_model: string;
    shadow_models: string[];
    voice: string;
    centre: boolean;
    normalization: string;
  };
  /** Lowest FPR the non-member count supports (1 / non-members). */
  lowest_supported_fpr: number;
  roc: { attack: string; r: number; n: number; points: RocPoint[] }[];
  created_at: string;
  command_line: string;
}

/** Options of {@link runEvaluation}. */
export interface EvaluateOptions {
  targetModel: string;
  attackPath: string;
  dataset: string;
  split?: string;
  /** Voice counts to evaluate (default: every n of the bundle). */
  voiceCounts?: number[];
  cache?: EmbeddingCache;
  seed?: number;
  /**
   * Non-members from another dataset folder (all its speakers, every clip) instead of the split's
   * `target-nonmember` group: how the attack treats speakers outside the calibration population.
   */
  nonmemberDataset?: string;
  /** Also write the target's reference bank beside the bundle (for hubs without the dataset). */
  exportReferences?: boolean;
  commandLine?: string;
  onProgress?: (phase: string, done: number, total: number) => void;
}

/**
 * Evaluate SLMIA-SR and the baselines on a target model.
 * @throws DatasetError, ManifestError, ModelError, AttackBundleError
 */
export async function runEvaluation(o: EvaluateOptions): Promise<EvaluationReport> {
  const t0 = performance.now();
  const { bundle, id } = await readBundle(o.attackPath);
  const scorer = new AttackScorer(bundle);
  const voice = bundleVoiceSpec(bundle);
  const model = await loadSpeakerModel(o.targetModel);
  try {
    const refs = await buildReferenceEmbeddings(model, {
      dataset: o.dataset,
      split: o.split,
      group: bundle.features.reference.group,
      voicesPerSpeaker: bundle.features.reference.voices_per_speaker,
      voice,
      cache: o.cache,
      onProgress: (d, t) => o.onProgress?.('embed reference speakers', d, t),
    });
    if (o.exportReferences) {
      await writeReferenceFile(
        resolve(dirname(o.attackPath), referencesFileName(model.sha256)),
        refs,
        model.manifest.name,
      );
    }
    const bank = buildReferenceBank(refs.embeddings, {
      similarity: bundle.features.similarity,
      centre: bundle.features.centre,
    });
    const lab = await embedGroups(model, {
      dataset: o.dataset,
      split: o.split,
      groups: o.nonmemberDataset ? { 'target-member': 1 } : { 'target-member': 1, 'target-nonmember': 0 },
      voice,
      cache: o.cache,
      onProgress: (d, t) => o.onProgress?.('embed target speakers', d, t),
    });
    if (o.nonmemberDataset) {
      const ood = await embedDatasetSpeakers(model, {
        dataset: o.nonmemberDataset,
        group: 'out-of-domain',
        voice,
        cache: o.cache,
      });
      lab.speakers.push(...ood.speakers);
      lab.queries += ood.queries;
      lab.clips += ood.clips;
    }
    const counts = o.voiceCounts ?? scorer.voiceCounts;
    const norms =
      bundle.features.normalization === 'reference-znorm'
        ? referenceNorms(
            refs.embeddings,
            { similarity: bundle.features.similarity, centre: bundle.features.centre },
            counts,
          )
        : undefined;
    const rows: ReportRow[] = [];
    const roc: EvaluationReport['roc'] = [];
    let done = 0;
    for (const n of counts) {
      for (const r of [1, 0] as const) {
        // One voice set per speaker; non-members draw the same set for r = 1 and r = 0.
        const sets: VoiceSet[] = [];
        for (const s of lab.speakers) {
          const rng = seededRng((o.seed ?? 7) * 7919 + n * 131 + (s.label === 1 ? r : 0) + hash(s.speaker));
          const set = drawVoiceSet(s, n, r, rng);
          if (set) sets.push(set);
        }
        const fs = featurize(sets, bank, norms);
        const y = fs.map((s) => s.label);
        const q = fs.map((s) => scorer.score(s.features, n));
        const pq = q.map((x) => x.probability);
        const pf = fs.map((s) => scorer.score(s.features, n, { quantized: false }).probability);
        const base = fs.map((s) => scorer.baselines(s.raw, s.sortedPairs, n));
        const tThr = bundle.baselines.encodermi_t.find((b) => b.n === n)?.threshold ?? 0;
        const counts01 = {
          n_members: y.filter((v) => v === 1).length,
          n_nonmembers: y.filter((v) => v === 0).length,
        };
        const row = (attack: ReportRow['attack'], scores: number[], thr: number): ReportRow => ({
          attack,
          r,
          n,
          accuracy: accuracy(scores, y, thr),
          auroc: auroc(scores, y),
          auroc_ci95: bootstrapAurocCi(scores, y, { seed: n * 10 + r }),
          tpr_at_1pct_fpr: tprAtFpr(scores, y, 0.01),
          tpr_at_5pct_fpr: tprAtFpr(scores, y, 0.05),
          ...counts01,
        });
        const main = row('slmia-sr', pq, 0.5);
        main.auroc_float = auroc(pf, y);
        const pos = q.filter((_, i) => y[i] === 1);
        const neg = q.filter((_, i) => y[i] === 0);
        main.tpr_at_threshold = pos.filter((x) => x.verdict === 'member').length / Math.max(1, pos.length);
        main.fpr_at_threshold = neg.filter((x) => x.verdict === 'member').length / Math.max(1, neg.length);
        const tScores = base.map((b) => b.t);
        const vScores = base.map((b) => b.v ?? 0.5);
        rows.push(main, row('encodermi-t', tScores, tThr), row('encodermi-v', vScores, 0.5));
        roc.push(
          { attack: 'slmia-sr', r, n, points: rocCurve(pq, y) },
          { attack: 'encodermi-t', r, n, points: rocCurve(tScores, y) },
          { attack: 'encodermi-v', r, n, points: rocCurve(vScores, y) },
        );
        o.onProgress?.('score', ++done, counts.length * 2);
      }
    }
    const nonmembers = lab.speakers.filter((s) => s.label === 0).length;
    return {
      rows,
      queries: refs.queries + lab.queries,
      reference_queries: refs.queries,
      speaker_queries: lab.queries,
      speaker_clips: lab.clips,
      speakers: lab.speakers.length,
      max_batch: model.manifest.max_batch,
      wall_seconds: (performance.now() - t0) / 1000,
      nonmembers: o.nonmemberDataset
        ? `all speakers of ${o.nonmemberDataset} (out-of-domain, every clip heldout)`
        : 'target-nonmember group of the split',
      target: { name: model.manifest.name, sha256: model.sha256, architecture: model.manifest.architecture },
      attack: {
        path: o.attackPath,
        id,
        attack_model: bundle.attack_model,
        shadow_models: bundle.shadow_models.map((s) => s.name),
        voice: voice.chunkSeconds
          ? `chunk ${voice.chunkSeconds} s, pad ${voice.pad ?? 'none'}`
          : 'no chunking',
        centre: bundle.features.centre,
        normalization: bundle.features.normalization,
      },
      lowest_supported_fpr: 1 / Math.max(1, nonmembers),
      roc,
      created_at: new Date().toISOString(),
      command_line: o.commandLine ?? '',
    };
  } finally {
    await model.close();
  }
}

/** Small stable string hash (per-speaker seeds). */
function hash(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return (h >>> 0) % 100003;
}
