/**
 * The one-speaker audit pipeline (the daemon's and `slmia audit`'s core): clips → voices → one batched model
 * call → 120 SLMIA-SR features against the cached reference bank → 8-bit quantization → attack model →
 * member / non-member verdict with probability, query count and stage timings.
 */
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { loadClip, type Clip } from '../audio/index.js';
import { AttackScorer, readBundle, TooFewVoicesError, type AttackBundle } from '../attack/index.js';
import {
  buildReferenceBank,
  computeFeatures,
  applyNorm,
  VoiceStream,
  type EmbeddingCache,
  type FeatureNorm,
  type ReferenceBank,
  type VoiceSpec,
} from '../features/index.js';
import { loadSpeakerModel, preprocessingLabel, type SpeakerModel } from '../model/index.js';
import { referenceNorms } from './calibrate.js';
import { speechoceanDir } from '../paths.js';
import {
  buildReferenceEmbeddings,
  findReferenceFile,
  ReferenceBankError,
  type ReferenceEmbeddings,
} from './reference-bank.js';

/** Everything an audit needs, loaded once (the daemon keeps one per target model). */
export interface AuditContext {
  model: SpeakerModel;
  bundle: AttackBundle;
  /** Attack bundle id (first 16 hex of its SHA-256). */
  attackId: string;
  attackPath: string;
  scorer: AttackScorer;
  voice: VoiceSpec;
  references: ReferenceEmbeddings;
  /** Where the reference bank came from: an exported file, or the dataset through the cache. */
  referencesSource: string;
  bank: ReferenceBank;
  /** Reference z-norm statistics per voice count (when the bundle asks for them). */
  norms: FeatureNorm[] | undefined;
  /** Release the model session. */
  close(): Promise<void>;
}

/** Options of {@link openAuditContext}. */
export interface OpenAuditOptions {
  /** Target model manifest (model.json). */
  modelPath: string;
  /** Attack bundle (attack.json). */
  attackPath: string;
  /** Embedding cache for the reference speakers (SQLite in the CLI/daemon). */
  cache?: EmbeddingCache;
  /**
   * Dataset folder for the reference speakers (or a data dir holding `speechocean762/`) when no exported
   * `references-<sha12>.json` lies beside the bundle or the model (default: speechocean762 under the data dir).
   */
  dataDir?: string;
  /** Split TSV (default `<dataDir>/splits/five-way.tsv`). */
  splitPath?: string;
  /** Model already loaded (shared with other users); not closed by `close()`. */
  model?: SpeakerModel;
  onProgress?: (done: number, total: number) => void;
}

/** A dataset folder (has utterances.tsv) or a data dir holding `speechocean762/`. */
function resolveDataset(dir: string): string {
  return existsSync(resolve(dir, 'utterances.tsv')) ? dir : resolve(dir, 'speechocean762');
}

/** Voice spec of a bundle. */
export function bundleVoiceSpec(bundle: AttackBundle): VoiceSpec {
  return { chunkSeconds: bundle.features.voice.chunk_seconds, pad: bundle.features.voice.pad };
}

/**
 * Load the target model, the attack bundle and the model's reference bank (exported file if present, else
 * embedded from the dataset through the cache).
 * @throws ManifestError / ModelError for the model, AttackBundleError for the bundle,
 *   ReferenceBankError when neither a references file nor the dataset is available
 */
export async function openAuditContext(o: OpenAuditOptions): Promise<AuditContext> {
  const { bundle, id } = await readBundle(o.attackPath);
  const model = o.model ?? (await loadSpeakerModel(o.modelPath));
  try {
    const voice = bundleVoiceSpec(bundle);
    const spec = bundle.features;
    let references: ReferenceEmbeddings;
    let referencesSource: string;
    const preprocessing = preprocessingLabel(model.manifest);
    const found = await findReferenceFile(
      model.sha256,
      voice,
      [dirname(resolve(o.attackPath)), dirname(resolve(o.modelPath))],
      preprocessing,
    );
    if (found && !found.stale) {
      references = found.ref;
      referencesSource = found.path;
    } else {
      const dataset = o.dataDir ? resolveDataset(o.dataDir) : speechoceanDir();
      if (!dataset && found) {
        throw new ReferenceBankError(
          `${found.path}: reference bank made with preprocessing "${found.ref.preprocessing}", this build uses "${preprocessing}" (VAD / front-end settings changed); re-export it with \`slmia evaluate --export-references\` or provide the dataset (SLMIA_DATA_DIR)`,
        );
      }
      if (!dataset) {
        throw new ReferenceBankError(
          `no reference bank for model ${model.manifest.name} (${model.sha256.slice(0, 12)}): neither a ${'references-<sha12>.json'} beside ${o.attackPath} or ${o.modelPath}, nor a dataset (set SLMIA_DATA_DIR or pass dataDir); export one with \`slmia calibrate --export-references\``,
        );
      }
      references = await buildReferenceEmbeddings(model, {
        dataset,
        split: o.splitPath,
        group: spec.reference.group,
        voicesPerSpeaker: spec.reference.voices_per_speaker,
        voice,
        cache: o.cache,
        onProgress: o.onProgress,
      });
      referencesSource = dataset;
    }
    const bank = buildReferenceBank(references.embeddings, {
      similarity: spec.similarity,
      centre: spec.centre,
    });
    const norms =
      spec.normalization === 'reference-znorm'
        ? referenceNorms(
            references.embeddings,
            { similarity: spec.similarity, centre: spec.centre },
            bundle.models.map((m) => m.n),
          )
        : undefined;
    return {
      model,
      bundle,
      attackId: id,
      attackPath: o.attackPath,
      scorer: new AttackScorer(bundle),
      voice,
      references,
      referencesSource,
      bank,
      norms,
      close: async () => {
        if (!o.model) await model.close();
      },
    };
  } catch (err) {
    if (!o.model) await model.close();
    throw err;
  }
}

/** One speaker's audit verdict. */
export interface AuditResult {
  speaker: string;
  verdict: 'member' | 'non-member';
  /** Platt member probability. */
  probability: number;
  /** Decision threshold on the probability (chosen for target_fpr on shadow data). */
  threshold: number;
  target_fpr: number;
  /** Voices used (after chunk splitting). */
  voices: number;
  /** n of the voice-count-dependent attack model used. */
  model_n: number;
  /** Model queries made for this audit. */
  queries: number;
  /** Per clip, in input order: seconds kept by the speech-activity stage and seconds of speech in them. */
  clips: { source: string; seconds: number; speech_seconds: number }[];
  model_sha256: string;
  attack_id: string;
  /** `[120] float64` SLMIA-SR features (before the optional reference z-normalisation). */
  features: Float64Array;
  /** `[120] uint8` quantized features the attack scored. */
  quantized: Uint8Array;
  timings: {
    decodeMs?: number;
    frontendMs: number;
    inferenceMs: number;
    featuresMs: number;
    attackMs: number;
  };
}

/** The verdict part of an {@link AuditResult}: what is stored and published (no features, no timings). */
export type AuditVerdict = Pick<
  AuditResult,
  | 'speaker'
  | 'verdict'
  | 'probability'
  | 'threshold'
  | 'target_fpr'
  | 'voices'
  | 'queries'
  | 'model_sha256'
  | 'attack_id'
>;

/** Input of {@link auditSpeaker}. */
export interface AuditInput {
  speaker: string;
  /** Prepared clips at the model's sample rate (src/audio/load.ts). */
  clips: Clip[];
}

/**
 * Audit one speaker: is this speaker in the target model's training data?
 * @throws TooFewVoicesError (before any query) when the clips give fewer voices than the smallest attack model
 * @throws ModelError when the model call fails
 */
export async function auditSpeaker(ctx: AuditContext, input: AuditInput): Promise<AuditResult> {
  return auditClipStream(ctx, input.speaker, input.clips);
}

/**
 * Audit one speaker from clips produced one at a time (e.g. decoded file by file): each clip's voices are
 * embedded as soon as a batch is full and its samples are dropped ({@link VoiceStream}), so memory does not
 * grow with the number of clips; the queries are those of {@link auditSpeaker} on the same clips
 * (≤ max_batch voices: one query).
 * @param clips prepared clips at the model's sample rate, in order
 * @throws TooFewVoicesError (before any query) when the clips give fewer voices than the smallest attack model
 * @throws ModelError when a model call fails; whatever `clips` throws (decoding errors), at once
 */
export async function auditClipStream(
  ctx: AuditContext,
  speaker: string,
  clips: Iterable<Clip> | AsyncIterable<Clip>,
): Promise<AuditResult> {
  const minN = Math.min(...ctx.scorer.voiceCounts);
  const stream = new VoiceStream(ctx.model, ctx.voice, { minVoices: minN });
  const perClip: AuditResult['clips'] = [];
  for await (const c of clips) {
    perClip.push({ source: c.source, seconds: c.seconds, speech_seconds: c.speechSeconds });
    await stream.add(c);
  }
  if (stream.voices < minN) throw new TooFewVoicesError(stream.voices, minN);
  const emb = await stream.finish();
  const voices = emb.perClip.flat();
  const t0 = performance.now();
  const { features } = computeFeatures(voices, ctx.bank);
  const t1 = performance.now();
  const s = ctx.scorer.score(
    ctx.norms ? applyNorm(features, ctx.norms, voices.length) : features,
    voices.length,
  );
  const t2 = performance.now();
  return {
    speaker,
    verdict: s.verdict,
    probability: s.probability,
    threshold: s.threshold,
    target_fpr: ctx.bundle.target_fpr,
    voices: voices.length,
    model_n: s.modelN,
    queries: emb.queries,
    clips: perClip,
    model_sha256: ctx.model.sha256,
    attack_id: ctx.attackId,
    features,
    quantized: s.quantized,
    timings: { ...emb.timings, featuresMs: t1 - t0, attackMs: t2 - t1 },
  };
}

/**
 * Decode audio files (WAV/FLAC, resampled to the model rate) and audit them as one speaker. Files are decoded
 * one at a time as the audit needs them ({@link auditClipStream}); `decodeMs` sums their decoding.
 * @throws AudioError naming a bad file; TooFewVoicesError; ModelError
 */
export async function auditFiles(ctx: AuditContext, speaker: string, paths: string[]): Promise<AuditResult> {
  const m = ctx.model.manifest;
  let decodeMs = 0;
  async function* clips(): AsyncGenerator<Clip> {
    for (const p of paths) {
      const t0 = performance.now();
      const clip = await loadClip(p, { sampleRate: m.sample_rate, minSeconds: m.min_seconds });
      decodeMs += performance.now() - t0;
      yield clip;
    }
  }
  const r = await auditClipStream(ctx, speaker, clips());
  return { ...r, timings: { decodeMs, ...r.timings } };
}
