/**
 * WAVE decoding by the book (Microsoft "Multimedia Programming Interface and Data Specifications 1.0", RIFF;
 * WAVEFORMATEXTENSIBLE, mmreg.h / ksmedia.h): chunks are walked in any order, every chunk body is followed by
 * a pad byte when its size is odd, unknown chunks (LIST/INFO, LIST/adtl, cue, JUNK, bext, fact, iXML, PAD …) are
 * skipped, WAVE_FORMAT_EXTENSIBLE is read by its sub-format GUID (PCM or IEEE float). Big-endian RIFX and RF64
 * (64-bit sizes in a `ds64` chunk) are read too.
 *
 * Hand-written rather than @echogarden/wave-codec (0.4.0) or wavefile (11): wave-codec skips odd-sized chunks
 * without their pad byte (so every chunk after one is misread) and rejects files with bytes after the RIFF
 * body; wavefile reads EXTENSIBLE float as integers (issue 10, c03) and throws TypeErrors on LIST chunks before
 * `data` (c01). The parser is ~150 lines, fuzzed (test/fuzz-audio.test.ts, bench/fuzz-audio.ts).
 */
import { AudioError } from '../errors.js';
import { int16leToFloat } from './pcm.js';

/** What the `fmt ` and `data` chunks say, and where the samples are. */
export interface WavLayout {
  /** 1 integer PCM, 3 IEEE float (after resolving EXTENSIBLE). */
  encoding: 'pcm' | 'float';
  channels: number;
  sampleRate: number;
  /** Container bits per sample (8, 16, 24, 32, 64). */
  bits: number;
  littleEndian: boolean;
  /** Byte offset and length (whole frames) of the sample data in the file. */
  dataOffset: number;
  dataBytes: number;
}

const FORMAT_PCM = 0x0001;
const FORMAT_FLOAT = 0x0003;
const FORMAT_EXTENSIBLE = 0xfffe;
/** Bytes 2..15 of every KSDATAFORMAT_SUBTYPE_* GUID derived from a format tag (…-0000-0010-8000-00AA00389B71). */
const GUID_TAIL = [0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xaa, 0x00, 0x38, 0x9b, 0x71];
/** Highest sample rate accepted (a header beyond it is corrupt, not audio). */
const MAX_RATE = 1_536_000;

const ascii = (b: Uint8Array, at: number): string =>
  String.fromCharCode(b[at] as number, b[at + 1] as number, b[at + 2] as number, b[at + 3] as number);

/**
 * Walk a RIFF/RIFX/RF64 WAVE file's chunks and validate its format.
 * @param bytes the whole file
 * @param source file name for errors
 * @throws AudioError `truncated-header` (header or a chunk before the samples cut short, no `fmt `/`data`),
 *   `truncated` (the data chunk declares more bytes than the file holds), `unsupported-encoding`,
 *   `zero-channels`, `empty` (a data chunk with no whole frame)
 */
export function parseWav(bytes: Uint8Array, source: string): WavLayout {
  if (bytes.length < 12)
    throw new AudioError(source, 'truncated-header', `${bytes.length} bytes, a RIFF header needs 12`);
  const magic = ascii(bytes, 0);
  if (ascii(bytes, 8) !== 'WAVE') {
    throw new AudioError(source, 'unsupported-encoding', `${magic} file whose form type is not "WAVE"`);
  }
  const le = magic !== 'RIFX';
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let fmt: { tag: number; channels: number; rate: number; blockAlign: number; bits: number } | undefined;
  let data: { offset: number; size: number } | undefined;
  let ds64DataSize: number | undefined;
  let off = 12;
  while (off + 8 <= bytes.length && !(fmt && data)) {
    const id = ascii(bytes, off);
    let size = view.getUint32(off + 4, le);
    const body = off + 8;
    if (id === 'data') {
      if (magic === 'RF64' && size === 0xffffffff && ds64DataSize !== undefined) size = ds64DataSize;
      // 0xFFFFFFFF: written by streaming encoders (ffmpeg, sox to a pipe) that never learnt the length.
      if (size === 0xffffffff) size = bytes.length - body;
      data = { offset: body, size };
    } else if (body + size > bytes.length) {
      if (fmt && data) break; // a cut chunk after the audio does not matter
      throw new AudioError(
        source,
        'truncated-header',
        `the chunk at byte ${off} declares ${size} bytes but only ${bytes.length - body} remain`,
      );
    } else if (id === 'fmt ') {
      if (size < 16)
        throw new AudioError(source, 'truncated-header', `"fmt " chunk of ${size} bytes, needs at least 16`);
      let tag = view.getUint16(body, le);
      if (tag === FORMAT_EXTENSIBLE) {
        if (size < 40) {
          throw new AudioError(
            source,
            'truncated-header',
            `WAVE_FORMAT_EXTENSIBLE "fmt " chunk of ${size} bytes, needs 40 (with the sub-format GUID)`,
          );
        }
        const guid = body + 24;
        if (!GUID_TAIL.every((v, i) => bytes[guid + 2 + i] === v)) {
          throw new AudioError(
            source,
            'unsupported-encoding',
            'WAVE_FORMAT_EXTENSIBLE with a sub-format GUID that is neither PCM nor IEEE float',
          );
        }
        tag = view.getUint16(guid, true); // GUID Data1 is little-endian
      }
      fmt = {
        tag,
        channels: view.getUint16(body + 2, le),
        rate: view.getUint32(body + 4, le),
        blockAlign: view.getUint16(body + 12, le),
        bits: view.getUint16(body + 14, le),
      };
    } else if (id === 'ds64' && size >= 16) {
      ds64DataSize = view.getUint32(body + 8, true) + view.getUint32(body + 12, true) * 2 ** 32;
    }
    off = body + size + (size & 1);
  }
  if (!fmt) throw new AudioError(source, 'truncated-header', 'no "fmt " chunk (not a complete WAVE header)');
  if (!data) throw new AudioError(source, 'truncated-header', 'no "data" chunk (no audio in the file)');
  const { tag, channels, rate, bits, blockAlign } = fmt;
  if (channels === 0) throw new AudioError(source, 'zero-channels', 'WAV header declares 0 channels');
  const okPcm = tag === FORMAT_PCM && [8, 16, 24, 32].includes(bits);
  const okFloat = tag === FORMAT_FLOAT && (bits === 32 || bits === 64);
  if (!okPcm && !okFloat) {
    throw new AudioError(
      source,
      'unsupported-encoding',
      `WAV format ${tag} with ${bits} bits per sample; expected PCM (1) 8/16/24/32-bit or IEEE float (3) 32/64-bit`,
    );
  }
  if (!(rate > 0 && rate <= MAX_RATE))
    throw new AudioError(
      source,
      'unsupported-encoding',
      `WAV sample rate ${rate} Hz (expected 1 … ${MAX_RATE})`,
    );
  const frame = channels * (bits / 8);
  if (blockAlign !== frame) {
    throw new AudioError(
      source,
      'unsupported-encoding',
      `WAV block align ${blockAlign} bytes, expected ${frame} for ${channels} channel(s) of ${bits} bits`,
    );
  }
  const available = bytes.length - data.offset;
  if (data.size > available) {
    throw new AudioError(
      source,
      'truncated',
      `WAV data chunk declares ${data.size} bytes but only ${available} are present`,
    );
  }
  const dataBytes = data.size - (data.size % frame);
  if (dataBytes === 0) throw new AudioError(source, 'empty', 'no audio samples (0 frames)');
  return {
    encoding: okPcm ? 'pcm' : 'float',
    channels,
    sampleRate: rate,
    bits,
    littleEndian: le,
    dataOffset: data.offset,
    dataBytes,
  };
}

/**
 * Decode a parsed WAVE file's samples to mono float32 (mean of the channels; integers scaled by 2^(bits−1),
 * 8-bit offset by 128).
 * @returns `[frames] float32`
 */
export function wavSamples(bytes: Uint8Array, w: WavLayout): Float32Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset + w.dataOffset, w.dataBytes);
  const bps = w.bits / 8;
  const ch = w.channels;
  const n = w.dataBytes / (bps * ch);
  const le = w.littleEndian;
  // Fast path (the common recorder format): 16-bit little-endian mono through pcm.wasm.
  if (ch === 1 && w.bits === 16 && le && w.encoding === 'pcm')
    return int16leToFloat(bytes.subarray(w.dataOffset, w.dataOffset + 2 * n), n);
  const out = new Float32Array(n);
  const read = reader(w);
  if (ch === 1) {
    for (let i = 0; i < n; i++) out[i] = read(view, i * bps, le);
    return out;
  }
  const inv = 1 / ch;
  for (let i = 0, p = 0; i < n; i++) {
    let acc = 0;
    for (let c = 0; c < ch; c++, p += bps) acc += read(view, p, le);
    out[i] = acc * inv;
  }
  return out;
}

type Read = (v: DataView, at: number, le: boolean) => number;

/** Sample reader for a layout, returning floats in [-1, 1) for integers. */
function reader(w: WavLayout): Read {
  if (w.encoding === 'float')
    return w.bits === 32 ? (v, p, le) => v.getFloat32(p, le) : (v, p, le) => v.getFloat64(p, le);
  switch (w.bits) {
    case 8:
      return (v, p) => (v.getUint8(p) - 128) / 128;
    case 16:
      return (v, p, le) => v.getInt16(p, le) / 32768;
    case 24:
      return (v, p, le) =>
        (le
          ? (v.getInt8(p + 2) << 16) | (v.getUint8(p + 1) << 8) | v.getUint8(p)
          : (v.getInt8(p) << 16) | (v.getUint8(p + 1) << 8) | v.getUint8(p + 2)) / 8388608;
    default:
      return (v, p, le) => v.getInt32(p, le) / 2147483648;
  }
}
