/**
 * The label of everything between an audio file's bytes and the model input that can change an embedding
 * besides the model itself: the speech-activity stage's settings, the manifest's resolved front-end section
 * (with the window and input layout of a fixed-window model) and sample rate, and a revision of the code that implements them. It is part of every embedding-cache key
 * and of exported reference banks, so embeddings made with other settings are never served.
 */
import { vadLabel, VAD_DEFAULTS, type VadOptions } from '../audio/index.js';
import type { ModelManifest } from './manifest.js';
import { sha256Hex } from './manifest.js';

/**
 * Bumped whenever decoding, the VAD or the front-end code changes its output for the same settings.
 * 2: VAD stage + front-end noise floor (issue 10). 3: RIFF chunk walking, EXTENSIBLE by GUID, FLAC decoded to
 * its STREAMINFO length. 4: PFFFT (float32 SIMD FFT) in the fbank.
 */
export const PREPROCESSING_REVISION = 4;

/**
 * E.g. `rev=4;vad=fvad:m2,margin=0.100,drop-ds;fe=3f2a…(12 hex);rate=16000`.
 * @param manifest the model's validated manifest (front-end defaults filled in)
 * @param vad the speech-activity settings used (`false`: stage off)
 */
export function preprocessingLabel(manifest: ModelManifest, vad: VadOptions | false = VAD_DEFAULTS): string {
  // A fixed window and the input layout change embeddings too; they join the hash only for windowed models,
  // so the labels (and exported reference banks) of whole-clip models stay as they were.
  const fe = sha256Hex(
    JSON.stringify(
      manifest.window
        ? { frontend: manifest.frontend, window: manifest.window, layout: manifest.input.layout }
        : manifest.frontend,
    ),
  ).slice(0, 12);
  return `rev=${PREPROCESSING_REVISION};vad=${vad ? vadLabel(vad) : 'off'};fe=${fe};rate=${manifest.sample_rate}`;
}
