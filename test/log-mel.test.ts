/**
 * The `log-mel` front-end against the lab's reference implementation (models/train/logmel.py: torch.stft,
 * torch windows, torchaudio melscale_fbanks / Kaldi get_mel_banks, amplitude_to_DB; float64), golden values in
 * test/golden/log-mel.json (make_log_mel.py): every value within 1e-4 on a synthetic signal for seven
 * configurations, and on real speech (speechocean762, Arabic Speech Commands) when the data is there.
 */
import test from 'ava';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { decodeAudioFile } from '../src/audio/index.js';
import { logMelFrameCount, logMelSamplesForFrames, runFrontend } from '../src/frontend/index.js';
import { LogMelFrontendSchema } from '../src/model/index.js';
import { dataDir, projectRoot } from '../src/paths.js';
import { existsSync } from 'node:fs';

interface Golden {
  configs: {
    name: string;
    sample_rate: number;
    frontend: unknown;
    num_samples: number;
    num_frames: number;
    frames: number[][];
    real: {
      path: string;
      num_samples: number;
      num_frames: number;
      first_frames: number[][];
      mean_over_frames: number[];
    }[];
  }[];
}

const golden = JSON.parse(
  readFileSync(resolve(projectRoot, 'test', 'golden', 'log-mel.json'), 'utf8'),
) as Golden;

const TOL = 1e-4;

/** The golden's synthetic signal (see make_log_mel.py), float32. */
function synthetic(rate: number): Float32Array {
  const n = Math.trunc(1.2 * rate);
  return Float32Array.from({ length: n }, (_, i) => {
    const t = i / rate;
    return (
      0.3 * Math.sin(2 * Math.PI * 220 * t) +
      0.1 * Math.sin(2 * Math.PI * 1375 * t + 0.5) +
      0.05 * Math.sin(1.7 * i) +
      0.2 * Math.sin(2 * Math.PI * (300 * t + 900 * t * t)) * (0.6 + 0.4 * Math.sin(2 * Math.PI * 3 * t))
    );
  });
}

/** max |data[f, b] − rows[f][b]| over the given rows. */
function maxAbsDiff(data: Float32Array, bins: number, rows: number[][]): number {
  let worst = 0;
  rows.forEach((row, f) =>
    row.forEach((v, b) => (worst = Math.max(worst, Math.abs((data[f * bins + b] as number) - v)))),
  );
  return worst;
}

for (const g of golden.configs) {
  test(`log-mel "${g.name}" matches the torchaudio reference within 1e-4 (synthetic signal)`, (t) => {
    const frontend = LogMelFrontendSchema.parse(g.frontend);
    const x = synthetic(g.sample_rate);
    t.is(x.length, g.num_samples);
    const out = runFrontend(x, frontend, g.sample_rate);
    const bins = frontend.num_mel_bins;
    t.deepEqual(out.shape, [g.num_frames, bins]);
    t.is(logMelFrameCount(x.length, { ...frontend, sample_frequency: g.sample_rate }), g.num_frames);
    const diff = maxAbsDiff(out.data, bins, g.frames);
    t.log(`${g.name}: max |TS − reference| = ${diff.toExponential(2)} over ${g.num_frames} × ${bins}`);
    t.true(diff < TOL, `max diff ${diff}`);
  });

  for (const real of g.real) {
    const path = resolve(dataDir(), real.path);
    const run = existsSync(path) ? test : test.skip;
    run(`log-mel "${g.name}" matches the reference on real speech ${real.path}`, async (t) => {
      const frontend = LogMelFrontendSchema.parse(g.frontend);
      const audio = await decodeAudioFile(path);
      t.is(audio.samples.length, real.num_samples);
      const out = runFrontend(audio.samples, frontend, g.sample_rate);
      const bins = frontend.num_mel_bins;
      t.is(out.shape[0], real.num_frames);
      const diff = maxAbsDiff(out.data, bins, real.first_frames);
      const mean = new Float64Array(bins);
      for (let f = 0; f < real.num_frames; f++)
        for (let b = 0; b < bins; b++) mean[b] += (out.data[f * bins + b] as number) / real.num_frames;
      const meanDiff = Math.max(...real.mean_over_frames.map((v, b) => Math.abs(v - (mean[b] as number))));
      t.log(
        `${g.name} on ${real.path}: max |diff| ${diff.toExponential(2)}, mean over frames ${meanDiff.toExponential(2)}`,
      );
      t.true(diff < TOL && meanDiff < TOL);
    });
  }
}

test('a fixed window of 40 frames (32 ms / 24 ms at 16 kHz) is 15488 samples and gives exactly 40 frames', (t) => {
  const o = { sample_frequency: 16000, frame_length: 32, frame_shift: 24, center: false };
  t.is(logMelSamplesForFrames(40, o), 15488);
  t.is(logMelFrameCount(15488, o), 40);
  t.is(logMelFrameCount(15487, o), 39);
  t.is(logMelFrameCount(511, o), 0);
});

test('log-mel of digital silence is the floor after the affine map, clipped and rounded', (t) => {
  const frontend = LogMelFrontendSchema.parse(golden.configs[0]?.frontend);
  const out = runFrontend(new Float32Array(16000), frontend, 16000);
  // 20·log10(1e-5) = −100 dB → −100/120 + 2/3 < 0 → clipped to 0
  t.true(out.data.every((v) => v === 0));
});
