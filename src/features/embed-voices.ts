/**
 * Clips → voices → embeddings in as few model queries as possible, with an optional embedding cache keyed
 * by (model sha256, audio sha256, voice spec, preprocessing label).
 */
import { readFile } from 'node:fs/promises';
import { AudioError } from '../errors.js';
import { decodeAudioBuffer, prepareAudio, type Clip } from '../audio/index.js';
import { preprocessingLabel, sha256Hex, type SpeakerModel } from '../model/index.js';
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
 * Split prepared clips into voices (see {@link clipToVoices}) and embed all of them in one batched call.
 * @throws ModelError when the model call fails
 */
export async function embedClipVoices(
  model: SpeakerModel,
  clips: Clip[],
  spec: VoiceSpec,
): Promise<VoiceEmbeddings> {
  const rate = model.manifest.sample_rate;
  const pieces: Float32Array[] = [];
  const labels: string[] = [];
  const owner: number[] = [];
  clips.forEach((clip, i) => {
    clipToVoices(clip.samples, rate, spec).forEach((v, j) => {
      pieces.push(v);
      labels.push(`${clip.source}#${j}`);
      owner.push(i);
    });
  });
  const perClip: Float32Array[][] = clips.map(() => []);
  if (pieces.length === 0) return { perClip, queries: 0, timings: { frontendMs: 0, inferenceMs: 0 } };
  const r = await model.embed(pieces, labels);
  r.embeddings.forEach((e, k) => perClip[owner[k]].push(e));
  return { perClip, queries: r.queries, timings: r.timings };
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
