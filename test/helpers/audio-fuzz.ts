/**
 * Fuzz inputs over WAV and FLAC bytes (test/fuzz-audio.test.ts runs a CI-sized smoke, bench/fuzz-audio.ts the
 * large run): well-formed files of random layout (chunk order, odd-sized chunks, encodings, channels) that must
 * decode to exactly their samples, and mutated files (truncations, byte flips, overwritten size fields, inserted
 * and appended bytes, random bytes behind a valid magic) that must decode to sane samples or fail with a typed
 * `audio.*` error naming the file.
 */
import fc from 'fast-check';
import { decodeAudioBuffer, MAX_ABS_SAMPLE } from '../../src/audio/index.js';
import { AudioError } from '../../src/errors.js';
import { dataChunk, fillerChunk, fmtChunk, riffWave, type Chunk, type Encoding } from './riff.js';

const ENCODINGS: Encoding[] = ['pcm8', 'pcm16', 'pcm24', 'pcm32', 'float32', 'float64'];
const TOLERANCE: Record<Encoding, number> = {
  pcm8: 1 / 128,
  pcm16: 1 / 32768,
  pcm24: 1e-6,
  pcm32: 1e-7,
  float32: 1e-7,
  float64: 0,
};

/** A well-formed WAV and the samples it must decode to. */
export interface ValidWav {
  bytes: Uint8Array;
  samples: Float32Array;
  encoding: Encoding;
}

const fillerIds = fc.constantFrom(
  'LIST',
  'JUNK',
  'cue ',
  'bext',
  'fact',
  'iXML',
  'smpl',
  'PAD ',
  'id3 ',
  'afsp',
);

/** Well-formed WAV files of random layout. */
export const validWav: fc.Arbitrary<ValidWav> = fc
  .record({
    encoding: fc.constantFrom(...ENCODINGS),
    extensible: fc.boolean(),
    channels: fc.integer({ min: 1, max: 3 }),
    rate: fc.constantFrom(8000, 16000, 22050, 44100, 48000),
    samples: fc.array(fc.float({ min: -1, max: Math.fround(0.99), noNaN: true }), {
      minLength: 1,
      maxLength: 300,
    }),
    before: fc.array(fc.tuple(fillerIds, fc.nat({ max: 41 })), { maxLength: 3 }),
    between: fc.array(fc.tuple(fillerIds, fc.nat({ max: 41 })), { maxLength: 2 }),
    after: fc.array(fc.tuple(fillerIds, fc.nat({ max: 41 })), { maxLength: 3 }),
    fmtLast: fc.boolean(),
  })
  .map((r) => {
    const x = Float32Array.from(r.samples);
    const fmt = fmtChunk(r.encoding, r.channels, r.rate, r.extensible);
    const data = dataChunk(x, r.encoding, r.channels);
    const fill = (list: [string, number][]): Chunk[] => list.map(([id, n]) => fillerChunk(id, n, n & 0xff));
    const core = r.fmtLast ? [...fill(r.between), data, fmt] : [fmt, ...fill(r.between), data];
    return {
      bytes: riffWave([...fill(r.before), ...core, ...fill(r.after)]),
      samples: x,
      encoding: r.encoding,
    };
  });

/** Check a decode of a well-formed file: the right samples. */
export async function checkValidWav(w: ValidWav): Promise<string | undefined> {
  const a = await decodeAudioBuffer(w.bytes, 'valid.wav');
  if (a.samples.length !== w.samples.length)
    return `${a.samples.length} samples, expected ${w.samples.length}`;
  const tol = TOLERANCE[w.encoding] + 1e-7;
  for (let i = 0; i < a.samples.length; i++) {
    if (!(Math.abs((a.samples[i] as number) - (w.samples[i] as number)) <= tol))
      return `sample ${i}: ${a.samples[i]} vs ${w.samples[i]} (${w.encoding})`;
  }
  return undefined;
}

/** One mutation of a byte string. */
type Mutation =
  | { kind: 'truncate'; at: number }
  | { kind: 'flip'; at: number; value: number }
  | { kind: 'u32'; at: number; value: number }
  | { kind: 'insert'; at: number; bytes: Uint8Array }
  | { kind: 'append'; bytes: Uint8Array };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({
    kind: fc.constant('u32' as const),
    at: fc.nat(),
    value: fc.oneof(fc.constantFrom(0, 1, 0x7fffffff, 0xffffffff, 0xfffffffe), fc.nat()),
  }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ maxLength: 64 }) }),
  fc.record({ kind: fc.constant('append' as const), bytes: fc.uint8Array({ maxLength: 300 }) }),
);

function mutate(input: Uint8Array, ms: Mutation[]): Uint8Array {
  let b = Uint8Array.from(input);
  for (const m of ms) {
    const at = b.length ? ('at' in m ? m.at % (b.length + 1) : 0) : 0;
    if (m.kind === 'truncate') b = b.subarray(0, at);
    else if (m.kind === 'flip' && at < b.length) b[at] = m.value;
    else if (m.kind === 'u32' && at + 4 <= b.length)
      new DataView(b.buffer, b.byteOffset).setUint32(at, m.value, true);
    else if (m.kind === 'insert') b = Uint8Array.from([...b.subarray(0, at), ...m.bytes, ...b.subarray(at)]);
    else if (m.kind === 'append') b = Uint8Array.from([...b, ...m.bytes]);
  }
  return b;
}

/**
 * Mutated files: a valid WAV, one of the `seeds` (real FLAC/WAV files), or random bytes behind a magic, then 1–4
 * mutations.
 */
export function mutatedAudio(seeds: Uint8Array[]): fc.Arbitrary<Uint8Array> {
  const magic = fc
    .constantFrom('RIFF', 'RIFX', 'RF64', 'fLaC', 'ID3\u0004', 'OggS')
    .chain((m) =>
      fc
        .uint8Array({ maxLength: 200 })
        .map((tail) => Uint8Array.from([...Buffer.from(m, 'latin1'), ...tail])),
    );
  const base = seeds.length
    ? fc.oneof(
        validWav.map((w) => w.bytes),
        fc.constantFrom(...seeds),
        magic,
      )
    : fc.oneof(
        validWav.map((w) => w.bytes),
        magic,
      );
  return fc.tuple(base, fc.array(mutation, { minLength: 1, maxLength: 4 })).map(([b, ms]) => mutate(b, ms));
}

/**
 * Decode mutated bytes: a result must be sane (samples finite, within ±MAX_ABS_SAMPLE, positive rate); a typed
 * error must name the file and carry no internal exception text.
 */
export async function checkMutated(bytes: Uint8Array): Promise<string | undefined> {
  const source = 'fuzz.bin';
  try {
    const a = await decodeAudioBuffer(bytes, source);
    if (!(a.sampleRate > 0) || a.samples.length === 0)
      return `decoded ${a.samples.length} samples at ${a.sampleRate} Hz`;
    for (const v of a.samples) if (!(Math.abs(v) <= MAX_ABS_SAMPLE)) return `sample ${v} passed the checks`;
    return undefined;
  } catch (err) {
    if (err instanceof AudioError) {
      if (!err.message.startsWith(`${source}: `))
        throw new Error(`error does not name the file: ${err.message}`);
      if (
        /TypeError|RangeError|ReferenceError|Cannot read|is not a function|undefined|NaN bytes/.test(
          err.message,
        )
      )
        throw new Error(`internal exception text in a typed error: ${err.message}`);
    }
    throw err;
  }
}
