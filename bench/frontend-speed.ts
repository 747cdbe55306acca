/**
 * Issue 12 target 2: decode + speech-activity stage + front-end per audit, against the model's own inference
 * time, for one audit of 10 speechocean762 clips of 2 s on the default target model (tdnn-ce-target), alone and
 * with a reference model queried alongside it (difficulty calibration, issue 9; the shadow of the same
 * architecture, whose front-end is identical, so the features are computed once for both). Paired and
 * interleaved: every round runs each variant once on the same clips, in rotating order; reported as
 * median [min–max] over rounds, wall and CPU time of the process (all threads). Variants:
 *   decode: FLAC (the corpus files) · WAV PCM16 (the same samples, written once to a temp folder)
 *   VAD: fvad through vad.wasm (src/audio/vad.as.ts)
 *   front-end: fbank.wasm + PFFFT (the product) · the JavaScript path with fft.js (float64; the reference)
 *   inference: one batched `embed` of the 10 clips with their features already computed (FrontendCache), so its
 *   time is the model's own (wall: the session's `inferenceMs`)
 *   node --import=tsx bench/frontend-speed.ts [--rounds 40] [--threads 2] [--reference tdnn-ce-shadow]
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { decodeAudioBuffer, detectSpeech, vadReady } from '../src/audio/index.js';
import { fbankReady, fbankRedoneFrames, kaldiFbank, setFbankFft } from '../src/frontend/index.js';
import { FrontendCache, loadSpeakerModel, type SpeakerModel } from '../src/model/index.js';
import { modelPath, speechoceanDir } from '../src/paths.js';
import { dataChunk, fmtChunk, riffWave } from '../test/helpers/riff.js';
import { option } from './lib/args.js';
import { fmt, load1, ratios, summarize } from './lib/paired.js';

const rounds = Number(option('--rounds', '40'));
const threads = Number(option('--threads', '2'));
const referenceName = option('--reference', 'tdnn-ce-shadow');
const so = speechoceanDir();
if (!so) {
  console.log('bench/frontend-speed.ts: speechocean762 not found (set SLMIA_DATA_DIR): skipped');
  process.exit(0);
}
const utts = readFileSync(resolve(so, 'utterances.tsv'), 'utf8').trim().split('\n').slice(1);
const flacs = utts
  .map((l) => l.split('\t'))
  .filter((u) => u[3] === '2.000000')
  .slice(0, 10)
  .map((u) => resolve(so, u[2] as string));
const flacBytes = flacs.map((f) => readFileSync(f));
const dir = mkdtempSync(join(tmpdir(), 'slmia-speed-'));
const wavs: string[] = [];
for (const [i, b] of flacBytes.entries()) {
  const a = await decodeAudioBuffer(b, flacs[i] as string);
  const p = join(dir, `${i}.wav`);
  writeFileSync(p, riffWave([fmtChunk('pcm16', 1, 16000, false), dataChunk(a.samples, 'pcm16')]));
  wavs.push(p);
}
const wavBytes = wavs.map((f) => readFileSync(f));
rmSync(dir, { recursive: true });
const target = await loadSpeakerModel(modelPath('tdnn-ce-target'), { threads });
const reference = await loadSpeakerModel(modelPath(referenceName), { threads });
const { type: _t, ...fbankOptions } = target.manifest.frontend as Parameters<typeof kaldiFbank>[1] & {
  type: string;
};
await vadReady();
await fbankReady();

const clips = await Promise.all(
  flacBytes.map(async (b, i) => (await decodeAudioBuffer(b, flacs[i] as string)).samples),
);
const voiced = await Promise.all(clips.map(async (x) => (await detectSpeech(x, 16000)).samples));
// The model's input: the voices as an audit cuts them (2 s here), features computed once into the cache.
const voices = clips.map((x) => x.subarray(0, 32000));
const features = new FrontendCache();
await target.embed(voices, undefined, { frontendCache: features });
await reference.embed(voices, undefined, { frontendCache: features });
const sharesFrontEnd = features.hits === voices.length;

const infer = (model: SpeakerModel) => async () =>
  (await model.embed(voices, undefined, { frontendCache: features })).timings.inferenceMs;
const variants: Record<string, () => Promise<number | void>> = {
  'decode FLAC (libFLAC wasm)': async () => {
    for (const [i, b] of flacBytes.entries()) await decodeAudioBuffer(b, flacs[i] as string);
  },
  'decode WAV PCM16': async () => {
    for (const [i, b] of wavBytes.entries()) await decodeAudioBuffer(b, wavs[i] as string);
  },
  'VAD (fvad, vad.wasm)': async () => {
    for (const x of clips) await detectSpeech(x, 16000);
  },
  'fbank + CMN (fbank.wasm + PFFFT)': async () => {
    for (const x of voiced) kaldiFbank(x, fbankOptions);
  },
  'fbank + CMN (JavaScript, fft.js)': async () => {
    setFbankFft('fftjs');
    try {
      for (const x of voiced) kaldiFbank(x, fbankOptions);
    } finally {
      setFbankFft(undefined);
    }
  },
  'inference, target (1 query, 10 clips)': infer(target),
  [`inference, reference ${referenceName} (1 query)`]: infer(reference),
};
const names = Object.keys(variants);
const [FLAC, WAV, VAD, FBANK, FFTJS, TARGET, REF] = names as [
  string,
  string,
  string,
  string,
  string,
  string,
  string,
];
const wall: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
const cpu: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
for (let w = 0; w < 3; w++) for (const n of names) await variants[n]!();
const loads = [load1()];
const redone0 = fbankRedoneFrames();
for (let r = 0; r < rounds; r++) {
  for (let k = 0; k < names.length; k++) {
    const n = names[(r + k) % names.length] as string;
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    const inferenceMs = await variants[n]!();
    const t = performance.now() - t0;
    const c = process.cpuUsage(c0);
    wall[n]!.push(typeof inferenceMs === 'number' ? inferenceMs : t);
    cpu[n]!.push((c.user + c.system) / 1000);
  }
}
loads.push(load1());
const redonePerAudit = (fbankRedoneFrames() - redone0) / rounds;

console.log(
  `10 speechocean762 clips of 2 s (one audit), ${rounds} interleaved rounds, onnxruntime ${threads} thread(s), ` +
    `load average ${loads.join(' → ')}; ms per audit, median [min–max]\n`,
);
console.log('| stage | wall ms per audit | CPU ms per audit |\n|---|---|---|');
for (const n of names)
  console.log(`| ${n} | ${fmt(summarize(wall[n]!), 2)} | ${fmt(summarize(cpu[n]!), 2)} |`);
/** Per round: the sum of `parts` over the sum of `over`, as a percentage. */
const share = (parts: string[], over: string[], t: Record<string, number[]>): string => {
  const per = Array.from({ length: rounds }, (_, r) => {
    const sum = (xs: string[]) => xs.reduce((s, p) => s + (t[p]![r] as number), 0);
    return (100 * sum(parts)) / sum(over);
  });
  return `${fmt(summarize(per), 1)} %`;
};
console.log(
  '\n| decode + VAD + front-end, share of inference (paired per round) | of | wall | CPU |\n|---|---|---|---|',
);
for (const [label, parts] of [
  ['WAV PCM16 + VAD + fbank', [WAV, VAD, FBANK]],
  ['FLAC + VAD + fbank', [FLAC, VAD, FBANK]],
  ['FLAC + VAD + fbank (JavaScript, fft.js)', [FLAC, VAD, FFTJS]],
] as const) {
  for (const [of, over] of [
    ['target alone', [TARGET]],
    [`target + ${referenceName} (features once)`, [TARGET, REF]],
  ] as const)
    console.log(
      `| ${label} | ${of} | ${share([...parts], [...over], wall)} | ${share([...parts], [...over], cpu)} |`,
    );
}
console.log(
  `\nfbank JavaScript (fft.js) / fbank.wasm, paired per round: wall ${fmt(summarize(ratios(wall[FFTJS]!, wall[FBANK]!)), 2)}×, ` +
    `CPU ${fmt(summarize(ratios(cpu[FFTJS]!, cpu[FBANK]!)), 2)}×`,
);
console.log(
  `Frames redone in float64 (mel energies spanning > 90 dB): ${redonePerAudit.toFixed(0)} of ` +
    `${voiced.reduce((s, x) => s + 1 + Math.floor((x.length - 400) / 160), 0)} per audit. ` +
    `${referenceName} shares the target's front-end: ${sharesFrontEnd ? 'yes (features computed once)' : 'no'}.`,
);
await Promise.all([target.close(), reference.close()]);
