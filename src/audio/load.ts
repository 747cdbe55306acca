/**
 * One call from a file path (or decoded stream) to model-ready mono samples: decode, resample, the speech-activity
 * stage (src/audio/vad.ts), check the speech left.
 */
import { AudioError } from '../errors.js';
import { decodeAudioFile, type DecodedAudio } from './decode.js';
import { resample } from './resample.js';
import { trimSilence, type TrimOptions } from './trim.js';
import {
  detectSpeech,
  detectSpeechAndGate,
  VAD_DEFAULTS,
  VAD_GATED,
  type SpeechActivity,
  type VadOptions,
} from './vad.js';

/** Options of {@link prepareAudio} / {@link loadClip}. */
export interface PrepareOptions {
  /** Target sample rate, Hz (the model's). */
  sampleRate: number;
  /** Energy-based trim of leading/trailing silence before the VAD (microphone input); `true`: defaults. */
  trim?: boolean | TrimOptions;
  /** Speech-activity stage (default {@link VAD_DEFAULTS}); `false` switches it off (tests, golden checks). */
  vad?: VadOptions | false;
  /**
   * The model's shortest input, seconds: a clip shorter than this is `too-short`; a longer one with less
   * speech than this (VAD on) is `no-speech`.
   */
  minSeconds?: number;
}

/** A clip ready for a front-end: `samples` is `[numSamples] float32` at `sampleRate` Hz. */
export interface Clip {
  source: string;
  samples: Float32Array;
  sampleRate: number;
  /** Duration kept (after resampling, trimming and the VAD), seconds. */
  seconds: number;
  /** Seconds the VAD called speech (equal to `seconds` with the VAD off). */
  speechSeconds: number;
  /**
   * Seconds the stage would keep with the energy gate ({@link VAD_GATED}) — steady background noise, hum or
   * dither around the speech that the VAD kept is cut there; absent with the VAD off or a non-default stage.
   */
  gatedSeconds?: number;
}

/**
 * Resample decoded audio to the model rate, run the speech-activity stage and check what is left.
 * @throws AudioError `too-short` (clip shorter than `minSeconds`), `no-speech` (less speech than `minSeconds`,
 *   or none at all: silence, digital zeros)
 */
export async function prepareAudio(audio: DecodedAudio, options: PrepareOptions): Promise<Clip> {
  let samples = await resample(audio.samples, audio.sampleRate, options.sampleRate);
  if (options.trim) {
    samples = trimSilence(samples, options.sampleRate, options.trim === true ? {} : options.trim);
  }
  const rawSeconds = samples.length / options.sampleRate;
  const min = options.minSeconds ?? 0;
  if (rawSeconds < min) {
    throw new AudioError(
      audio.source,
      'too-short',
      `${rawSeconds.toFixed(3)} s of audio${options.trim ? ' after trimming' : ''}; the model needs at least ${min} s`,
    );
  }
  if (options.vad === false) {
    return {
      source: audio.source,
      samples,
      sampleRate: options.sampleRate,
      seconds: rawSeconds,
      speechSeconds: rawSeconds,
    };
  }
  // The default stage also measures what it would keep with the energy gate (VAD_GATED), in the same pass.
  const speech: SpeechActivity & { gatedKeptSeconds?: number } =
    options.vad === undefined
      ? await detectSpeechAndGate(samples, options.sampleRate, VAD_DEFAULTS, VAD_GATED)
      : await detectSpeech(samples, options.sampleRate, options.vad);
  if (speech.speechSeconds === 0 || speech.speechSeconds < min) {
    throw new AudioError(
      audio.source,
      'no-speech',
      `${speech.speechSeconds.toFixed(2)} s of speech in ${rawSeconds.toFixed(2)} s of audio (voice activity detection); the model needs at least ${min} s of speech`,
    );
  }
  return {
    source: audio.source,
    samples: speech.samples,
    sampleRate: options.sampleRate,
    seconds: speech.keptSeconds,
    speechSeconds: speech.speechSeconds,
    ...(speech.gatedKeptSeconds !== undefined ? { gatedSeconds: speech.gatedKeptSeconds } : {}),
  };
}

/**
 * Decode a WAV/FLAC file and prepare it (see {@link prepareAudio}).
 * @throws AudioError from decoding, `too-short` or `no-speech`
 */
export async function loadClip(path: string, options: PrepareOptions): Promise<Clip> {
  return prepareAudio(await decodeAudioFile(path), options);
}
