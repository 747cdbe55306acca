/**
 * The one-speaker audit pipeline (the daemon's and `slmia audit`'s core): clips → voices → one batched call
 * of the target model and of each reference model → SLMIA-SR features against each model's reference bank →
 * calibrated feature vector → 8-bit quantization → attack ensemble → p-value on the target-side null →
 * out-of-domain guard → verdict `member` / `non-member` / `inconclusive` with probability, p-value, reason,
 * queries per model and stage timings. More voices than the largest attack model's n are scored as several
 * n-voice subsets whose decisions are averaged.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import { z } from 'zod';
import { loadClip, type Clip } from '../audio/index.js';
import {
  AttackBundleError,
  AttackScorer,
  nullPValue,
  nullThreshold,
  readBundle,
  TooFewVoicesError,
  type AttackBundle,
  type NullFit,
} from '../attack/index.js';
import {
  voiceLogNorms,
  voiceSeconds,
  SharedVoiceInputs,
  VoiceStream,
  type EmbeddingCache,
  type VoiceSpec,
} from '../features/index.js';
import { loadSpeakerModel, preprocessingLabel, type SpeakerModel } from '../model/index.js';
import { speechoceanDir } from '../paths.js';
import {
  buildReferenceEmbeddings,
  findReferenceFile,
  ReferenceBankError,
  type ReferenceEmbeddings,
} from './reference-bank.js';
import {
  applyGuard,
  bankContext,
  bundleFeatureSettings,
  computeAveragedNull,
  computeTargetNull,
  referencePoolSize,
  voiceSubsets,
  layoutFeatures,
  viewOf,
  type AveragedNull,
  type BankContext,
  type GuardResult,
  type InconclusiveReason,
  type TargetNull,
} from './views.js';

/** A loaded model with its reference bank. */
export interface ModelWithBank {
  model: SpeakerModel;
  bank: BankContext;
  /** Where the reference bank came from: an exported file, or the dataset through the cache. */
  source: string;
}

/** Everything an audit needs, loaded once (the daemon keeps one per target model). */
export interface AuditContext {
  /** The target model. */
  model: SpeakerModel;
  bundle: AttackBundle;
  /** Attack bundle id (first 16 hex of its SHA-256). */
  attackId: string;
  attackPath: string;
  scorer: AttackScorer;
  voice: VoiceSpec;
  /** The target's reference bank. */
  target: ModelWithBank;
  /** The bundle's reference models with their banks, in bundle order. */
  referenceModels: ModelWithBank[];
  /** The target-side null (reference speakers audited on this target) and guard statistics. */
  null: TargetNull;
  /** Where the null came from: a file, or `computed` at open. */
  nullSource: string;
  /**
   * The null of audits of `voices` voices scored as several subsets (more voices than an attack model's n):
   * computed from the reference speakers on first use and kept.
   */
  averagedNull(voices: number): AveragedNull;
  /** Release the model sessions. */
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
  /** Folder where a computed null is cached as JSON (looked up there and beside the bundle). */
  nullCacheDir?: string;
  onProgress?: (done: number, total: number) => void;
}

/** A data dir holding `speechocean762/`, or the dataset folder itself. */
function resolveDataset(dir: string): string {
  return existsSync(resolve(dir, 'utterances.tsv')) ? dir : resolve(dir, 'speechocean762');
}

/** Voice spec of a bundle. */
export function bundleVoiceSpec(bundle: AttackBundle): VoiceSpec {
  return { chunkSeconds: bundle.features.voice.chunk_seconds, pad: bundle.features.voice.pad };
}

/**
 * The reference embeddings of a model: an exported `references-<sha12>.json` in one of `dirs`, else the
 * dataset through the cache.
 * @throws ReferenceBankError when neither is available
 */
export async function loadReferences(
  model: SpeakerModel,
  bundle: AttackBundle,
  dirs: string[],
  o: Pick<OpenAuditOptions, 'dataDir' | 'splitPath' | 'cache' | 'onProgress'>,
): Promise<{ references: ReferenceEmbeddings; source: string }> {
  const voice = bundleVoiceSpec(bundle);
  const preprocessing = preprocessingLabel(model.manifest);
  const found = await findReferenceFile(model.sha256, voice, dirs, preprocessing);
  if (found && !found.stale) return { references: found.ref, source: found.path };
  const dataset = o.dataDir ? resolveDataset(o.dataDir) : speechoceanDir();
  if (!dataset && found) {
    throw new ReferenceBankError(
      `${found.path}: reference bank made with preprocessing "${found.ref.preprocessing}", this build uses "${preprocessing}" (VAD / front-end settings changed); re-export it with \`slmia evaluate --export-references\` or provide the dataset (SLMIA_DATA_DIR)`,
    );
  }
  if (!dataset) {
    throw new ReferenceBankError(
      `no reference bank for model ${model.manifest.name} (${model.sha256.slice(0, 12)}): neither a references-<sha12>.json in ${dirs.join(' or ')}, nor a dataset (set SLMIA_DATA_DIR or pass dataDir); export one with \`slmia evaluate --export-references\``,
    );
  }
  const references = await buildReferenceEmbeddings(model, {
    dataset,
    split: o.splitPath,
    group: bundle.features.reference.group,
    voicesPerSpeaker: bundle.features.reference.voices_per_speaker,
    voice,
    cache: o.cache,
    onProgress: o.onProgress,
  });
  return { references, source: dataset };
}

const AveragedSchema = z.lazy(() =>
  z
    .object({
      voices: z.number(),
      used: z.number(),
      n: z.number(),
      main: FitSchema,
      guard: z.array(FitSchema.nullable()),
    })
    .strict(),
);
const FitSchema = z
  .object({ mean: z.number(), std: z.number().positive(), samples: z.number(), max: z.number() })
  .strict();
const NullFileSchema = z
  .object({
    format: z.literal('slmia-null'),
    version: z.literal(1),
    attack_id: z.string(),
    target_sha256: z.string(),
    reference_sha256: z.array(z.string()),
    /**
     * Preprocessing label (src/model/pipeline.ts) of the reference-bank embeddings the null was computed from,
     * target first then each reference model; a file without it, or with other labels, is stale.
     */
    preprocessing: z.array(z.string()).optional(),
    main: z.record(z.string(), FitSchema),
    guard: z.array(z.record(z.string(), FitSchema)),
    norm_threshold: z.array(z.number()),
    speakers: z.number().int(),
    sets_per_n: z.record(z.string(), z.number()),
    /** Nulls of averaged audits by the voices a reference speaker matches (min(voices, pool size)). */
    averaged: z.record(z.string(), AveragedSchema).optional(),
    created_at: z.string(),
  })
  .strict();

/** File name of a target's null for a bundle: `null-<attack id>-<target sha12>.json`. */
export function nullFileName(attackId: string, targetSha256: string): string {
  return `null-${attackId}-${targetSha256.slice(0, 12)}.json`;
}

const toRecord = (m: Map<number, NullFit>): Record<string, NullFit> =>
  Object.fromEntries([...m].map(([n, f]) => [String(n), f]));
const fromRecord = (r: Record<string, NullFit>): Map<number, NullFit> =>
  new Map(Object.entries(r).map(([n, f]) => [Number(n), f]));

/**
 * What a target null belongs to: the bundle, the target and reference models, and the preprocessing label of
 * each model's reference-bank embeddings (target first). A null computed from embeddings of another front-end
 * (VAD / fbank revision) scores the reference speakers differently, so it must not be reused.
 */
export interface NullIds {
  attackId: string;
  targetSha256: string;
  referenceSha256: string[];
  /** `[1 + references]` preprocessing labels of the banks (ReferenceEmbeddings.preprocessing). */
  preprocessing: string[];
}

/** The {@link NullIds} of a bundle on a target, from the banks in use (target first). */
export function nullIds(attackId: string, banks: BankContext[]): NullIds {
  return {
    attackId,
    targetSha256: banks[0].modelSha256,
    referenceSha256: banks.slice(1).map((b) => b.modelSha256),
    preprocessing: banks.map((b) => b.references.preprocessing),
  };
}

/** Write a target null (JSON). */
export async function writeNullFile(path: string, nul: TargetNull, ids: NullIds): Promise<void> {
  const file: z.infer<typeof NullFileSchema> = {
    format: 'slmia-null',
    version: 1,
    attack_id: ids.attackId,
    target_sha256: ids.targetSha256,
    reference_sha256: ids.referenceSha256,
    preprocessing: ids.preprocessing,
    main: toRecord(nul.main),
    guard: nul.guard.map(toRecord),
    norm_threshold: nul.normThreshold,
    speakers: nul.speakers,
    sets_per_n: nul.setsPerN,
    averaged: Object.fromEntries(
      [...nul.averaged].map(([k, a]) => [String(k), { ...a, guard: a.guard.map((g) => g ?? null) }]),
    ),
    created_at: new Date().toISOString(),
  };
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, `${JSON.stringify(file)}\n`);
}

/**
 * Read a null file if it exists and matches the ids (bundle, models and the banks' preprocessing); undefined
 * otherwise (a stale or unreadable file is ignored and the null recomputed).
 */
export async function readNullFile(path: string, ids: NullIds): Promise<TargetNull | undefined> {
  if (!existsSync(path)) return undefined;
  const r = NullFileSchema.safeParse(JSON.parse(await readFile(path, 'utf8')));
  if (!r.success) return undefined;
  const f = r.data;
  if (
    f.attack_id !== ids.attackId ||
    f.target_sha256 !== ids.targetSha256 ||
    f.reference_sha256.join() !== ids.referenceSha256.join() ||
    f.preprocessing?.join('\n') !== ids.preprocessing.join('\n')
  )
    return undefined;
  return {
    main: fromRecord(f.main),
    guard: f.guard.map(fromRecord),
    normThreshold: f.norm_threshold,
    speakers: f.speakers,
    setsPerN: f.sets_per_n,
    averaged: new Map(
      Object.entries(f.averaged ?? {}).map(([k, a]) => [
        Number(k),
        { ...a, guard: a.guard.map((g) => g ?? undefined) },
      ]),
    ),
  };
}

/**
 * Load the target model, the attack bundle, the bundle's reference models, every model's reference bank, and
 * the target-side null (from a cached file, else computed and cached when `nullCacheDir` is given).
 * @throws ManifestError / ModelError for a model, AttackBundleError for the bundle (also when the bundle is
 *   pinned to another target, or a reference model's sha256 differs from the pin), ReferenceBankError when a
 *   reference bank is unavailable
 */
export async function openAuditContext(o: OpenAuditOptions): Promise<AuditContext> {
  const { bundle, id } = await readBundle(o.attackPath);
  const bundleDir = dirname(resolve(o.attackPath));
  const model = o.model ?? (await loadSpeakerModel(o.modelPath));
  const refModels: SpeakerModel[] = [];
  try {
    if (bundle.target && bundle.target.sha256 !== model.sha256) {
      throw new AttackBundleError(
        o.attackPath,
        `calibrated for target ${bundle.target.name} (sha256 ${bundle.target.sha256.slice(0, 12)}…), not ${model.manifest.name} (${model.sha256.slice(0, 12)}…): calibrate a bundle for this target (\`slmia calibrate --target\`)`,
      );
    }
    for (const r of bundle.references) {
      const m = await loadSpeakerModel(resolve(bundleDir, r.path));
      refModels.push(m);
      if (m.sha256 !== r.sha256) {
        throw new AttackBundleError(
          o.attackPath,
          `reference model ${r.path} has sha256 ${m.sha256.slice(0, 12)}…, the bundle pins ${r.sha256.slice(0, 12)}…`,
        );
      }
    }
    const settings = bundleFeatureSettings(bundle);
    const withBank = async (m: SpeakerModel): Promise<ModelWithBank> => {
      const { references, source } = await loadReferences(m, bundle, [bundleDir, dirname(m.manifestPath)], o);
      return { model: m, bank: bankContext(references, settings), source };
    };
    const target = await withBank(model);
    const referenceModels = [];
    for (const m of refModels) referenceModels.push(await withBank(m));
    const scorer = new AttackScorer(bundle);
    const ids = nullIds(id, [target.bank, ...referenceModels.map((r) => r.bank)]);
    const name = nullFileName(id, model.sha256);
    let nul: TargetNull | undefined;
    let nullSource = 'computed';
    for (const dir of [bundleDir, o.nullCacheDir].filter((d): d is string => !!d)) {
      nul = await readNullFile(resolve(dir, name), ids);
      if (nul) {
        nullSource = resolve(dir, name);
        break;
      }
    }
    if (!nul) {
      nul = computeTargetNull(
        bundle,
        scorer,
        target.bank,
        referenceModels.map((r) => r.bank),
      );
      if (o.nullCacheDir) await writeNullFile(resolve(o.nullCacheDir, name), nul, ids);
    }
    const banks = [target.bank, ...referenceModels.map((r) => r.bank)];
    const pool = referencePoolSize(target.bank);
    const nulls = nul;
    return {
      averagedNull: (voices) => {
        const key = Math.min(voices, pool);
        let a = nulls.averaged.get(key);
        if (!a)
          nulls.averaged.set(key, (a = computeAveragedNull(bundle, scorer, banks[0], banks.slice(1), key)));
        return a;
      },
      model,
      bundle,
      attackId: id,
      attackPath: o.attackPath,
      scorer,
      voice: bundleVoiceSpec(bundle),
      target,
      referenceModels,
      null: nul,
      nullSource,
      close: async () => {
        for (const m of refModels) await m.close();
        if (!o.model) await model.close();
      },
    };
  } catch (err) {
    for (const m of refModels) await m.close();
    if (!o.model) await model.close();
    throw err;
  }
}

/** Verdict values. */
export type VerdictValue = 'member' | 'non-member' | 'inconclusive';

/** One speaker's audit verdict. */
export interface AuditResult {
  speaker: string;
  /** `inconclusive` when the out-of-domain guard fires (never `member` then); see `reason`. */
  verdict: VerdictValue;
  /** Platt member probability (calibrated on shadow data). */
  probability: number;
  /**
   * Probability that a non-member of this target scores at least this high: upper tail of the Gaussian fitted
   * to the reference speakers' scores on this target (conservative when several voice subsets were averaged).
   */
  p_value: number;
  /** Why the verdict is inconclusive (null otherwise). */
  reason: InconclusiveReason;
  /** Member probability threshold: the probability at the null's score threshold for target_fpr. */
  threshold: number;
  target_fpr: number;
  /** Voices used (after chunk splitting). */
  voices: number;
  /** n of the voice-count-dependent attack model used. */
  model_n: number;
  /** Voice subsets of n voices scored (1 when voices = n). */
  voice_sets: number;
  /** Model queries made for this audit (all models). */
  queries: number;
  /** Queries per model name (target first). */
  queries_per_model: Record<string, number>;
  /**
   * Per clip, in input order: seconds kept by the speech-activity stage and seconds of speech in them;
   * `duplicate_of` names an earlier clip with the same samples (the duplicate gave no voices).
   */
  clips: { source: string; seconds: number; speech_seconds: number; duplicate_of?: string }[];
  model_sha256: string;
  attack_id: string;
  /** The guard's statistics and explanation. */
  guard: GuardResult;
  /** `[F] float64` features of the first voice set in the bundle layout (before quantization). */
  features: Float64Array;
  /** `[F] uint8` quantized features of the first voice set. */
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
  | 'p_value'
  | 'reason'
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

/** Verdict from a decision value (mean over voice sets) and the guard. */
export function decideVerdict(
  ctx: Pick<AuditContext, 'bundle' | 'scorer'>,
  n: number,
  fit: NullFit,
  decision: number,
  guard: GuardResult,
): { verdict: VerdictValue; p_value: number; threshold: number; probability: number } {
  const fpr = ctx.bundle.target_fpr;
  const p = nullPValue(fit, decision);
  const verdict: VerdictValue = guard.reason ? 'inconclusive' : p <= fpr ? 'member' : 'non-member';
  return {
    verdict,
    p_value: p,
    threshold: ctx.scorer.probability(nullThreshold(fit, fpr), n),
    probability: ctx.scorer.probability(decision, n),
  };
}

/**
 * Audit one speaker: is this speaker in the target model's training data?
 * @throws TooFewVoicesError (before any query) when the clips give fewer voices than the smallest attack model
 * @throws ModelError when a model call fails
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
  const rate = ctx.model.manifest.sample_rate;
  const models = [ctx.target, ...ctx.referenceModels];
  // one stream per model: each clip's voices are embedded by every model as their batches fill; voices are cut
  // once and a model whose front-end equals an earlier one's reuses its features (target and shadow of one
  // architecture: the front-end runs once per audit)
  const shared = new SharedVoiceInputs();
  const streams = models.map((m) => new VoiceStream(m.model, ctx.voice, { minVoices: minN, shared }));
  const perClip: AuditResult['clips'] = [];
  const seconds: number[] = [];
  // A clip given twice (a copied file, or the same recording in another container: the same samples after
  // decoding, resampling and the speech-activity stage) would add voices identical to each other, which the
  // features read as a very consistent speaker; it is audited once.
  const firstSource = new Map<string, string>();
  let duplicates = 0;
  const noisyShares: number[] = [];
  for await (const c of clips) {
    const entry: AuditResult['clips'][number] = {
      source: c.source,
      seconds: c.seconds,
      speech_seconds: c.speechSeconds,
    };
    perClip.push(entry);
    const key = sampleDigest(c.samples);
    const first = firstSource.get(key);
    if (first !== undefined) {
      entry.duplicate_of = first;
      duplicates++;
      continue;
    }
    firstSource.set(key, c.source);
    if (c.gatedSeconds !== undefined && c.seconds > 0)
      noisyShares.push(Math.max(0, c.seconds - c.gatedSeconds) / c.seconds);
    seconds.push(...voiceSeconds(c.samples, rate, ctx.voice));
    for (const s of streams) await s.add(c);
  }
  if (streams[0].voices < minN) {
    const names = perClip.slice(0, 3).map((c) => basename(c.source));
    const more = perClip.length > 3 ? `, … ${perClip.length - 3} more` : '';
    const dup = duplicates ? `, ${duplicates} of them duplicates of another clip` : '';
    const clipsText = `${perClip.length} clip(s)${names.length ? ` (${names.join(', ')}${more})` : ''}${dup}`;
    throw new TooFewVoicesError(streams[0].voices, minN, `speaker "${speaker}", ${clipsText}`);
  }
  const timings = { frontendMs: 0, inferenceMs: 0 };
  const queriesPerModel: Record<string, number> = {};
  const voicesPerModel: Float32Array[][] = [];
  for (const [k, s] of streams.entries()) {
    const emb = await s.finish();
    const name = models[k].model.manifest.name;
    voicesPerModel.push(emb.perClip.flat());
    queriesPerModel[name] = (queriesPerModel[name] ?? 0) + emb.queries;
    timings.frontendMs += emb.timings.frontendMs;
    timings.inferenceMs += emb.timings.inferenceMs;
  }
  const total = voicesPerModel[0].length;
  const model = ctx.scorer.modelFor(total);
  const n = model.n;
  const sets = voiceSubsets(total, n);
  const t0 = performance.now();
  const views = sets.map((idx) =>
    models.map((m, k) =>
      viewOf(
        m.bank,
        idx.map((i) => voicesPerModel[k][i]),
      ),
    ),
  );
  const features = views.map((v) => layoutFeatures(v[0], v.slice(1)));
  const t1 = performance.now();
  const scored = features.map((f) => ctx.scorer.main.decide(model, f));
  const decision = scored.reduce((a, s) => a + s.decision, 0) / scored.length;
  const outOfRange = scored.reduce((a, s) => a + s.outOfRange, 0) / scored.length;
  const guardDecisions = ctx.referenceModels.map((_, j) => {
    const g = ctx.scorer.guards[j];
    const gm = g.modelFor(total);
    return views.reduce((a, v) => a + g.decide(gm, v[j + 1].features).decision, 0) / views.length;
  });
  // log-norms of every audited voice (not only the first subset)
  const refLogNorms = ctx.referenceModels.map((r, j) =>
    voiceLogNorms(voicesPerModel[j + 1], r.bank.bank.mean),
  );
  // One voice set: the null of n-voice sets; several: the null of the same averaging on the reference speakers.
  const fits =
    sets.length === 1
      ? { main: ctx.null.main.get(n) as NullFit, guard: ctx.null.guard.map((g) => g.get(n)) }
      : ctx.averagedNull(total);
  const guard = applyGuard(
    ctx.bundle,
    fits.guard,
    ctx.null.normThreshold,
    guardDecisions,
    refLogNorms,
    outOfRange,
    seconds,
    noisyShares,
  );
  const v = decideVerdict(ctx, n, fits.main, decision, guard);
  const t2 = performance.now();
  return {
    speaker,
    ...v,
    reason: guard.reason,
    target_fpr: ctx.bundle.target_fpr,
    voices: total,
    model_n: n,
    voice_sets: sets.length,
    queries: Object.values(queriesPerModel).reduce((a, b) => a + b, 0),
    queries_per_model: queriesPerModel,
    clips: perClip,
    model_sha256: ctx.model.sha256,
    attack_id: ctx.attackId,
    guard,
    features: features[0],
    quantized: scored[0].codes,
    timings: { ...timings, featuresMs: t1 - t0, attackMs: t2 - t1 },
  };
}

/** SHA-256 of a clip's samples (`[samples] float32`, bytes as stored): equal only for identical samples. */
function sampleDigest(samples: Float32Array): string {
  return createHash('sha256')
    .update(new Uint8Array(samples.buffer, samples.byteOffset, samples.byteLength))
    .digest('hex');
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

export { voiceSubsets };
