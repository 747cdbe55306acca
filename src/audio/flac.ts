/**
 * FLAC decoding to the sample count in STREAMINFO (FLAC format specification, RFC 9639): metadata blocks are
 * walked by their headers, frames are split with codec-parser and decoded by libFLAC (@wasm-audio-decoders/flac,
 * one instance reused across files). codec-parser cannot frame the last frame when anything follows it (an ID3v1
 * or APE tag, garbage), so the bytes after the last framed frame are handed to libFLAC as one more frame: it
 * decodes the frame and ignores what follows. The result is cut to STREAMINFO's total; fewer samples than it
 * declares is `audio.truncated`.
 */
import { FLACDecoder } from '@wasm-audio-decoders/flac';
import CodecParser, { type CodecFrame } from 'codec-parser';
import { AudioError } from '../errors.js';
import { scaleInPlace } from './pcm.js';

/** STREAMINFO fields used here (RFC 9639 §8.2). */
export interface FlacStreamInfo {
  sampleRate: number;
  channels: number;
  bitsPerSample: number;
  /** Samples per channel; 0 = unknown (a stream written without seeking back). */
  totalSamples: number;
  /** Byte offset of the first audio frame (after the last metadata block). */
  audioOffset: number;
}

/**
 * Read the `fLaC` marker and walk the metadata blocks.
 * @throws AudioError `truncated-header` when STREAMINFO or a metadata block is cut; `decode-failed` when the
 *   first block is not a valid STREAMINFO
 */
export function flacStreamInfo(bytes: Uint8Array, source: string): FlacStreamInfo {
  if (bytes.length < 42)
    throw new AudioError(
      source,
      'truncated-header',
      `FLAC STREAMINFO needs 42 bytes, file has ${bytes.length}`,
    );
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (((bytes[4] as number) & 0x7f) !== 0 || view.getUint32(4) % 0x1000000 !== 34)
    throw new AudioError(source, 'decode-failed', 'FLAC file does not start with a 34-byte STREAMINFO block');
  const rate = view.getUint32(18) >>> 12;
  const channels = ((bytes[20] as number) >> 1) & 0x07;
  const bits = ((((bytes[20] as number) & 0x01) << 4) | ((bytes[21] as number) >> 4)) + 1;
  const totalSamples = ((bytes[21] as number) & 0x0f) * 2 ** 32 + view.getUint32(22);
  if (rate === 0) throw new AudioError(source, 'decode-failed', 'FLAC STREAMINFO sample rate 0');
  let off = 4;
  for (;;) {
    if (off + 4 > bytes.length)
      throw new AudioError(source, 'truncated-header', `FLAC metadata block header cut at byte ${off}`);
    const last = ((bytes[off] as number) & 0x80) !== 0;
    const len = view.getUint32(off) % 0x1000000;
    off += 4 + len;
    if (off > bytes.length) {
      throw new AudioError(
        source,
        'truncated-header',
        `FLAC metadata block declares ${len} bytes past the end`,
      );
    }
    if (last) break;
  }
  return { sampleRate: rate, channels: channels + 1, bitsPerSample: bits, totalSamples, audioOffset: off };
}

let decoder: FLACDecoder | undefined;
/** Most frame-sync candidates tried when splitting the last chunk (bounds the work on hostile input). */
const MAX_SPLIT_TRIES = 8;
let queue: Promise<unknown> = Promise.resolve();

/**
 * Decode a FLAC file to per-channel float samples, exactly STREAMINFO's total per channel when it is known.
 * Calls are serialised through one reused wasm instance (re-instantiating costs more than decoding a 2 s clip).
 * @returns `[channels][samples] float32`, the sample rate, and the largest |sample| (NaN if a sample is NaN)
 * @throws AudioError `truncated` (fewer samples than STREAMINFO declares), `decode-failed` (no frame decodes,
 *   frame errors before the end), or STREAMINFO errors of {@link flacStreamInfo}
 */
export function decodeFlacChannels(
  bytes: Uint8Array,
  source: string,
): Promise<{ channels: Float32Array[]; sampleRate: number; maxAbs: number }> {
  const info = flacStreamInfo(bytes, source);
  const job = queue.then(() => decodeNow(bytes, source, info));
  queue = job.catch(() => undefined);
  return job;
}

async function decodeNow(
  bytes: Uint8Array,
  source: string,
  info: FlacStreamInfo,
): Promise<{ channels: Float32Array[]; sampleRate: number; maxAbs: number }> {
  if (!decoder) {
    decoder = new FLACDecoder();
    await decoder.ready;
  }
  let d = decoder;
  let stale = false;
  try {
    const audio = bytes.subarray(info.audioOffset);
    const parser = new CodecParser<CodecFrame>('audio/flac', {
      enableFrameCRC32: false,
      enableLogging: false,
    });
    // codec-parser wants the stream from "fLaC"; frames come back in order with their bytes.
    const frames = parser.parseAll(bytes).map((f) => f.data);
    let framed = 0;
    for (const f of frames) framed += f.length;
    const rest = audio.subarray(Math.min(framed, audio.length));
    if (rest.length > 0) frames.push(rest); // the last frame plus whatever follows it
    let out = await quietly(() => d.decodeFrames(frames));
    const want0 = info.totalSamples;
    if (want0 > 0 && out.samplesDecoded < want0 && out.errors.length === 0 && frames.length > 0) {
      // libFLAC decodes one frame per chunk: a chunk that holds two frames (codec-parser's last frame running to
      // the end of the file over a final short frame) loses the second, without any error (a cut or corrupt
      // file reports one and is not retried). Split the last chunk at its frame-sync
      // codes (RFC 9639 §9.1: 0xFFF8 / 0xFFF9) and keep the first split that decodes to STREAMINFO's count.
      const last = frames[frames.length - 1] as Uint8Array;
      let tries = 0;
      for (let p = 2; p + 1 < last.length && tries < MAX_SPLIT_TRIES; p++) {
        if (last[p] !== 0xff || ((last[p + 1] as number) & 0xfe) !== 0xf8) continue;
        tries++;
        d.free();
        const retry = new FLACDecoder();
        d = decoder = retry;
        await retry.ready;
        const again = await quietly(() =>
          retry.decodeFrames([...frames.slice(0, -1), last.subarray(0, p), last.subarray(p)]),
        );
        if (again.samplesDecoded >= want0) {
          out = again;
          break;
        }
      }
    }
    const got = out.samplesDecoded;
    const want = info.totalSamples;
    if (out.errors.length > 0 || (want > 0 && got !== want)) stale = true; // start the next file clean
    if (got === 0 || out.channelData.length === 0) {
      const why = out.errors[0]?.message;
      throw new AudioError(source, 'decode-failed', `FLAC decoded no samples${why ? ` (${why})` : ''}`);
    }
    if (want > 0 && got < want) {
      throw new AudioError(
        source,
        'truncated',
        `FLAC STREAMINFO declares ${want} samples but only ${got} could be decoded (file cut short or corrupt${out.errors[0] ? `: ${out.errors[0].message.replace(/\s+/g, ' ')}` : ''})`,
      );
    }
    // Errors while decoding the trailing bytes (a tag after the last frame) are expected; errors that cost
    // samples are not.
    if (want === 0 && out.errors.length > 0 && rest.length === 0) {
      throw new AudioError(
        source,
        'decode-failed',
        `FLAC frame errors: ${out.errors[0]?.message ?? 'unknown'}`,
      );
    }
    if (out.sampleRate && out.sampleRate !== info.sampleRate) {
      throw new AudioError(
        source,
        'decode-failed',
        `FLAC frames at ${out.sampleRate} Hz but STREAMINFO says ${info.sampleRate} Hz`,
      );
    }
    const n = want > 0 ? want : got;
    // The wasm decoder divides by 2^(bits-1) - 1; WAV, torchaudio and libsndfile divide by 2^(bits-1)
    // (full-scale negative = -1.0). Rescale so a FLAC and its WAV give identical samples.
    const bits = info.bitsPerSample;
    const toTwoPower = (2 ** (bits - 1) - 1) / 2 ** (bits - 1);
    let maxAbs = 0;
    const channels = out.channelData.map((c) => {
      const x = c.subarray(0, n);
      const m = scaleInPlace(x, toTwoPower); // x[i] *= toTwoPower, in pcm.wasm
      maxAbs = m > maxAbs || Number.isNaN(m) ? m : maxAbs;
      return x;
    });
    return { channels, sampleRate: out.sampleRate || info.sampleRate, maxAbs };
  } catch (err) {
    stale = true;
    if (err instanceof AudioError) throw err;
    throw new AudioError(source, 'decode-failed', 'FLAC stream undecodable (corrupt frame data)', {
      cause: err,
    });
  } finally {
    if (stale) {
      d.free();
      decoder = undefined;
    }
  }
}

/** Run `f` with console.error muted: libFLAC's wrapper prints every stream error (expected for trailing tags). */
async function quietly<T>(f: () => Promise<T>): Promise<T> {
  const saved = console.error;
  console.error = () => {};
  try {
    return await f();
  } finally {
    console.error = saved;
  }
}
