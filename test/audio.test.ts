import test from 'ava';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import wavefile from 'wavefile';
import {
  decodeAudioFile,
  decodePcmS16le,
  expandAudioPaths,
  loadClip,
  resample,
  splitVoiceChunks,
  trimSilence,
} from '../src/audio/index.js';
import { AudioError, type AudioErrorReason } from '../src/errors.js';
import { dataTest, utterancePath } from './helpers/data.js';

const dir = mkdtempSync(join(tmpdir(), 'slmia-audio-'));

/** Write a WAV with wavefile; `samples` are in the bit depth's own integer/float range. */
function writeWav(
  name: string,
  channels: number,
  rate: number,
  depth: string,
  samples: number[] | number[][],
): string {
  const wav = new wavefile.WaveFile();
  wav.fromScratch(channels, rate, depth, samples);
  const path = join(dir, name);
  writeFileSync(path, wav.toBuffer());
  return path;
}

const ramp = [0, 0.25, -0.5, 0.75, -1];
const cases: [string, number, (v: number) => number][] = [
  ['8', 8, (v) => Math.round(v * 127 + 128)],
  ['16', 16, (v) => Math.round(v * 32767)],
  ['24', 24, (v) => Math.round(v * 8388607)],
  ['32', 32, (v) => Math.round(v * 2147483647)],
  ['32f', 32, (v) => v],
];

for (const [depth, bits, encode] of cases) {
  test(`decodes ${depth}-bit WAV to float samples`, async (t) => {
    const path = writeWav(`ramp-${depth}.wav`, 1, 16000, depth, ramp.map(encode));
    const audio = await decodeAudioFile(path);
    t.is(audio.format, 'wav');
    t.is(audio.sampleRate, 16000);
    t.is(audio.channels, 1);
    t.is(audio.samples.length, ramp.length);
    const tol = depth === '32f' ? 0 : 2 / 2 ** (bits - 1);
    ramp.forEach((v, i) => t.true(Math.abs((audio.samples[i] as number) - v) <= tol + 1e-7, `sample ${i}`));
  });
}

test('64-bit float and WAVE_FORMAT_EXTENSIBLE (3-channel 24-bit) WAV decode', async (t) => {
  const f64 = await decodeAudioFile(writeWav('f64.wav', 1, 8000, '64', [0.5, -0.25]));
  t.deepEqual(Array.from(f64.samples), [0.5, -0.25]);
  const ext = await decodeAudioFile(
    writeWav('ext.wav', 3, 16000, '24', [
      [4194304, 0],
      [0, -4194304],
      [-4194304, 0],
    ]),
  );
  t.is(ext.channels, 3);
  t.true(
    Math.abs((ext.samples[0] as number) - 0) < 1e-7 && Math.abs((ext.samples[1] as number) + 1 / 6) < 1e-7,
  );
});

dataTest(
  'the reused FLAC decoder starts clean after a stream with a dropped 1-sample final frame',
  async (t) => {
    // 000010133 declares 28673 samples; its last frame holds one sample that the frame parser cannot frame
    // (decoded from the bytes after the last framed frame).
    const odd = await decodeAudioFile(utterancePath('SPEAKER0001', '000010133'));
    t.is(odd.samples.length, 28673);
    const before = await decodeAudioFile(utterancePath('SPEAKER0001', '000010035'));
    const again = await decodeAudioFile(utterancePath('SPEAKER0001', '000010035'));
    t.is(before.samples.length, 32000);
    t.deepEqual(again.samples, before.samples);
  },
);

dataTest('a FLAC file cut in half is reported as truncated', async (t) => {
  const bytes = readFileSync(utterancePath('SPEAKER0001', '000010035'));
  const half = join(dir, 'half.flac');
  writeFileSync(half, bytes.subarray(0, Math.floor(bytes.length / 2)));
  const err = await t.throwsAsync(decodeAudioFile(half), { instanceOf: AudioError });
  t.is(err?.reason, 'truncated');
  t.regex(err?.message ?? '', /declares 32000 samples/);
});

test('multi-channel WAV is mixed to the mono mean', async (t) => {
  const path = writeWav('stereo.wav', 2, 8000, '16', [
    [16384, -16384, 8192],
    [0, -16384, 8192],
  ]);
  const audio = await decodeAudioFile(path);
  t.is(audio.channels, 2);
  t.deepEqual(Array.from(audio.samples), [0.25, -0.5, 0.25]);
  t.is(audio.seconds, 3 / 8000);
});

dataTest('decodes FLAC from the shared corpus', async (t) => {
  const audio = await decodeAudioFile(utterancePath('SPEAKER0001', '000010168'));
  t.is(audio.format, 'flac');
  t.is(audio.sampleRate, 16000);
  t.is(audio.samples.length, 9350);
  t.true(audio.samples.every((v) => v >= -1 && v < 1));
});

test('raw s16le PCM (microphone stream) decodes and mixes channels', (t) => {
  const pcm = Buffer.alloc(8);
  pcm.writeInt16LE(16384, 0);
  pcm.writeInt16LE(-16384, 2);
  pcm.writeInt16LE(32767, 4);
  pcm.writeInt16LE(32767, 6);
  const mono = decodePcmS16le(pcm, 16000, 1, 'mic');
  t.deepEqual(Array.from(mono.samples).slice(0, 2), [0.5, -0.5]);
  const stereo = decodePcmS16le(pcm, 16000, 2, 'mic');
  t.is(stereo.samples.length, 2);
  t.is(stereo.samples[0], 0);
  const err = t.throws(() => decodePcmS16le(pcm.subarray(0, 3), 16000, 1, 'mic#1'), {
    instanceOf: AudioError,
  });
  t.is(err?.reason, 'truncated-header');
  t.regex(err?.message ?? '', /mic#1/);
});

function expectAudioError(t: import('ava').ExecutionContext, reason: AudioErrorReason, file: string) {
  return async (promise: Promise<unknown>) => {
    const err = await t.throwsAsync(promise, { instanceOf: AudioError });
    t.is(err?.reason, reason);
    t.true(err?.message.includes(file), `message names the file: ${err?.message}`);
  };
}

test('bad files get typed errors naming the file', async (t) => {
  const empty = join(dir, 'empty.wav');
  writeFileSync(empty, Buffer.alloc(0));
  await expectAudioError(t, 'empty', empty)(decodeAudioFile(empty));

  const good = writeWav('good.wav', 1, 16000, '16', [1, 2, 3, 4]);
  const truncated = join(dir, 'truncated.wav');
  const bytes = Buffer.from(await import('node:fs').then((fs) => fs.readFileSync(good)));
  writeFileSync(truncated, bytes.subarray(0, 30));
  await expectAudioError(t, 'truncated-header', truncated)(decodeAudioFile(truncated));

  const alaw = join(dir, 'alaw.wav');
  const a = Buffer.from(bytes);
  a.writeUInt16LE(6, 20); // format tag 6 = A-law
  writeFileSync(alaw, a);
  await expectAudioError(t, 'unsupported-encoding', alaw)(decodeAudioFile(alaw));

  const noChannels = join(dir, 'zero-channels.wav');
  const z = Buffer.from(bytes);
  z.writeUInt16LE(0, 22);
  writeFileSync(noChannels, z);
  await expectAudioError(t, 'zero-channels', noChannels)(decodeAudioFile(noChannels));

  const nan = writeWav('nan.wav', 1, 16000, '32f', [0.1, Number.NaN, 0.2, 0.3]);
  await expectAudioError(t, 'non-finite', nan)(decodeAudioFile(nan));

  const text = join(dir, 'notes.wav');
  writeFileSync(text, 'this is not audio at all');
  await expectAudioError(t, 'unsupported-encoding', text)(decodeAudioFile(text));

  const missing = join(dir, 'missing.wav');
  await expectAudioError(t, 'not-found', missing)(decodeAudioFile(missing));

  const corruptFlac = join(dir, 'corrupt.flac');
  writeFileSync(corruptFlac, Buffer.concat([Buffer.from('fLaC'), Buffer.alloc(200, 7)]));
  await expectAudioError(t, 'decode-failed', corruptFlac)(decodeAudioFile(corruptFlac));

  const cut = join(dir, 'data-cut.wav');
  const long = writeWav('long.wav', 1, 16000, '16', new Array(1000).fill(1000));
  writeFileSync(cut, (await import('node:fs')).readFileSync(long).subarray(0, 44 + 500));
  await expectAudioError(t, 'truncated', cut)(decodeAudioFile(cut));

  const inf = writeWav('inf.wav', 1, 16000, '32f', [0.1, Number.POSITIVE_INFINITY]);
  await expectAudioError(t, 'non-finite', inf)(decodeAudioFile(inf));

  const emptyDir = mkdtempSync(join(tmpdir(), 'slmia-empty-'));
  const dirErr = await t.throwsAsync(expandAudioPaths([emptyDir]), { instanceOf: AudioError });
  t.is(dirErr?.reason, 'not-found');

  const short = writeWav('short.wav', 1, 16000, '16', new Array(800).fill(1000));
  await expectAudioError(t, 'too-short', short)(loadClip(short, { sampleRate: 16000, minSeconds: 0.1 }));
});

/** Frequency from interpolated upward zero crossings, Hz. */
function toneFrequency(x: Float32Array, rate: number): number {
  const times: number[] = [];
  for (let i = 1; i < x.length; i++) {
    const a = x[i - 1] as number;
    const b = x[i] as number;
    if (a < 0 && b >= 0) times.push(i - 1 + a / (a - b));
  }
  return ((times.length - 1) / ((times[times.length - 1] as number) - (times[0] as number))) * rate;
}

const rms = (x: Float32Array): number => Math.sqrt(x.reduce((s, v) => s + v * v, 0) / x.length);

for (const rate of [8000, 22050, 44100]) {
  test(`resampling a 1 kHz tone from ${rate} Hz to 16 kHz keeps frequency and RMS`, async (t) => {
    const n = rate; // one second
    const tone = Float32Array.from({ length: n }, (_, i) => 0.5 * Math.sin((2 * Math.PI * 1000 * i) / rate));
    const out = await resample(tone, rate, 16000);
    t.true(Math.abs(out.length - 16000) <= 2, `length ${out.length}`);
    const mid = out.subarray(800, out.length - 800); // away from filter edges
    t.true(Math.abs(toneFrequency(mid, 16000) - 1000) < 1, `frequency ${toneFrequency(mid, 16000)}`);
    t.true(Math.abs(rms(mid) / rms(tone) - 1) < 0.01, `rms ratio ${rms(mid) / rms(tone)}`);
  });
}

test('resample rejects non-positive rates and passes equal rates through', async (t) => {
  const x = new Float32Array([0.1, 0.2]);
  t.is(await resample(x, 16000, 16000), x);
  await t.throwsAsync(resample(x, 0, 16000), { instanceOf: RangeError });
});

test('trimSilence cuts leading and trailing silence only', (t) => {
  const rate = 16000;
  const x = new Float32Array(rate); // 1 s: 0.3 s silence, 0.4 s tone, 0.3 s silence
  for (let i = 4800; i < 11200; i++) x[i] = 0.3 * Math.sin((2 * Math.PI * 440 * i) / rate);
  const y = trimSilence(x, rate, { marginSeconds: 0 });
  const start = y.byteOffset / 4;
  const end = start + y.length;
  // The whole tone is kept; at most one 25 ms analysis frame (400 samples) of silence on each side.
  t.true(start <= 4800 && start >= 4400, `start ${start}`);
  t.true(end >= 11200 && end <= 11600, `end ${end}`);
  t.is(trimSilence(new Float32Array(1000), rate).length, 1000);
});

test('voice chunk splitting follows the documented rules', (t) => {
  const rate = 100;
  const clip = (n: number) => Float32Array.from({ length: n }, (_, i) => i);
  const starts = (chunks: Float32Array[]) => chunks.map((c) => [c[0], c.length]);
  // 2.6 s with 1 s chunks: two whole chunks, 0.6 s remainder ≥ half a chunk → full-length chunk ending at the end.
  t.deepEqual(starts(splitVoiceChunks(clip(260), rate, 1.0)), [
    [0, 100],
    [100, 100],
    [160, 100],
  ]);
  // 2.4 s: the 0.4 s remainder is shorter than half a chunk → dropped.
  t.deepEqual(starts(splitVoiceChunks(clip(240), rate, 1.0)), [
    [0, 100],
    [100, 100],
  ]);
  // A clip no longer than one chunk yields itself.
  t.deepEqual(starts(splitVoiceChunks(clip(80), rate, 1.0)), [[0, 80]]);
  t.deepEqual(starts(splitVoiceChunks(clip(100), rate, 1.0)), [[0, 100]]);
  // Hop shorter than the chunk: overlapping chunks.
  t.deepEqual(starts(splitVoiceChunks(clip(200), rate, 1.0, 0.5)), [
    [0, 100],
    [50, 100],
    [100, 100],
  ]);
  t.throws(() => splitVoiceChunks(clip(10), rate, 0), { instanceOf: RangeError });
});
