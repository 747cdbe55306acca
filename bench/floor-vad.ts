/**
 * Front-end noise floor × speech-activity stage, measured on the default target model (tdnn-ce-target):
 *  - 8-bit speaker (../shared/cases/real-world-inputs/speaker/s8bit) vs its 16-bit originals (SPEAKER1029):
 *    mean / min cosine of clip embeddings;
 *  - SPEAKER0003 with 0.25 s of zeros at each end vs the plain clips: mean cosine;
 *  - normal speech (100 speechocean762 clips): mean / min cosine to the round-1 pipeline (no floor, no VAD).
 * Voices as in audits (2.0 s, wrap padding).  node --import=tsx bench/floor-vad.ts
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { decodeAudioFile, detectSpeech, type VadOptions } from '../src/audio/index.js';
import { clipToVoices } from '../src/features/index.js';
import { loadSpeakerModel } from '../src/model/index.js';
import { dataDir, modelPath, projectRoot } from '../src/paths.js';

const so = resolve(dataDir(), 'speechocean762');
const cases = resolve(
  process.env.SLMIA_CASES_DIR ?? resolve(projectRoot, '..', 'shared', 'cases', 'real-world-inputs'),
);
const model = await loadSpeakerModel(modelPath('tdnn-ce-target'), { threads: 1 });
const fe = model.manifest.frontend as { noise_floor?: number };
const split = readFileSync(resolve(so, 'splits/five-way.tsv'), 'utf8').split('\n');
const idsOf = (spk: string) => split.filter((l) => l.includes(spk)).map((l) => l.split('\t')[0] as string);
const utts = readFileSync(resolve(so, 'utterances.tsv'), 'utf8').trim().split('\n').slice(1);
const dec = async (p: string) => (await decodeAudioFile(p)).samples;
const ids8 = idsOf('SPEAKER1029');
const s8 = await Promise.all(ids8.map((id) => dec(resolve(cases, 'speaker/s8bit', `${id}.wav`))));
const o8 = await Promise.all(ids8.map((id) => dec(resolve(so, 'audio/SPEAKER1029', `${id}.flac`))));
const o3 = await Promise.all(
  idsOf('SPEAKER0003').map((id) => dec(resolve(so, 'audio/SPEAKER0003', `${id}.flac`))),
);
const p3 = o3.map((x) => {
  const y = new Float32Array(x.length + 8000);
  y.set(x, 4000);
  return y;
});
const normal = await Promise.all(
  utts.filter((_, i) => i % 50 === 7).map((l) => dec(resolve(so, l.split('\t')[2] as string))),
);

async function embed(xs: Float32Array[], vad?: VadOptions): Promise<Float32Array[]> {
  const kept = [];
  for (const x of xs) kept.push(vad ? (await detectSpeech(x, 16000, vad)).samples : x);
  const voices = kept.map((x) => clipToVoices(x, 16000, { chunkSeconds: 2, pad: 'wrap' })[0] as Float32Array);
  return (await model.embed(voices)).embeddings;
}
const cos = (a: Float32Array, b: Float32Array) => {
  let d = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    d += a[i]! * b[i]!;
    na += a[i]! ** 2;
    nb += b[i]! ** 2;
  }
  return d / Math.sqrt(na * nb);
};
const stats = (A: Float32Array[], B: Float32Array[]) => {
  const c = A.map((a, i) => cos(a, B[i]!));
  return `${(c.reduce((s, v) => s + v, 0) / c.length).toFixed(4)} (min ${Math.min(...c).toFixed(3)})`;
};
fe.noise_floor = 0;
const round1 = await embed(normal);
console.log(
  '| noise_floor | VAD | 8-bit vs 16-bit cos | zero-padded vs plain cos | normal speech vs round 1 cos |',
);
console.log('|---|---|---|---|---|');
for (const floor of [0, 1, 2, 4, 16, 64]) {
  fe.noise_floor = floor;
  for (const vad of [undefined, { mode: 2, marginSeconds: 0.1, dropDigitalSilence: true } as const]) {
    const row = [
      stats(await embed(s8, vad), await embed(o8, vad)),
      stats(await embed(p3, vad), await embed(o3, vad)),
      stats(await embed(normal, vad), round1),
    ];
    console.log(`| ${floor} | ${vad ? 'fvad m2, drop-ds' : 'none'} | ${row.join(' | ')} |`);
  }
}
await model.close();
