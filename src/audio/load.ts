/**
 * One call from a file path (or decoded stream) to model-ready mono samples: decode, resample, trim, check length.
 */
import { AudioError } from '../errors.js';
import { decodeAudioFile, type DecodedAudio } from './decode.js';
import { resample } from './resample.js';
import { trimSilence, type TrimOptions } from './trim.js';

/** Options of {@link prepareAudio} / {@link loadClip}. */
export interface PrepareOptions {
  /** Target sample rate, Hz (the model's). */
  sampleRate: number;
  /** Trim leading/trailing silence (energy based); `true` uses the defaults of {@link trimSilence}. */
  trim?: boolean | TrimOptions;
  /** Reject clips shorter than this after trimming, seconds. */
  minSeconds?: number;
}

/** A clip ready for a front-end: `samples` is `[numSamples] float32` at `sampleRate` Hz. */
export interface Clip {
  source: string;
  samples: Float32Array;
  sampleRate: number;
  /** Duration after resampling and trimming, seconds. */
  seconds: number;
}

/**
 * Resample and optionally trim decoded audio, then check its length.
 * @throws AudioError `too-short` when shorter than `minSeconds`
 */
export async function prepareAudio(audio: DecodedAudio, options: PrepareOptions): Promise<Clip> {
  let samples = await resample(audio.samples, audio.sampleRate, options.sampleRate);
  if (options.trim) {
    samples = trimSilence(samples, options.sampleRate, options.trim === true ? {} : options.trim);
  }
  const seconds = samples.length / options.sampleRate;
  if (options.minSeconds !== undefined && seconds < options.minSeconds) {
    throw new AudioError(
      audio.source,
      'too-short',
      `${seconds.toFixed(3)} s of audio${options.trim ? ' after trimming' : ''}; the model needs at least ${options.minSeconds} s`,
    );
  }
  return { source: audio.source, samples, sampleRate: options.sampleRate, seconds };
}

/**
 * Decode a WAV/FLAC file and prepare it (see {@link prepareAudio}).
 * @throws AudioError from decoding or `too-short`
 */
export async function loadClip(path: string, options: PrepareOptions): Promise<Clip> {
  return prepareAudio(await decodeAudioFile(path), options);
}
