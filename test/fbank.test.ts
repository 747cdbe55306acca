import test from 'ava';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { decodeAudioFile } from '../src/audio/index.js';
import {
  fbankFrameCount,
  fbankReady,
  fbankRedoneFrames,
  kaldiFbank,
  setFbankFft,
} from '../src/frontend/index.js';
import { projectRoot } from '../src/paths.js';
import { goldenDir, hasGolden, speechocean } from './helpers/data.js';

interface GoldenClip {
  path: string;
  num_samples: number;
  num_frames: number;
  first_frames: number[][];
  mean_over_frames: number[];
  first_frames_after_cmn: number[][];
}

const ready = speechocean !== undefined && hasGolden('fbank80.json');
const golden = ready
  ? (JSON.parse(readFileSync(resolve(goldenDir, 'fbank80.json'), 'utf8')) as { clips: GoldenClip[] })
  : { clips: [] };

const TOL = 1e-3;

test.before(async () => fbankReady()); // the product's path (fbank.wasm + PFFFT); fft.js is compared below

function maxAbsDiff(data: Float32Array, bins: number, rows: number[][]): number {
  let worst = 0;
  rows.forEach((row, f) =>
    row.forEach((v, b) => (worst = Math.max(worst, Math.abs((data[f * bins + b] as number) - v)))),
  );
  return worst;
}

if (!ready)
  test.skip('fbank matches torchaudio golden values (needs speechocean762 and ../shared/golden)', () => {});

for (const clip of golden.clips) {
  test(`fbank matches torchaudio on ${clip.path}`, async (t) => {
    const audio = await decodeAudioFile(resolve(speechocean as string, clip.path));
    t.is(audio.samples.length, clip.num_samples);
    const fb = kaldiFbank(audio.samples);
    t.is(fb.frames, clip.num_frames);
    t.is(fbankFrameCount(clip.num_samples), clip.num_frames);
    t.is(fb.bins, 80);
    t.true(maxAbsDiff(fb.data, 80, clip.first_frames) < TOL);
    const mean = new Float64Array(80);
    for (let f = 0; f < fb.frames; f++)
      for (let b = 0; b < 80; b++) mean[b] += (fb.data[f * 80 + b] as number) / fb.frames;
    t.true(clip.mean_over_frames.every((v, b) => Math.abs((mean[b] as number) - v) < TOL));
    const cmn = kaldiFbank(audio.samples, { cmn: true });
    t.true(maxAbsDiff(cmn.data, 80, clip.first_frames_after_cmn) < TOL);
    // The product's noise floor (1 LSB, the manifest default) leaves this normal 16-bit speech untouched.
    const floored = kaldiFbank(audio.samples, { noise_floor: 1 });
    const diff = maxAbsDiff(floored.data, 80, clip.first_frames);
    t.true(diff < TOL, `noise_floor 1: max diff ${diff}`);
  });
}

test('fbank of a clip shorter than one frame has no frames', (t) => {
  const fb = kaldiFbank(new Float32Array(399));
  t.is(fb.frames, 0);
  t.is(fb.data.length, 0);
});

test('fbank of digital silence is the log floor everywhere', (t) => {
  const fb = kaldiFbank(new Float32Array(1600));
  t.is(fb.frames, 8);
  t.true(fb.data.every((v) => Math.abs(v - Math.log(1.1920928955078125e-7)) < 1e-5));
});

interface RateGolden {
  num_samples: number;
  num_frames: number;
  first_frames: number[][];
}

const rates = JSON.parse(
  readFileSync(resolve(projectRoot, 'test', 'golden', 'fbank-rates.json'), 'utf8'),
) as {
  rates: Record<string, RateGolden>;
};

for (const [rate, g] of Object.entries(rates.rates)) {
  test(`fbank matches torchaudio at ${rate} Hz (frame length/shift truncated to whole samples)`, (t) => {
    const sr = Number(rate);
    const x = Float32Array.from(
      { length: g.num_samples },
      (_, i) =>
        0.3 * Math.sin((2 * Math.PI * 220 * i) / sr) +
        0.1 * Math.sin((2 * Math.PI * 1375 * i) / sr + 0.5) +
        0.05 * Math.sin(i * 1.7),
    );
    const fb = kaldiFbank(x, { sample_frequency: sr, num_mel_bins: 40 });
    t.is(fb.frames, g.num_frames);
    t.true(
      maxAbsDiff(fb.data, 40, g.first_frames) < TOL,
      `max diff ${maxAbsDiff(fb.data, 40, g.first_frames)}`,
    );
  });
}

test('wasm (PFFFT) and fft.js front-ends agree on real speech (float32 vs float64 FFT)', async (t) => {
  let s = 3;
  const x = Float32Array.from({ length: 32000 }, (_, i) => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return 0.3 * Math.sin(i * 0.05) * Math.sin(i * 0.0007) + (s / 2 ** 32 - 0.5) * 0.01;
  });
  const a = kaldiFbank(x, { noise_floor: 1 });
  setFbankFft('fftjs');
  try {
    const b = kaldiFbank(x, { noise_floor: 1 });
    t.is(a.frames, b.frames);
    let worst = 0;
    a.data.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - (b.data[i] as number)))));
    t.true(worst < 1e-4, `max |diff| ${worst}`);
  } finally {
    setFbankFft(undefined);
  }
});

test('fbank.wasm redoes frames spanning > 90 dB with a float64 FFT equal to fft.js bit for bit', (t) => {
  // A pure 1 kHz tone at 16 kHz: far mel bins hold only window leakage, > 90 dB below the tone, so every frame is
  // redone in float64 (fbank.wasm's port of fft.js) and must equal the fft.js path exactly.
  const x = Float32Array.from({ length: 8000 }, (_, i) => 0.5 * Math.sin((2 * Math.PI * 1000 * i) / 16000));
  const before = fbankRedoneFrames();
  const a = kaldiFbank(x);
  t.is(fbankRedoneFrames() - before, a.frames);
  setFbankFft('fftjs');
  try {
    const b = kaldiFbank(x);
    t.deepEqual(a.data, b.data);
  } finally {
    setFbankFft(undefined);
  }
});
