/**
 * The reference ("imposter") speaker bank of one model: K speakers × m voices from a dataset group (default
 * `imposter` of the canonical split), embedded once per (model, audio, voice spec) through the embedding
 * cache, and exportable to a `references-<sha12>.json` file shipped next to an attack bundle so a hub
 * without the dataset can audit. The speakers' further voices (up to `nullVoices` clips per speaker, the bank's
 * m included) are kept too: the target-side null audits every reference speaker with them.
 */
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { endianness } from 'node:os';
import { resolve } from 'node:path';
import { z } from 'zod';
import { SlmiaError } from '../errors.js';
import { readSplit, readUtterances, speakersOfGroup } from '../dataset/index.js';
import { embedFilesCached, type EmbeddingCache, type VoiceSpec, voiceSpecLabel } from '../features/index.js';
import { preprocessingLabel, type SpeakerModel } from '../model/index.js';

/** A reference bank could not be built or loaded. */
export class ReferenceBankError extends SlmiaError {
  constructor(detail: string, options?: { cause?: unknown }) {
    super('audit.references', detail, options);
  }
}

/** Reference speakers' raw voice embeddings for one model. */
export interface ReferenceEmbeddings {
  modelSha256: string;
  voice: VoiceSpec;
  group: string;
  /** Speaker ids, in order. */
  speakers: string[];
  /** Clips used per speaker (m). */
  voicesPerSpeaker: number;
  /** `[K][voices][D] float32` bank voices (the first m clips of each speaker). */
  embeddings: Float32Array[][];
  /** `[K][voices][D] float32` the speakers' further voices (null only; may be empty per speaker). */
  extra: Float32Array[][];
  /** Model queries spent building it (0 from the cache or a file). */
  queries: number;
  /**
   * `preprocessingLabel` (src/model/pipeline.ts) the embeddings were made with; `legacy` for files exported
   * before it was recorded. A bank whose label differs from the model's current one is stale.
   */
  preprocessing: string;
  /** Reference clips left out for too little speech (VAD), by path; empty from a file. */
  noSpeech: string[];
}

/** Options of {@link buildReferenceEmbeddings}. */
export interface ReferenceOptions {
  /** Dataset folder (speechocean762 layout). */
  dataset: string;
  /** Split TSV (default `<dataset>/splits/five-way.tsv`). */
  split?: string;
  group?: string;
  /** Clips per reference speaker (first m by utterance id; default 10). */
  voicesPerSpeaker?: number;
  /** Clips per speaker kept in all, bank included, for the target-side null (default 20). */
  nullVoices?: number;
  voice: VoiceSpec;
  cache?: EmbeddingCache;
  onProgress?: (done: number, total: number) => void;
  /**
   * Clips decoded and embedded per query (default {@link REFERENCE_BATCH}, at most the model's max_batch).
   * Bounds the memory of a daemon that embeds its reference bank at first start (bench/RESULTS.md).
   */
  batch?: number;
}

/**
 * Reference clips per query: a daemon without a shipped reference bank embeds 500 clips once at first start;
 * batches of 16 keep its peak memory within a hub's budget (a batch of 64 needs ~100 MB of onnxruntime working
 * memory), for 32 queries instead of 8, once per model (the embeddings are cached).
 */
export const REFERENCE_BATCH = 16;

/**
 * Embed the reference speakers of a dataset group with a model (cached).
 * @throws DatasetError for a bad dataset/split; ReferenceBankError when the group is empty
 */
export async function buildReferenceEmbeddings(
  model: SpeakerModel,
  o: ReferenceOptions,
): Promise<ReferenceEmbeddings> {
  const group = o.group ?? 'imposter';
  const m = o.voicesPerSpeaker ?? 10;
  const splitFile = o.split ?? resolve(o.dataset, 'splits', 'five-way.tsv');
  const utts = await readUtterances(o.dataset);
  const speakers = speakersOfGroup(await readSplit(splitFile), utts, group, splitFile);
  if (!speakers.length) throw new ReferenceBankError(`${splitFile}: group "${group}" has no speakers`);
  const keep = Math.max(m, o.nullVoices ?? 20);
  const chosen = speakers.map((s) => [...s.heldout, ...s.train].slice(0, keep));
  const paths = chosen.flat().map((u) => u.path);
  const r = await embedFilesCached(model, paths, o.voice, {
    cache: o.cache,
    onProgress: o.onProgress,
    blockSize: Math.min(o.batch ?? REFERENCE_BATCH, model.manifest.max_batch),
  });
  let p = 0;
  const perSpeaker = chosen.map((clips) => clips.map(() => r.perFile[p++]));
  const embeddings = perSpeaker.map((clips) => clips.slice(0, m).flat());
  const extra = perSpeaker.map((clips) => clips.slice(m).flat());
  return {
    modelSha256: model.sha256,
    voice: o.voice,
    group,
    speakers: speakers.map((s) => s.speaker),
    voicesPerSpeaker: m,
    embeddings,
    extra,
    queries: r.queries,
    preprocessing: preprocessingLabel(model.manifest),
    noSpeech: r.noSpeech,
  };
}

const ReferenceFileSchema = z
  .object({
    format: z.literal('slmia-references'),
    /** 1: bank voices only; 2: plus `extra_voices` per speaker (appended after all bank voices). */
    version: z.union([z.literal(1), z.literal(2)]),
    model_sha256: z.string().regex(/^[0-9a-f]{64}$/),
    model_name: z.string(),
    voice: z
      .object({ chunk_seconds: z.number().positive().optional(), pad: z.enum(['none', 'wrap']) })
      .strict(),
    group: z.string(),
    /** Preprocessing label (VAD, front-end, code revision); absent in files of round 1 (stale). */
    preprocessing: z.string().optional(),
    voices_per_speaker: z.number().int().positive(),
    dim: z.number().int().positive(),
    speakers: z.array(
      z
        .object({
          id: z.string(),
          voices: z.number().int().positive(),
          extra_voices: z.number().int().nonnegative().optional(),
        })
        .strict(),
    ),
    /** base64 of all voices' float32 little-endian values: bank voices speaker-major, then extra voices. */
    embeddings_f32: z.string(),
    created_at: z.string(),
  })
  .strict();

/** File name of the exported bank for a model: `references-<first 12 hex of sha256>.json`. */
export function referencesFileName(modelSha256: string): string {
  return `references-${modelSha256.slice(0, 12)}.json`;
}

/** Write a bank to a JSON file (float32 embeddings base64-encoded). */
export async function writeReferenceFile(
  path: string,
  ref: ReferenceEmbeddings,
  modelName: string,
): Promise<void> {
  const dim = ref.embeddings[0][0].length;
  const flat = [...ref.embeddings.flat(), ...ref.extra.flat()];
  const buf = Buffer.alloc(flat.length * dim * 4);
  flat.forEach((e, i) => e.forEach((v, d) => buf.writeFloatLE(v, (i * dim + d) * 4)));
  const file: z.infer<typeof ReferenceFileSchema> = {
    format: 'slmia-references',
    version: 2,
    model_sha256: ref.modelSha256,
    model_name: modelName,
    voice: { chunk_seconds: ref.voice.chunkSeconds, pad: ref.voice.pad ?? 'none' },
    group: ref.group,
    preprocessing: ref.preprocessing,
    voices_per_speaker: ref.voicesPerSpeaker,
    dim,
    speakers: ref.speakers.map((id, k) => ({
      id,
      voices: ref.embeddings[k].length,
      extra_voices: ref.extra[k]?.length ?? 0,
    })),
    embeddings_f32: buf.toString('base64'),
    created_at: new Date().toISOString(),
  };
  await writeFile(path, `${JSON.stringify(file)}\n`);
}

/**
 * Read an exported bank.
 * @throws ReferenceBankError when unreadable or invalid
 */
export async function readReferenceFile(path: string): Promise<ReferenceEmbeddings> {
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(path, 'utf8'));
  } catch (err) {
    throw new ReferenceBankError(`${path}: cannot read reference bank (${(err as Error).message})`, {
      cause: err,
    });
  }
  const r = ReferenceFileSchema.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new ReferenceBankError(`${path}: field "${issue?.path.join('.')}": ${issue?.message}`);
  }
  const f = r.data;
  const buf = Buffer.from(f.embeddings_f32, 'base64');
  const total = f.speakers.reduce((a, s) => a + s.voices + (s.extra_voices ?? 0), 0);
  if (buf.length !== total * f.dim * 4) {
    throw new ReferenceBankError(
      `${path}: embeddings_f32 has ${buf.length} bytes, expected ${total * f.dim * 4}`,
    );
  }
  // float32 little-endian: one copy into an aligned array on a little-endian host (x86-64, arm64), else per value
  const values = new Float32Array(total * f.dim);
  if (endianness() === 'LE') new Uint8Array(values.buffer).set(buf);
  else for (let i = 0; i < values.length; i++) values[i] = buf.readFloatLE(i * 4);
  let p = 0;
  const take = (count: number): Float32Array[] =>
    [...Array(count)].map(() => values.slice(p * f.dim, ++p * f.dim));
  const embeddings = f.speakers.map((s) => take(s.voices));
  const extra = f.speakers.map((s) => take(s.extra_voices ?? 0));
  return {
    modelSha256: f.model_sha256,
    voice: { chunkSeconds: f.voice.chunk_seconds, pad: f.voice.pad },
    group: f.group,
    speakers: f.speakers.map((s) => s.id),
    voicesPerSpeaker: f.voices_per_speaker,
    embeddings,
    extra,
    queries: 0,
    preprocessing: f.preprocessing ?? 'legacy',
    noSpeech: [],
  };
}

/**
 * Find an exported bank for a model beside the attack bundle or the model manifest, if any; checks that the
 * model sha256 and voice spec match. `stale` is true when the bank was made with another preprocessing label
 * (VAD / front-end settings or code revision) than `preprocessing`: its embeddings must not be used.
 * @throws ReferenceBankError for an unreadable file or one of another model or voice spec
 */
export async function findReferenceFile(
  modelSha256: string,
  voice: VoiceSpec,
  dirs: string[],
  preprocessing: string,
): Promise<{ path: string; ref: ReferenceEmbeddings; stale: boolean } | undefined> {
  for (const dir of dirs) {
    const path = resolve(dir, referencesFileName(modelSha256));
    if (!existsSync(path)) continue;
    const ref = await readReferenceFile(path);
    if (ref.modelSha256 !== modelSha256) {
      throw new ReferenceBankError(`${path}: built for model ${ref.modelSha256}, not ${modelSha256}`);
    }
    if (voiceSpecLabel(ref.voice) !== voiceSpecLabel(voice)) {
      throw new ReferenceBankError(
        `${path}: voice spec ${voiceSpecLabel(ref.voice)} does not match the attack's ${voiceSpecLabel(voice)}`,
      );
    }
    return { path, ref, stale: ref.preprocessing !== preprocessing };
  }
  return undefined;
}
