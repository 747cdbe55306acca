/**
 * The large fuzz run over WAV/FLAC bytes (test/fuzz-audio.test.ts is its CI-sized smoke): seeded, N cases per
 * campaign (default 10,000), well-formed files of random layout and mutated/random files. Prints one JSON
 * line per campaign (cases, results, typed errors by code, crashes, hangs, slowest case).
 *   node --import=tsx bench/fuzz-audio.ts [cases] [seed]
 */
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { checkMutated, checkValidWav, mutatedAudio, validWav } from '../test/helpers/audio-fuzz.js';
import { projectRoot } from '../src/paths.js';
import { fuzz } from '../test/helpers/fuzz.js';

const casesDir = resolve(
  process.env.SLMIA_CASES_DIR ?? resolve(projectRoot, '..', 'shared', 'cases', 'real-world-inputs'),
);
const n = Number(process.argv[2] ?? 10000);
const seed = Number(process.argv[3] ?? 20261130);
const seeds = [
  'c09b_id3v1_appended.flac',
  'c09c_flac_cut_last_100_bytes.flac',
  'c01_list_info_and_adtl.wav',
  'c03_extensible_float32.wav',
  'c05_pcm8_unsigned.wav',
]
  .map((f) => resolve(casesDir, f))
  .filter((p) => existsSync(p))
  .map((p) => readFileSync(p));
console.error(`fuzz-audio: ${n} cases per campaign, seed ${seed}, ${seeds.length} real seed files`);
const t0 = performance.now();
for (const r of [
  await fuzz({ name: 'valid-wav', seed, numRuns: n, arbitrary: validWav, run: checkValidWav }),
  await fuzz({
    name: 'mutated-wav-flac',
    seed: seed + 1,
    numRuns: n,
    arbitrary: mutatedAudio(seeds),
    run: checkMutated,
  }),
])
  console.log(JSON.stringify({ ...r, maxMs: Number(r.maxMs.toFixed(1)) }));
console.error(`fuzz-audio: ${((performance.now() - t0) / 1000).toFixed(1)} s`);
