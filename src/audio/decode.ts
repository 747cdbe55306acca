/**
 * Audio decoding: WAV (RIFF/RIFX/RF64; PCM 8/16/24/32-bit int, 32/64-bit float, plain or EXTENSIBLE, any channel
 * count; src/audio/wav.ts), FLAC to its STREAMINFO length (src/audio/flac.ts), and raw s16le PCM (what
 * node-record-lpcm16 streams). Every decoder returns mono float samples (multi-channel input is averaged),
 * checked before anything else sees them: finite, and within ±{@link MAX_ABS_SAMPLE} (a float file far outside
 * ±1 is a wrong decode or a broken writer, never audio to judge a speaker by). Bad input is an
 * {@link AudioError} naming the file and the problem, never an internal exception text.
 */
import { readFile } from 'node:fs/promises';
import { AudioError } from '../errors.js';
import { decodeFlacChannels } from './flac.js';
import { int16leToFloat } from './pcm.js';
import { parseWav, wavSamples } from './wav.js';

/** Largest |sample| accepted after decoding (+12 dB over full scale: float headroom, not a mis-scaled decode). */
export const MAX_ABS_SAMPLE = 4;

/** Decoded mono audio. `samples`: `[numSamples] float32` in [-1, 1); `sampleRate` in Hz. */
export interface DecodedAudio {
  /** Path or stream label the audio came from. */
  source: string;
  samples: Float32Array;
  sampleRate: number;
  /** Channel count of the original before down-mixing. */
  channels: number;
  /** Duration in seconds. */
  seconds: number;
  format: 'wav' | 'flac' | 's16le';
}

/**
 * Read and decode an audio file (WAV or FLAC, detected by magic bytes, not extension).
 * @param path file path
 * @returns mono samples at the file's own rate
 * @throws AudioError reason `not-found` | `empty` | `truncated-header` | `truncated` (fewer samples than the
 *   header declares) | `unsupported-encoding` | `zero-channels` | `non-finite` | `out-of-range` | `decode-failed`
 */
export async function decodeAudioFile(path: string): Promise<DecodedAudio> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (err) {
    throw new AudioError(path, 'not-found', `cannot read file (${(err as Error).message})`, { cause: err });
  }
  return decodeAudioBuffer(bytes, path);
}

/**
 * Decode an in-memory WAV or FLAC file.
 * @param bytes the whole file
 * @param source label used in errors (usually the path)
 * @throws AudioError as {@link decodeAudioFile}
 */
export async function decodeAudioBuffer(bytes: Uint8Array, source: string): Promise<DecodedAudio> {
  if (bytes.length === 0) throw new AudioError(source, 'empty', 'file is empty (0 bytes)');
  const magic = Buffer.from(bytes.subarray(0, 4)).toString('latin1');
  if (magic === 'RIFF' || magic === 'RIFX' || magic === 'RF64') return decodeWav(bytes, source);
  if (magic === 'fLaC') return decodeFlac(bytes, source);
  if (magic.startsWith('ID3') && bytes.length >= 10) {
    // An ID3v2 tag in front of a FLAC stream (some taggers write one): skip it (ID3v2.4 §3.1, syncsafe size).
    const size =
      (((bytes[6] as number) & 0x7f) << 21) |
      (((bytes[7] as number) & 0x7f) << 14) |
      (((bytes[8] as number) & 0x7f) << 7) |
      ((bytes[9] as number) & 0x7f);
    const skip = 10 + size + (((bytes[5] as number) & 0x10) !== 0 ? 10 : 0);
    const rest = bytes.subarray(Math.min(skip, bytes.length));
    if (rest.length >= 4 && Buffer.from(rest.subarray(0, 4)).toString('latin1') === 'fLaC')
      return decodeFlac(rest, source);
  }
  if (bytes.length < 12)
    throw new AudioError(source, 'truncated-header', `only ${bytes.length} bytes, no audio header`);
  throw new AudioError(
    source,
    'unsupported-encoding',
    'unknown container (neither WAV nor FLAC); expected WAV ("RIFF") or FLAC ("fLaC")',
  );
}

function decodeWav(bytes: Uint8Array, source: string): DecodedAudio {
  const layout = parseWav(bytes, source);
  // Integer PCM scaled by 2^(bits-1) lies in [-1, 1] by construction: only float data needs the sample check.
  const check = layout.encoding === 'float';
  return finish(source, wavSamples(bytes, layout), layout.sampleRate, layout.channels, 'wav', check);
}

async function decodeFlac(bytes: Uint8Array, source: string): Promise<DecodedAudio> {
  const { channels, sampleRate, maxAbs } = await decodeFlacChannels(bytes, source);
  // The per-sample check runs only when the rescaling pass saw a sample outside ±MAX_ABS_SAMPLE or a NaN (the
  // mean of channels within the limit stays within it).
  const check = !(maxAbs <= MAX_ABS_SAMPLE);
  return finish(source, mixToMono(channels), sampleRate, channels.length, 'flac', check);
}

/**
 * Decode raw signed 16-bit little-endian PCM, interleaved when `channels` > 1 (node-record-lpcm16's output).
 * @param bytes `[numSamples * channels * 2]` bytes; a trailing odd byte is an error
 * @param sampleRate Hz
 * @param channels interleaved channel count (≥ 1)
 * @param source label for errors, e.g. `microphone#3`
 * @throws AudioError `empty` | `zero-channels` | `truncated-header` (byte count not a whole frame)
 */
export function decodePcmS16le(
  bytes: Uint8Array,
  sampleRate: number,
  channels: number,
  source: string,
): DecodedAudio {
  if (channels < 1) throw new AudioError(source, 'zero-channels', `s16le stream with ${channels} channels`);
  if (bytes.length === 0) throw new AudioError(source, 'empty', 'no PCM bytes received');
  const frameBytes = 2 * channels;
  if (bytes.length % frameBytes !== 0) {
    throw new AudioError(
      source,
      'truncated-header',
      `${bytes.length} bytes is not a whole number of ${frameBytes}-byte frames`,
    );
  }
  const n = bytes.length / frameBytes;
  if (channels === 1) return finish(source, int16leToFloat(bytes, n), sampleRate, 1, 's16le', false);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const samples = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let acc = 0;
    for (let c = 0; c < channels; c++) acc += view.getInt16((i * channels + c) * 2, true);
    samples[i] = acc / channels / 32768;
  }
  return finish(source, samples, sampleRate, channels, 's16le', false); // 16-bit integers / 32768
}

function mixToMono(channels: Float32Array[]): Float32Array {
  const first = channels[0];
  if (!first) return new Float32Array(0);
  if (channels.length === 1) return first;
  const n = first.length;
  const out = new Float32Array(n);
  const k = channels.length;
  for (let i = 0; i < n; i++) {
    let acc = 0;
    for (let c = 0; c < k; c++) acc += (channels[c] as Float32Array)[i] as number;
    out[i] = acc / k;
  }
  return out;
}

/** Sample rates decoded, Hz: below 1 kHz is no speech recording, above 768 kHz no recorder writes. */
export const SAMPLE_RATE_RANGE = [1000, 768_000] as const;

/** @throws AudioError `unsupported-encoding` for a sample rate outside {@link SAMPLE_RATE_RANGE} */
function checkSampleRate(source: string, rate: number): void {
  const [lo, hi] = SAMPLE_RATE_RANGE;
  if (!(Number.isInteger(rate) && rate >= lo && rate <= hi))
    throw new AudioError(source, 'unsupported-encoding', `sample rate ${rate} Hz outside ${lo}-${hi} Hz`);
}

/**
 * Common checks of every decoder's output. `checkSamples` false skips the per-sample check where the decoder
 * produced the samples from integers scaled into [-1, 1] (integer PCM), which cannot fail it.
 */
function finish(
  source: string,
  samples: Float32Array,
  sampleRate: number,
  channels: number,
  format: DecodedAudio['format'],
  checkSamples = true,
): DecodedAudio {
  checkSampleRate(source, sampleRate);
  if (samples.length === 0) throw new AudioError(source, 'empty', 'no audio samples (0 frames)');
  for (let i = 0; checkSamples && i < samples.length; i++) {
    const v = samples[i] as number;
    if (v >= -MAX_ABS_SAMPLE && v <= MAX_ABS_SAMPLE) continue; // also false for NaN
    if (!Number.isFinite(v))
      throw new AudioError(source, 'non-finite', `sample ${i} is ${v} (NaN/Inf samples are not audio)`);
    throw new AudioError(
      source,
      'out-of-range',
      `sample ${i} is ${v}, far outside the ±1 full scale (limit ±${MAX_ABS_SAMPLE}): wrong encoding or a broken writer`,
    );
  }
  return { source, samples, sampleRate, channels, seconds: samples.length / sampleRate, format };
}
