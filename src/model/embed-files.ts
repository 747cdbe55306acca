/**
 * Files → clips → (optional voice chunk splitting) → one batched embed call. The shared path of
 * `slmia embed`, the reference bank, calibration and audits.
 */
import { expandAudioPaths, loadClip, splitVoiceChunks } from '../audio/index.js';
import type { SpeakerModel } from './speaker-model.js';

/** Options of {@link embedFiles}. */
export interface EmbedFilesOptions {
  /** Voice chunk splitting length, seconds (none when undefined). */
  chunkSeconds?: number;
  /** Trim leading/trailing silence before chunking. */
  trim?: boolean;
}

/** One input file's embeddings: one per chunk (one when not chunked). */
export interface EmbeddedClip {
  path: string;
  /** Duration kept after resampling, trimming and the speech-activity stage, seconds. */
  seconds: number;
  /** Seconds of speech the VAD found in it. */
  speechSeconds: number;
  /** `[chunks][embedding_dim] float32` */
  embeddings: Float32Array[];
}

/** Result of {@link embedFiles}: clips in input order, model queries made, stage timings (ms). */
export interface EmbedFilesResult {
  clips: EmbeddedClip[];
  queries: number;
  timings: { decodeMs: number; frontendMs: number; inferenceMs: number };
}

/**
 * Decode, resample to the model rate, optionally trim, run the speech-activity stage, chunk, then embed
 * everything in one batched call.
 * @param paths audio files or directories (expanded recursively to .wav/.flac)
 * @throws AudioError for an unreadable/bad file, one shorter than the model's `min_seconds` or with less speech
 * @throws ModelError when the model call fails
 */
export async function embedFiles(
  model: SpeakerModel,
  paths: string[],
  options: EmbedFilesOptions = {},
): Promise<EmbedFilesResult> {
  const m = model.manifest;
  const t0 = performance.now();
  const files = await expandAudioPaths(paths);
  const clips = [];
  for (const path of files) {
    clips.push(
      await loadClip(path, { sampleRate: m.sample_rate, trim: options.trim, minSeconds: m.min_seconds }),
    );
  }
  const pieces: Float32Array[] = [];
  const labels: string[] = [];
  const owner: number[] = [];
  clips.forEach((clip, i) => {
    const chunks = options.chunkSeconds
      ? splitVoiceChunks(clip.samples, m.sample_rate, options.chunkSeconds)
      : [clip.samples];
    for (const [j, c] of chunks.entries()) {
      pieces.push(c);
      labels.push(`${clip.source}#${j}`);
      owner.push(i);
    }
  });
  const decodeMs = performance.now() - t0;
  const result = await model.embed(pieces, labels);
  const out: EmbeddedClip[] = clips.map((c) => ({
    path: c.source,
    seconds: c.seconds,
    speechSeconds: c.speechSeconds,
    embeddings: [],
  }));
  result.embeddings.forEach((e, k) => (out[owner[k] as number] as EmbeddedClip).embeddings.push(e));
  return { clips: out, queries: result.queries, timings: { decodeMs, ...result.timings } };
}
