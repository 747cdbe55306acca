import test from 'ava';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import {
  applyNorm,
  buildReferenceBank,
  computeFeatures,
  FEATURE_NAMES,
  FeatureError,
  featureIndex,
  LIST_NAMES,
  referenceNorm,
} from '../src/features/index.js';
import { goldenDir, hasGolden } from './helpers/data.js';

interface GoldenFeatures {
  n: number;
  K: number;
  m: number;
  D: number;
  inputs: { voices: number[][]; ref_voices: number[][][] };
  features: number[];
  names: string[];
  lists: Record<string, number[]>;
}

const TOL = 1e-9;

for (const file of ['features-small.json', 'features-small-n2m1.json']) {
  const run = hasGolden(file) ? test : test.skip;
  run(`features reproduce golden ${file} (120 features and 30 lists within 1e-9)`, (t) => {
    const g = JSON.parse(readFileSync(resolve(goldenDir, file), 'utf8')) as GoldenFeatures;
    t.deepEqual([...FEATURE_NAMES], g.names);
    t.deepEqual([...LIST_NAMES], Object.keys(g.lists));
    const bank = buildReferenceBank(g.inputs.ref_voices, { similarity: 'cosine' });
    t.is(bank.speakers, g.K);
    t.is(bank.voices, g.K * g.m);
    const { features, lists } = computeFeatures(g.inputs.voices, bank, { lists: true });
    for (const [name, want] of Object.entries(g.lists)) {
      const got = lists?.get(name);
      t.truthy(got, name);
      t.is(got?.length, want.length, `${name} length`);
      want.forEach((v, i) =>
        t.true(Math.abs((got as Float64Array)[i] - v) <= TOL, `${name}[${i}]: ${got?.[i]} vs ${v}`),
      );
    }
    t.is(features.length, 120);
    g.features.forEach((v, i) =>
      t.true(Math.abs(features[i] - v) <= TOL, `${g.names[i]}: ${features[i]} vs ${v}`),
    );
  });
}

/** Straightforward per-pair reference implementation of a few L2 features. */
function dist(a: number[], b: number[]): number {
  return Math.sqrt(a.reduce((s, v, i) => s + (v - b[i]) ** 2, 0));
}

test('L2 variant: sim = -||a-b||, dis = ||a-b||, centroid = plain mean', (t) => {
  const voices = [
    [1, 0, 0],
    [0, 2, 0],
    [0, 0, 3],
  ];
  const refs = [
    [
      [1, 1, 0],
      [1, -1, 0],
    ],
    [[0, 0, -2]],
  ];
  const bank = buildReferenceBank(refs, { similarity: 'l2' });
  const { features, lists } = computeFeatures(voices, bank, { lists: true });
  const c = [1 / 3, 2 / 3, 1];
  const pairs = [-dist(voices[0], voices[1]), -dist(voices[0], voices[2]), -dist(voices[1], voices[2])];
  t.deepEqual(
    [...(lists?.get('intra.pairs') ?? [])].map((v) => +v.toFixed(12)),
    pairs.map((v) => +v.toFixed(12)),
  );
  const pm = pairs.reduce((a, b) => a + b) / 3;
  t.true(Math.abs(features[featureIndex('intra.pairs.mean')] - pm) < 1e-12);
  const C0 = [1, 0, 0];
  const C1 = [0, 0, -2];
  const rcc = [dist(C0, c), dist(C1, c)];
  const got = [...(lists?.get('inter.refcentroid_centroid') ?? [])];
  rcc.forEach((v, i) => t.true(Math.abs(got[i] - v) < 1e-12));
  // ref-voice to voice matrix is [M][n] ref-major
  const rvv = lists?.get('inter.refvoice_voice') as Float64Array;
  t.true(Math.abs(rvv[2 * 3 + 1] - dist([0, 0, -2], voices[1])) < 1e-12);
  // population std of a 2-element list
  const byRefStd = lists?.get('inter.refvoice_centroid.by_ref.std') as Float64Array;
  const d0 = dist([1, 1, 0], c);
  const d1 = dist([1, -1, 0], c);
  t.true(Math.abs(byRefStd[0] - Math.abs(d0 - d1) / 2) < 1e-12);
  t.is(byRefStd[1], 0);
});

test('centring subtracts the reference mean; cosine features change, fewer than 2 voices is a FeatureError', (t) => {
  const refs = [[[1, 1]], [[3, 1]]];
  const bank = buildReferenceBank(refs, { similarity: 'cosine', centre: true });
  t.deepEqual([...(bank.centre ?? [])], [2, 1]);
  // after centring, reference voices are (-1,0) and (1,0)
  t.deepEqual([...bank.voiceRows], [-1, 0, 1, 0]);
  const { lists } = computeFeatures(
    [
      [2, 2],
      [2, 3],
    ],
    bank,
    { lists: true },
  );
  // centred voices (0,1), (0,2): cosine 1 to each other, dis to (±1,0) is exactly 1
  t.true(Math.abs((lists?.get('intra.pairs') as Float64Array)[0] - 1) < 1e-12);
  t.deepEqual([...(lists?.get('inter.refvoice_voice') as Float64Array)], [1, 1, 1, 1]);
  const err = t.throws(() => computeFeatures([[1, 2]], bank), { instanceOf: FeatureError });
  t.regex(err?.message ?? '', /at least 2 voices/);
  t.throws(
    () =>
      computeFeatures(
        [
          [1, 2, 3],
          [1, 2, 3],
        ],
        bank,
      ),
    { instanceOf: FeatureError },
  );
});

test('reference z-norm: leave-one-out features of the reference speakers become mean 0, std 1', (t) => {
  let seed = 5;
  const rnd = (): number => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648) * 2 - 1;
  const speakers = Array.from({ length: 6 }, () =>
    Array.from({ length: 4 }, () => [rnd(), rnd(), rnd(), rnd()]),
  );
  const norm = referenceNorm(speakers, { similarity: 'cosine', centre: true }, 2);
  t.is(norm.samples, 12); // 6 speakers × 2 disjoint pairs of voices
  const full = buildReferenceBank(speakers, { similarity: 'cosine', centre: true });
  const rows = speakers.flatMap((voices, k) => {
    const bank = buildReferenceBank(
      speakers.filter((_, j) => j !== k),
      { similarity: 'cosine', centre: true, centreVector: full.centre },
    );
    return [0, 2].map((s) => applyNorm(computeFeatures(voices.slice(s, s + 2), bank).features, [norm], 2));
  });
  const f = featureIndex('intra.pairs.mean');
  const m = rows.reduce((a, r) => a + r[f], 0) / rows.length;
  const sd = Math.sqrt(rows.reduce((a, r) => a + (r[f] - m) ** 2, 0) / rows.length);
  t.true(Math.abs(m) < 1e-9);
  t.true(Math.abs(sd - 1) < 1e-9);
});
