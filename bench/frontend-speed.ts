/**
 * Issue 12 target 2: decode + speech-activity stage + front-end per audit, against the model's own inference
 * time, for one audit of 10 clips of 2 s on the default target model (tdnn-ce-target). Paired and interleaved:
 * every round runs each variant once on the same clips, in rotating order; reported as median [min–max] over
 * rounds. Variants:
 *   decode: FLAC (the corpus files) · WAV PCM16 (the same samples, written once to a temp folder)
 *   front-end: fft.js (float64, round 1's FFT) · PFFFT (SIMD WebAssembly, the default)
 *   inference: one batched session.run of the 10 clips (the model's own time)
 *   node --import=tsx bench/frontend-speed.ts [rounds=40] [threads=2]
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { decodeAudioBuffer, decodeAudioFile, detectSpeech, vadReady } from '../src/audio/index.js';
import { fbankReady, kaldiFbank, setFbankFft } from '../src/frontend/index.js';
import { loadSpeakerModel } from '../src/model/index.js';
import { dataDir, modelPath } from '../src/paths.js';
import { dataChunk, fmtChunk, riffWave } from '../test/helpers/riff.js';

const rounds = Number(process.argv[2] ?? 40);
const threads = Number(process.argv[3] ?? 2);
const so = resolve(dataDir(), 'speechocean762');
const utts = readFileSync(resolve(so, 'utterances.tsv'), 'utf8').trim().split('\n').slice(1);
const flacs = utts
  .map((l) => l.split('\t'))
  .filter((u) => u[3] === '2.000000')
  .slice(0, 10)
  .map((u) => resolve(so, u[2] as string));
const dir = mkdtempSync(join(tmpdir(), 'slmia-speed-'));
const wavs: string[] = [];
for (const [i, f] of flacs.entries()) {
  const a = await decodeAudioFile(f);
  const p = join(dir, `${i}.wav`);
  writeFileSync(p, riffWave([fmtChunk('pcm16', 1, 16000, false), dataChunk(a.samples, 'pcm16')]));
  wavs.push(p);
}
const flacBytes = flacs.map((f) => readFileSync(f));
const wavBytes = wavs.map((f) => readFileSync(f));
const model = await loadSpeakerModel(modelPath('tdnn-ce-target'), { threads });
const fe = model.manifest.frontend as Parameters<typeof kaldiFbank>[1] & { type: string };
const { type: _t, ...fbankOptions } = fe;
await vadReady();
await fbankReady();

const clips = await Promise.all(
  flacBytes.map(async (b, i) => (await decodeAudioBuffer(b, flacs[i]!)).samples),
);
const voiced = await Promise.all(clips.map(async (x) => (await detectSpeech(x, 16000)).samples));
const fixed = clips.map((x) => x.subarray(0, 32000));

const variants: Record<string, () => Promise<void>> = {
  'decode FLAC': async () => {
    for (const [i, b] of flacBytes.entries()) await decodeAudioBuffer(b, flacs[i]!);
  },
  'decode WAV PCM16': async () => {
    for (const [i, b] of wavBytes.entries()) await decodeAudioBuffer(b, wavs[i]!);
  },
  VAD: async () => {
    for (const x of clips) await detectSpeech(x, 16000);
  },
  'fbank fft.js': async () => {
    setFbankFft('fftjs');
    for (const x of voiced) kaldiFbank(x, fbankOptions);
    setFbankFft(undefined);
  },
  'fbank PFFFT': async () => {
    for (const x of voiced) kaldiFbank(x, fbankOptions);
  },
  'inference (1 query, 10 clips)': async () => {
    await model.embed(fixed); // timings taken from the adapter below
  },
};
const names = Object.keys(variants);
const times: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
/** CPU time of the process (all threads, so onnxruntime's pool too) per variant, ms. */
const cpu: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
for (let w = 0; w < 3; w++) for (const n of names) await variants[n]!();
for (let r = 0; r < rounds; r++) {
  for (let k = 0; k < names.length; k++) {
    const n = names[(r + k) % names.length]!;
    if (n.startsWith('inference')) {
      // CPU of the model alone = CPU of embed (front-end + session.run, all threads) − CPU of the same
      // front-end run just before it.
      const f0 = process.cpuUsage();
      for (const x of fixed) kaldiFbank(x, fbankOptions);
      const f = process.cpuUsage(f0);
      const c0 = process.cpuUsage();
      const res = await model.embed(fixed);
      const c = process.cpuUsage(c0);
      times[n]!.push(res.timings.inferenceMs);
      cpu[n]!.push((c.user + c.system - f.user - f.system) / 1000);
      continue;
    }
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    await variants[n]!();
    times[n]!.push(performance.now() - t0);
    const c = process.cpuUsage(c0);
    cpu[n]!.push((c.user + c.system) / 1000);
  }
}
const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
const fmt = (xs: number[]) =>
  `${med(xs).toFixed(2)} [${Math.min(...xs).toFixed(2)}–${Math.max(...xs).toFixed(2)}]`;
console.log(
  `10 clips of 2 s, ${rounds} interleaved rounds, onnxruntime ${threads} thread(s); ms per audit, median [min–max]\n`,
);
console.log('| stage | wall ms per audit | CPU ms per audit |\n|---|---|---|');
for (const n of names) console.log(`| ${n} | ${fmt(times[n]!)} | ${fmt(cpu[n]!)} |`);
const ratio = (parts: string[], t = times) => {
  const per = t['inference (1 query, 10 clips)']!.map(
    (v, r) => parts.reduce((s, p) => s + (t[p]![r] as number), 0) / v,
  );
  return `${(med(per) * 100).toFixed(1)} % [${(Math.min(...per) * 100).toFixed(1)}–${(Math.max(...per) * 100).toFixed(1)}]`;
};
console.log(
  '\n| decode + VAD + front-end, share of inference (paired per round) | wall | CPU |\n|---|---|---|',
);
for (const [label, parts] of [
  ['WAV PCM16 + VAD + PFFFT fbank', ['decode WAV PCM16', 'VAD', 'fbank PFFFT']],
  ['FLAC + VAD + PFFFT fbank', ['decode FLAC', 'VAD', 'fbank PFFFT']],
  ['FLAC + VAD + fft.js fbank', ['decode FLAC', 'VAD', 'fbank fft.js']],
] as const)
  console.log(`| ${label} | ${ratio([...parts])} | ${ratio([...parts], cpu)} |`);
const fb = times['fbank fft.js']!.map((v, r) => v / (times['fbank PFFFT']![r] as number));
console.log(
  `\nfbank fft.js / PFFFT, paired per round: ${med(fb).toFixed(2)}× [${Math.min(...fb).toFixed(2)}–${Math.max(...fb).toFixed(2)}]`,
);
await model.close();
