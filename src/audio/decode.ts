/**
 * Audio decoding: WAV (PCM 8/16/24/32-bit int, 32/64-bit float, any channel count) via `wavefile`,
 * FLAC via `@wasm-audio-decoders/flac`, and raw s16le PCM (what node-record-lpcm16 streams).
 * Every decoder returns mono float samples in [-1, 1) (multi-channel input is averaged) and rejects bad
 * input with an {@link AudioError} that names the file and the problem.
 */
import { readFile } from 'node:fs/promises';
import { FLACDecoder } from '@wasm-audio-decoders/flac';
import CodecParser, { type CodecFrame } from 'codec-parser';
import wavefile from 'wavefile';
import { AudioError } from '../errors.js';

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
 *   header declares) | `unsupported-encoding` | `zero-channels` | `non-finite` | `decode-failed`
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
  if (bytes.length < 12)
    throw new AudioError(source, 'truncated-header', `only ${bytes.length} bytes, no audio header`);
  throw new AudioError(
    source,
    'unsupported-encoding',
    'unknown container (neither WAV nor FLAC); expected WAV ("RIFF") or FLAC ("fLaC")',
  );
}

const WAV_FORMAT_PCM = 1;
const WAV_FORMAT_FLOAT = 3;
const WAV_FORMAT_EXTENSIBLE = 0xfffe;

function decodeWav(bytes: Uint8Array, source: string): DecodedAudio {
  if (bytes.length < 44) {
    throw new AudioError(
      source,
      'truncated-header',
      `WAV header needs at least 44 bytes, file has ${bytes.length}`,
    );
  }
  const wav = new wavefile.WaveFile();
  try {
    wav.fromBuffer(bytes);
  } catch (err) {
    throw new AudioError(source, 'truncated-header', `WAV header unreadable (${(err as Error).message})`, {
      cause: err,
    });
  }
  const fmt = wav.fmt as {
    audioFormat: number;
    numChannels: number;
    sampleRate: number;
    bitsPerSample: number;
    subformat?: number[];
  };
  let audioFormat = fmt.audioFormat;
  if (audioFormat === WAV_FORMAT_EXTENSIBLE && fmt.subformat && fmt.subformat.length > 0) {
    audioFormat = fmt.subformat[0] ?? audioFormat;
  }
  if (fmt.numChannels === 0) throw new AudioError(source, 'zero-channels', 'WAV header declares 0 channels');
  const bits = fmt.bitsPerSample;
  const okPcm = audioFormat === WAV_FORMAT_PCM && [8, 16, 24, 32].includes(bits);
  const okFloat = audioFormat === WAV_FORMAT_FLOAT && (bits === 32 || bits === 64);
  if (!okPcm && !okFloat) {
    throw new AudioError(
      source,
      'unsupported-encoding',
      `WAV format tag ${audioFormat} with ${bits} bits per sample; expected PCM (1) 8/16/24/32-bit or float (3) 32/64-bit`,
    );
  }
  checkSampleRate(source, fmt.sampleRate);
  const data = wav.data as { chunkSize: number; samples: Uint8Array };
  if (data.samples.length < data.chunkSize) {
    throw new AudioError(
      source,
      'truncated',
      `WAV data chunk declares ${data.chunkSize} bytes but only ${data.samples.length} are present`,
    );
  }
  let raw: Float64Array | Float64Array[];
  try {
    raw = wav.getSamples(false, Float64Array) as unknown as Float64Array | Float64Array[];
  } catch (err) {
    throw new AudioError(source, 'decode-failed', `WAV samples unreadable (${(err as Error).message})`, {
      cause: err,
    });
  }
  const channels = fmt.numChannels === 1 ? [raw as Float64Array] : (raw as Float64Array[]);
  // Integer PCM: WAV 8-bit is unsigned (offset 128); wider words are signed two's complement.
  const offset = okPcm && bits === 8 ? 128 : 0;
  const scale = okPcm ? 2 ** (bits - 1) : 1;
  const samples = mixToMono(channels, (v) => (v - offset) / scale);
  return finish(source, samples, fmt.sampleRate, fmt.numChannels, 'wav');
}

/**
 * One FLAC decoder (wasm instance) reused across files. `FLACDecoder.decodeFile` re-instantiates the wasm
 * module after every file (≈ 2–5 ms and garbage-collector pressure, more than decoding a 2 s clip), so files
 * are split into frames with codec-parser (the parser the decoder uses itself) and fed to `decodeFrames`, which
 * keeps the instance. FLAC frames are independent, so the output is the same as `decodeFile`'s (checked on
 * 500 speechocean762 files). Calls are serialized through `flacQueue`.
 */
let flacDecoder: FLACDecoder | undefined;
let flacQueue: Promise<unknown> = Promise.resolve();

async function decodeFlac(bytes: Uint8Array, source: string): Promise<DecodedAudio> {
  if (bytes.length < 42) {
    throw new AudioError(
      source,
      'truncated-header',
      `FLAC STREAMINFO needs 42 bytes, file has ${bytes.length}`,
    );
  }
  const job = flacQueue.then(() => decodeFlacNow(bytes, source));
  flacQueue = job.catch(() => undefined);
  return job;
}

async function decodeFlacNow(bytes: Uint8Array, source: string): Promise<DecodedAudio> {
  if (!flacDecoder) {
    flacDecoder = new FLACDecoder();
    await flacDecoder.ready;
  }
  const decoder = flacDecoder;
  let stale = false;
  try {
    const parser = new CodecParser<CodecFrame>('audio/flac', {
      enableFrameCRC32: false,
      enableLogging: false,
    });
    const parsed = parser.parseAll(bytes);
    const out = await decoder.decodeFrames(parsed.map((f) => f.data));
    const expected = parsed.reduce((n, f) => n + f.samples, 0);
    const { totalSamples: declared, maxBlockSize } = flacStreamInfo(bytes);
    if (out.samplesDecoded !== expected || (declared > 0 && out.samplesDecoded !== declared)) {
      // An odd stream (e.g. a final frame the parser could not frame) can leave samples buffered inside the
      // decoder; start the next file on a fresh instance.
      stale = true;
    }
    if (out.channelData.length === 0 || out.samplesDecoded === 0) {
      const why = out.errors.map((e) => e.message).join('; ');
      throw new AudioError(source, 'decode-failed', `FLAC decoded no samples${why ? ` (${why})` : ''}`);
    }
    if (out.errors.length > 0) {
      throw new AudioError(
        source,
        'decode-failed',
        `FLAC frame errors: ${out.errors[0]?.message ?? 'unknown'}`,
      );
    }
    // A shortfall of less than one block is tolerated: the frame parser drops a final frame of very few
    // samples (seen on 1 of 1500 speechocean762 files: 1 sample), while a cut file loses at least one block.
    if (declared > 0 && declared - out.samplesDecoded >= Math.max(1, maxBlockSize)) {
      throw new AudioError(
        source,
        'truncated',
        `FLAC STREAMINFO declares ${declared} samples but only ${out.samplesDecoded} could be decoded`,
      );
    }
    const samples = mixToMono(out.channelData, (v) => v);
    return finish(source, samples, out.sampleRate, out.channelData.length, 'flac');
  } catch (err) {
    stale = true; // a decoder that failed mid-stream is not reused
    if (err instanceof AudioError) throw err;
    throw new AudioError(source, 'decode-failed', `FLAC undecodable (${(err as Error).message})`, {
      cause: err,
    });
  } finally {
    if (stale) {
      decoder.free();
      flacDecoder = undefined;
    }
  }
}

/**
 * Total samples per channel (36 bits after sample rate, channels and bits per sample) and maximum block size
 * declared in a FLAC STREAMINFO block (FLAC format spec, METADATA_BLOCK_STREAMINFO). 0 means unknown.
 */
function flacStreamInfo(bytes: Uint8Array): { totalSamples: number; maxBlockSize: number } {
  if (bytes.length < 26 || ((bytes[4] as number) & 0x7f) !== 0) return { totalSamples: 0, maxBlockSize: 0 };
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return {
    totalSamples: ((bytes[21] as number) & 0x0f) * 2 ** 32 + view.getUint32(22, false),
    maxBlockSize: view.getUint16(10, false),
  };
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
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = bytes.length / frameBytes;
  const samples = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let acc = 0;
    for (let c = 0; c < channels; c++) acc += view.getInt16((i * channels + c) * 2, true);
    samples[i] = acc / channels / 32768;
  }
  return finish(source, samples, sampleRate, channels, 's16le');
}

function mixToMono(channels: ArrayLike<number>[], map: (v: number) => number): Float32Array {
  const first = channels[0];
  if (!first) return new Float32Array(0);
  const n = first.length;
  const out = new Float32Array(n);
  const k = channels.length;
  for (let i = 0; i < n; i++) {
    let acc = 0;
    for (let c = 0; c < k; c++) acc += map((channels[c] as ArrayLike<number>)[i] as number);
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

function finish(
  source: string,
  samples: Float32Array,
  sampleRate: number,
  channels: number,
  format: DecodedAudio['format'],
): DecodedAudio {
  checkSampleRate(source, sampleRate);
  if (samples.length === 0) throw new AudioError(source, 'empty', 'no audio samples (0 frames)');
  for (let i = 0; i < samples.length; i++) {
    if (!Number.isFinite(samples[i])) {
      throw new AudioError(
        source,
        'non-finite',
        `sample ${i} is ${samples[i]} (NaN/Inf samples are not audio)`,
      );
    }
  }
  return { source, samples, sampleRate, channels, seconds: samples.length / sampleRate, format };
}
