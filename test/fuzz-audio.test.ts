/**
 * Fuzz smoke (CI-sized) over WAV/FLAC bytes: well-formed files of random layout decode to exactly their
 * samples; mutated and random files give sane samples or a typed `audio.*` error, no crash, no hang (here a
 * case over 5 s, for CI machines under load; the bench counts cases over 2 s). The large
 * run with its figures: bench/fuzz-audio.ts, bench/RESULTS.md.
 */
import test from 'ava';
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { checkMutated, checkValidWav, mutatedAudio, validWav } from './helpers/audio-fuzz.js';
import { casesDir } from './helpers/data.js';
import { fuzz } from './helpers/fuzz.js';

const seeds = ['c09b_id3v1_appended.flac', 'c01_list_info_and_adtl.wav', 'c03_extensible_float32.wav']
  .map((f) => resolve(casesDir, f))
  .filter((p) => existsSync(p))
  .map((p) => readFileSync(p));

test('fuzz: 500 well-formed WAV files of random layout decode to their samples', async (t) => {
  const r = await fuzz({
    name: 'valid-wav',
    seed: 1010,
    numRuns: 500,
    arbitrary: validWav,
    run: checkValidWav,
  });
  t.is(r.firstFailure, undefined);
  t.is(r.crashes, 0);
  t.is(r.hangs, 0);
  t.is(r.results, 500);
});

test('fuzz: 1,000 mutated WAV/FLAC files give sane samples or a typed error (no crash, no hang)', async (t) => {
  const r = await fuzz({
    name: 'mutated',
    seed: 1011,
    numRuns: 1000,
    arbitrary: mutatedAudio(seeds),
    run: checkMutated,
    hangMs: 5000,
  });
  t.is(r.firstFailure, undefined);
  t.is(r.crashes, 0);
  t.is(r.hangs, 0);
  t.is(r.cases, 1000);
  t.true(Object.keys(r.typedErrors).length >= 4, JSON.stringify(r.typedErrors)); // the mutations reach many paths
  t.log(JSON.stringify(r));
});
