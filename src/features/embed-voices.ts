/**
 * Clips → voices → embeddings in as few model queries as possible, with an optional embedding cache keyed
 * by (model sha256, audio sha256, voice spec, preprocessing label).
 */
import { readFile } from 'node:fs/promises';
import { AudioError } from '../errors.js';
import { decodeAudioBuffer, prepareAudio, type Clip } from '../audio/index.js';
import { FrontendCache, preprocessingLabel, sha256Hex, type SpeakerModel } from '../model/index.js';
import type { EmbeddingCache } from './embedding-cache.js';
import { clipToVoices, voiceSpecLabel, type VoiceSpec } from './voices.js';

/** Result of {@link embedClipVoices}. */
export interface VoiceEmbeddings {
  /** `[clips][voices of that clip][D] float32`, in input order. */
  perClip: Float32Array[][];
  /** Model queries made. */
  queries: number;
  timings: { frontendMs: number; inferenceMs: number };
}

/**
 * What the models of one audit share when they embed the same clips (the target and its reference models): the
 * voices cut from each clip, and the model inputs, computed once for models with identical front-ends.
 */
export class SharedVoiceInputs {
  private readonly voices = new WeakMap<Clip, Map<string, Float32Array[]>>();
  readonly frontend = new FrontendCache();

  /** The voices of `clip` at `rate` per `spec`, cut once per (rate, spec). */
  voicesOf(clip: Clip, rate: number, spec: VoiceSpec): Float32Array[] {
    const key = `${rate}|${voiceSpecLabel(spec)}`;
    let m = this.voices.get(clip);
    if (!m) this.voices.set(clip, (m = new Map()));
    let v = m.get(key);
    if (!v) m.set(key, (v = clipToVoices(clip.samples, rate, spec)));
    return v;
  }
}

/**
 * Split prepared clips into voices (see {@link clipToVoices}) and embed all of them in one batched call.
 * @param shared pass the same object for every model of one audit: voices are cut once and models with the
 *   same front-end, window and layout reuse the features (decode and VAD happen before, once per clip)
 * @throws ModelError when the model call fails
 */
export async function embedClipVoices(
  model: SpeakerModel,
  clips: Clip[],
  spec: VoiceSpec,
  shared?: SharedVoiceInputs,
): Promise<VoiceEmbeddings> {
  const rate = model.manifest.sample_rate;
  const pieces: Float32Array[] = [];
  const labels: string[] = [];
  const owner: number[] = [];
  clips.forEach((clip, i) => {
    (shared ? shared.voicesOf(clip, rate, spec) : clipToVoices(clip.samples, rate, spec)).forEach((v, j) => {
      pieces.push(v);
      labels.push(`${clip.source}#${j}`);
      owner.push(i);
    });
  });
  const perClip: Float32Array[][] = clips.map(() => []);
  if (pieces.length === 0) return { perClip, queries: 0, timings: { frontendMs: 0, inferenceMs: 0 } };
  const r = await model.embed(pieces, labels, { frontendCache: shared?.frontend });
  r.embeddings.forEach((e, k) => perClip[owner[k]].push(e));
  return { perClip, queries: r.queries, timings: r.timings };
}

/** Options of {@link VoiceStream}. */
export interface VoiceStreamOptions {
  /**
   * No query before this many voices were added (so an audit with too few voices costs no query). A full
   * batch always holds `max_batch` voices, so only the memory cap below waits for it. Default 0.
   */
  minVoices?: number;
  /**
   * Samples held waiting for a batch, at most, before everything held is embedded anyway (voices of many
   * different lengths never fill a batch). Default `max_batch` × 8 s of audio (32 MB of float32 at 16 kHz).
   */
  maxHeldSamples?: number;
  /**
   * Shared with the streams of the audit's other models (target and reference models, fed the same clips):
   * voices are cut once, and a model whose front-end equals an earlier one's reuses its features.
   */
  shared?: SharedVoiceInputs;
}

/**
 * Clips → voices → embeddings as the clips arrive, holding only the voices still waiting for a batch, so an
 * audit of 2,000 files never holds 2,000 decoded clips. Voices are kept in arrival order; as soon as
 * `max_batch` voices of one length are waiting they are embedded together (one full query, or one per
 * window for a fixed-window model) and dropped; {@link VoiceStream.finish} embeds the rest in one
 * `model.embed` call. The queries are the ones {@link embedClipVoices} makes for all clips at once — the same
 * single call when the voices fit in one batch (≤ `max_batch` voices: 1 query), and ceil(voices / max_batch)
 * for equal-length voices — except when more than `maxHeldSamples` wait in lengths that never fill a batch.
 */
export class VoiceStream {
  private readonly perClip: Float32Array[][] = [];
  /** Voices waiting for a batch, in arrival order. */
  private waiting: { clip: number; index: number; samples: Float32Array; label: string }[] = [];
  private readonly waitingByLength = new Map<number, number>();
  private heldSamples = 0;
  private added = 0;
  private queries = 0;
  private readonly timings = { frontendMs: 0, inferenceMs: 0 };
  private readonly minVoices: number;
  private readonly maxHeldSamples: number;
  private readonly shared: SharedVoiceInputs | undefined;

  constructor(
    private readonly model: SpeakerModel,
    private readonly spec: VoiceSpec,
    o: VoiceStreamOptions = {},
  ) {
    const m = model.manifest;
    this.minVoices = o.minVoices ?? 0;
    this.maxHeldSamples = o.maxHeldSamples ?? m.max_batch * 8 * m.sample_rate;
    this.shared = o.shared;
  }

  /** Voices added so far (all clips). */
  get voices(): number {
    return this.added;
  }

  /**
   * Split one prepared clip into voices (see {@link clipToVoices}) and embed whatever batch it completes.
   * @param clip samples at `manifest.sample_rate` Hz; its buffer is dropped once its voices are embedded
   * @throws ModelError when a model call fails; AudioError `too-long` for a voice over `max_seconds`
   */
  async add(clip: Clip): Promise<void> {
    const c = this.perClip.length;
    const rate = this.model.manifest.sample_rate;
    const voices = this.shared
      ? this.shared.voicesOf(clip, rate, this.spec)
      : clipToVoices(clip.samples, rate, this.spec);
    this.perClip.push(new Array<Float32Array>(voices.length));
    for (const [index, samples] of voices.entries()) {
      this.waiting.push({ clip: c, index, samples, label: `${clip.source}#${index}` });
      this.waitingByLength.set(samples.length, (this.waitingByLength.get(samples.length) ?? 0) + 1);
      this.heldSamples += samples.length;
    }
    this.added += voices.length;
    const batch = this.model.manifest.max_batch;
    for (const [length, count] of this.waitingByLength)
      if (count >= batch) await this.embedWaiting((v) => v.samples.length === length, batch);
    if (this.heldSamples > this.maxHeldSamples && this.added >= this.minVoices)
      await this.embedWaiting(() => true, Infinity);
  }

  /**
   * Embed the voices still waiting and return every clip's voice embeddings.
   * @returns `perClip` `[clips][voices of that clip][D] float32` in input order, queries and stage times summed
   * @throws ModelError when a model call fails
   */
  async finish(): Promise<VoiceEmbeddings> {
    await this.embedWaiting(() => true, Infinity);
    return { perClip: this.perClip, queries: this.queries, timings: { ...this.timings } };
  }

  /** Embed (in one `model.embed` call) the first `max` waiting voices that match, in arrival order. */
  private async embedWaiting(
    match: (v: VoiceStream['waiting'][number]) => boolean,
    max: number,
  ): Promise<void> {
    const take: VoiceStream['waiting'] = [];
    const keep: VoiceStream['waiting'] = [];
    for (const v of this.waiting) (take.length < max && match(v) ? take : keep).push(v);
    if (take.length === 0) return;
    this.waiting = keep;
    for (const v of take) {
      const left = (this.waitingByLength.get(v.samples.length) ?? 0) - 1;
      if (left > 0) this.waitingByLength.set(v.samples.length, left);
      else this.waitingByLength.delete(v.samples.length);
      this.heldSamples -= v.samples.length;
    }
    const r = await this.model.embed(
      take.map((v) => v.samples),
      take.map((v) => v.label),
      { frontendCache: this.shared?.frontend },
    );
    this.queries += r.queries;
    this.timings.frontendMs += r.timings.frontendMs;
    this.timings.inferenceMs += r.timings.inferenceMs;
    take.forEach(
      (v, k) => ((this.perClip[v.clip] as Float32Array[])[v.index] = r.embeddings[k] as Float32Array),
    );
  }
}

/** Options of {@link embedFilesCached}. */
export interface CachedEmbedOptions {
  cache?: EmbeddingCache;
  /**
   * Clips decoded and embedded per block of work (default max_batch: one full query when a clip gives one voice).
   * Bounds memory: a block's decoded audio and features are held at once (500 clips of 2 s are 61 MB of samples).
   */
  blockSize?: number;
  /** Called after each block with (files done, files total). */
  onProgress?: (done: number, total: number) => void;
  /**
   * A file with less speech than the model's minimum (`audio.no-speech`): `skip` gives it no voices and lists
   * it in `noSpeech` (lab data: a dataset's odd clip must not stop a calibration); `error` throws (default skip).
   */
  noSpeech?: 'skip' | 'error';
}

/** Result of {@link embedFilesCached}. */
export interface CachedEmbedResult {
  /** `[files][voices][D] float32`, in input order. */
  perFile: Float32Array[][];
  /** Model queries made (0 when everything came from the cache). */
  queries: number;
  /** Files served from the cache. */
  cacheHits: number;
  /** Files skipped for too little speech (`noSpeech: 'skip'`): they have no voices in `perFile`. */
  noSpeech: string[];
}

/**
 * Embed audio files through the cache: files already cached for (model, audio bytes, voice spec, preprocessing)
 * cost no query; the rest are decoded, run through the speech-activity stage, split into voices and embedded in
 * batches.
 * @throws AudioError for an unreadable or too-short file (named), or `no-speech` with `noSpeech: 'error'`
 * @throws ModelError when the model call fails
 */
export async function embedFilesCached(
  model: SpeakerModel,
  paths: string[],
  spec: VoiceSpec,
  options: CachedEmbedOptions = {},
): Promise<CachedEmbedResult> {
  const m = model.manifest;
  const chunking = voiceSpecLabel(spec);
  const preprocessing = preprocessingLabel(m);
  const noSpeech: string[] = [];
  const perFile: Float32Array[][] = new Array(paths.length);
  const block = options.blockSize ?? m.max_batch;
  let queries = 0;
  let cacheHits = 0;
  let done = 0;
  for (let s = 0; s < paths.length; s += block) {
    const idx = [...Array(Math.min(block, paths.length - s)).keys()].map((k) => s + k);
    const pending: { i: number; sha: string; clip: Clip }[] = [];
    for (const i of idx) {
      const path = paths[i];
      let bytes: Buffer;
      try {
        bytes = await readFile(path);
      } catch (err) {
        throw new AudioError(path, 'not-found', `cannot read (${(err as Error).message})`, { cause: err });
      }
      const sha = sha256Hex(bytes);
      const key = { modelSha256: model.sha256, audioSha256: sha, chunking, preprocessing };
      const hit = await options.cache?.get(key);
      if (hit) {
        perFile[i] = hit;
        cacheHits++;
        if (hit.length === 0) noSpeech.push(path);
        continue;
      }
      const decoded = await decodeAudioBuffer(bytes, path);
      let clip: Clip;
      try {
        clip = await prepareAudio(decoded, { sampleRate: m.sample_rate, minSeconds: m.min_seconds });
      } catch (err) {
        if (!(err instanceof AudioError && err.reason === 'no-speech') || options.noSpeech === 'error')
          throw err;
        perFile[i] = [];
        noSpeech.push(path);
        await options.cache?.put(key, []);
        continue;
      }
      pending.push({ i, sha, clip });
    }
    if (pending.length > 0) {
      const r = await embedClipVoices(
        model,
        pending.map((p) => p.clip),
        spec,
      );
      queries += r.queries;
      for (const [k, p] of pending.entries()) {
        perFile[p.i] = r.perClip[k];
        await options.cache?.put(
          { modelSha256: model.sha256, audioSha256: p.sha, chunking, preprocessing },
          r.perClip[k],
        );
      }
    }
    done += idx.length;
    options.onProgress?.(done, paths.length);
  }
  return { perFile, queries, cacheHits, noSpeech };
}
