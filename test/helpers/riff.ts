/**
 * Builders of WAVE files chunk by chunk (RIFF with pad bytes after odd-sized chunks, plain or EXTENSIBLE `fmt `),
 * for tests and the fuzz harness: the layouts recorders and editors write, made on purpose.
 */

/** One chunk: four-character id and body (a pad byte is added after an odd body). */
export interface Chunk {
  id: string;
  body: Uint8Array;
}

/** Encodings a `fmt ` chunk can declare here. */
export type Encoding = 'pcm8' | 'pcm16' | 'pcm24' | 'pcm32' | 'float32' | 'float64';

const BITS: Record<Encoding, number> = { pcm8: 8, pcm16: 16, pcm24: 24, pcm32: 32, float32: 32, float64: 64 };
const SUBFORMAT_TAIL = [0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xaa, 0x00, 0x38, 0x9b, 0x71];

/** A `fmt ` chunk: 16-byte WAVEFORMAT (PCM) / 18-byte WAVEFORMATEX (float) or 40-byte EXTENSIBLE. */
export function fmtChunk(enc: Encoding, channels: number, rate: number, extensible: boolean): Chunk {
  const bits = BITS[enc];
  const tag = enc.startsWith('float') ? 3 : 1;
  const body = new Uint8Array(extensible ? 40 : tag === 3 ? 18 : 16);
  const v = new DataView(body.buffer);
  v.setUint16(0, extensible ? 0xfffe : tag, true);
  v.setUint16(2, channels, true);
  v.setUint32(4, rate, true);
  v.setUint32(8, rate * channels * (bits / 8), true);
  v.setUint16(12, channels * (bits / 8), true);
  v.setUint16(14, bits, true);
  if (body.length >= 18) v.setUint16(16, extensible ? 22 : 0, true);
  if (extensible) {
    v.setUint16(18, bits, true); // valid bits
    v.setUint32(20, channels === 1 ? 0x4 : 0x3, true); // channel mask
    v.setUint16(24, tag, true);
    body.set(SUBFORMAT_TAIL, 26);
  }
  return { id: 'fmt ', body };
}

/** Encode mono float samples in [-1, 1) (repeated over `channels`) as a `data` chunk. */
export function dataChunk(samples: Float32Array, enc: Encoding, channels = 1): Chunk {
  const bps = BITS[enc] / 8;
  const body = new Uint8Array(samples.length * channels * bps);
  const v = new DataView(body.buffer);
  let p = 0;
  for (const x of samples) {
    for (let c = 0; c < channels; c++, p += bps) {
      if (enc === 'pcm8') v.setUint8(p, Math.max(0, Math.min(255, Math.round(x * 128) + 128)));
      else if (enc === 'pcm16') v.setInt16(p, Math.max(-32768, Math.min(32767, Math.round(x * 32768))), true);
      else if (enc === 'pcm24') {
        const q = Math.max(-8388608, Math.min(8388607, Math.round(x * 8388608)));
        v.setUint8(p, q & 0xff);
        v.setUint8(p + 1, (q >> 8) & 0xff);
        v.setInt8(p + 2, q >> 16);
      } else if (enc === 'pcm32')
        v.setInt32(p, Math.max(-2147483648, Math.min(2147483647, Math.round(x * 2147483648))), true);
      else if (enc === 'float32') v.setFloat32(p, x, true);
      else v.setFloat64(p, x, true);
    }
  }
  return { id: 'data', body };
}

/** A chunk of `size` filler bytes (LIST, JUNK, bext, cue …; contents do not matter to a reader). */
export function fillerChunk(id: string, size: number, fill = 0x41): Chunk {
  return { id, body: new Uint8Array(size).fill(fill) };
}

/** RIFF/WAVE file from chunks, each followed by a pad byte when odd-sized (RIFF spec). */
export function riffWave(chunks: Chunk[]): Uint8Array {
  const total = 12 + chunks.reduce((n, c) => n + 8 + c.body.length + (c.body.length & 1), 0);
  const out = new Uint8Array(total);
  const v = new DataView(out.buffer);
  out.set(Buffer.from('RIFF'), 0);
  v.setUint32(4, total - 8, true);
  out.set(Buffer.from('WAVE'), 8);
  let p = 12;
  for (const c of chunks) {
    out.set(Buffer.from(c.id.padEnd(4).slice(0, 4), 'latin1'), p);
    v.setUint32(p + 4, c.body.length, true);
    out.set(c.body, p + 8);
    p += 8 + c.body.length + (c.body.length & 1);
  }
  return out;
}
