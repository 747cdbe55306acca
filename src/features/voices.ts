/**
 * From clips to the voices the attack sees: voice chunk splitting (SLMIA-SR enhancement 2) plus optional
 * wrap padding of short clips to the chunk length, so that every voice of an audit has the same length and
 * all of them batch into ceil(voices / max_batch) model queries (the adapter never pads).
 */
import { splitVoiceChunks } from '../audio/index.js';

/** How clips become voices. Part of the attack bundle and of the embedding-cache key. */
export interface VoiceSpec {
  /** Voice chunk length, seconds; undefined = no chunk splitting (one voice per clip). */
  chunkSeconds?: number;
  /**
   * `wrap`: a clip shorter than `chunkSeconds` is repeated (numpy 'wrap' padding, as in voxceleb_trainer) up
   * to exactly `chunkSeconds`; `none`: it stays as is.
   */
  pad?: 'none' | 'wrap';
}

/** Stable text form of a spec, used in the embedding-cache key: `none`, `chunk=2.000`, `chunk=2.000,pad=wrap`. */
export function voiceSpecLabel(spec: VoiceSpec): string {
  if (spec.chunkSeconds === undefined) return 'none';
  const base = `chunk=${spec.chunkSeconds.toFixed(3)}`;
  return spec.pad === 'wrap' ? `${base},pad=wrap` : base;
}

/** Repeat `samples` cyclically up to `length` samples. */
export function wrapPad(samples: Float32Array, length: number): Float32Array {
  if (samples.length >= length || samples.length === 0) return samples;
  const out = new Float32Array(length);
  for (let o = 0; o < length; o += samples.length)
    out.set(samples.subarray(0, Math.min(samples.length, length - o)), o);
  return out;
}

/**
 * Cut one clip into voices per the spec.
 * @param samples `[numSamples] float32` at `sampleRate` Hz
 * @returns one or more `[samples] float32` voices (views or padded copies)
 */
export function clipToVoices(samples: Float32Array, sampleRate: number, spec: VoiceSpec): Float32Array[] {
  if (spec.chunkSeconds === undefined) return [samples];
  const chunks = splitVoiceChunks(samples, sampleRate, spec.chunkSeconds);
  if (spec.pad !== 'wrap') return chunks;
  const len = Math.round(spec.chunkSeconds * sampleRate);
  return chunks.map((c) => wrapPad(c, len));
}

/**
 * Seconds of actual audio in each voice of a clip (before wrap padding), in {@link clipToVoices} order.
 * @param samples `[numSamples] float32` at `sampleRate` Hz
 */
export function voiceSeconds(samples: Float32Array, sampleRate: number, spec: VoiceSpec): number[] {
  return clipToVoices(samples, sampleRate, { chunkSeconds: spec.chunkSeconds, pad: 'none' }).map(
    (v) => v.length / sampleRate,
  );
}

/** Median of values (mean of the middle two for an even count); NaN for none. */
export function median(values: ArrayLike<number>): number {
  const s = Array.from(values).sort((a, b) => a - b);
  if (!s.length) return NaN;
  const h = Math.floor(s.length / 2);
  return s.length % 2 ? s[h] : (s[h - 1] + s[h]) / 2;
}
