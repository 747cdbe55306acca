/**
 * Benchmark of the SLMIA-SR features: one speaker with n = 10 voices against 500 reference voices
 * (50 speakers × 10) of 192 dimensions, cosine, float64. Target: ≤ 10 ms per speaker.
 *   node --import=tsx bench/features.ts [n] [referenceVoices] [dim]
 */
import { buildReferenceBank, computeFeatures } from '../src/features/index.js';
import { seededRng } from '../src/attack/index.js';

const n = Number(process.argv[2] ?? 10);
const M = Number(process.argv[3] ?? 500);
const D = Number(process.argv[4] ?? 192);
const K = 50;
const rng = seededRng(1);
const vec = (): Float32Array => Float32Array.from({ length: D }, () => rng() * 2 - 1);
const refs = Array.from({ length: K }, () => Array.from({ length: M / K }, vec));
const speakers = Array.from({ length: 50 }, () => Array.from({ length: n }, vec));

for (const similarity of ['cosine', 'l2'] as const) {
  for (const centre of [false, true]) {
    const bank = buildReferenceBank(refs, { similarity, centre });
    for (let w = 0; w < 20; w++) computeFeatures(speakers[w % speakers.length], bank); // warm-up
    const times: number[] = [];
    for (let r = 0; r < 200; r++) {
      const t0 = performance.now();
      computeFeatures(speakers[r % speakers.length], bank);
      times.push(performance.now() - t0);
    }
    times.sort((a, b) => a - b);
    const med = times[Math.floor(times.length / 2)];
    const p95 = times[Math.floor(times.length * 0.95)];
    console.log(
      `features ${similarity}${centre ? ' centred' : ''}: n=${n}, ${M} reference voices, ${D} dims: median ${med.toFixed(2)} ms, p95 ${p95.toFixed(2)} ms per speaker`,
    );
  }
}
