import test from 'ava';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { decodeAudioFile } from '../src/audio/index.js';
import { fbankFrameCount, kaldiFbank } from '../src/frontend/index.js';
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
