/**
 * Fixed-window models and input layouts (models/fixture/window-model.json: `[N, frames, 40, 1]` log-mel input
 * whose graph only works for 40 frames, symbolic output size): windows cut as documented, all windows of a
 * call in one query, pooled per voice; the load-time dummy query and the static checks name the manifest
 * field at fault for every wrong manifest.
 */
import test from 'ava';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { ManifestError } from '../src/errors.js';
import {
  arrangeItem,
  cutWindows,
  itemShape,
  loadSpeakerModel,
  parseManifest,
  poolWindows,
  windowCount,
  windowPlan,
} from '../src/model/index.js';
import { embedDatasetSpeakers } from '../src/audit/lab-data.js';
import { dataDir, projectRoot } from '../src/paths.js';
import { manifestVariant, readRawManifest, type RawManifest } from './helpers/manifest.js';

const windowModel = resolve(projectRoot, 'models', 'fixture', 'window-model.json');
const base = readRawManifest(windowModel);
const dir = mkdtempSync(join(tmpdir(), 'slmia-window-'));

/** A variant of the window fixture's manifest. */
const variant = (name: string, patch: (m: RawManifest) => void): string =>
  manifestVariant(dir, windowModel, name, patch);

/** Deterministic pseudo-speech, different per seed. */
function voice(seed: number, seconds: number): Float32Array {
  let s = seed * 7919 + 1;
  const rand = () => ((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 2 - 1;
  const f0 = 110 + 17 * seed;
  return Float32Array.from({ length: Math.round(seconds * 16000) }, (_, i) => {
    const t = i / 16000;
    return 0.2 * Math.sin(2 * Math.PI * f0 * t) * (1 + 0.5 * Math.sin(2 * Math.PI * 3 * t)) + 0.03 * rand();
  });
}

const plan = windowPlan(parseManifest(base, windowModel))!;

test('40 frames of 32/24 ms are 15488 samples; windows hop 20 frames = 7680 samples', (t) => {
  t.deepEqual(plan, { samples: 15488, hopSamples: 7680, frames: 40, pad: 'wrap', l2Normalize: false });
  t.is(windowCount(32000, plan), 3); // 2 s: starts 0, 7680, 15360
  t.is(windowCount(16000, plan), 1); // 1 s keyword
  t.is(windowCount(23167, plan), 1);
  t.is(windowCount(23168, plan), 2);
  t.is(windowCount(8000, plan), 1); // shorter than a window: padded
  t.is(windowCount(0, plan), 0);
  const x = voice(1, 2);
  const w = cutWindows(x, plan);
  t.is(w.length, 3);
  t.deepEqual(Array.from(w[2]!.subarray(0, 5)), Array.from(x.subarray(15360, 15365)));
  const short = voice(2, 0.4);
  const [wrapped] = cutWindows(short, plan);
  t.is(wrapped!.length, 15488);
  t.is(wrapped![6400], short[0]); // 0.4 s = 6400 samples, repeated
  const [zeroed] = cutWindows(short, { ...plan, pad: 'zero' });
  t.is(zeroed![6400], 0);
  t.is(zeroed![6399], short[6399]);
});

test('pooling is the mean of the window embeddings (optionally each L2-normalised)', (t) => {
  const a = Float32Array.of(3, 4);
  const b = Float32Array.of(1, 0);
  t.deepEqual(Array.from(poolWindows([a, b], { l2Normalize: false })), [2, 2]);
  const l2 = poolWindows([a, b], { l2Normalize: true });
  t.true(Math.abs(l2[0]! - 0.8) < 1e-7 && Math.abs(l2[1]! - 0.4) < 1e-7);
});

test('layouts: item shapes and the frames/mel transposition', (t) => {
  t.deepEqual(itemShape('batch,frames,mel,1', [40, 30]), [40, 30, 1]);
  t.deepEqual(itemShape('batch,1,mel,frames', [40, 30]), [1, 30, 40]);
  t.deepEqual(itemShape('batch,1,samples', [16000]), [1, 16000]);
  const data = Float32Array.from({ length: 6 }, (_, i) => i); // [frames 2, mel 3]
  t.is(arrangeItem('batch,frames,mel,1', data, [2, 3]), data);
  t.deepEqual(Array.from(arrangeItem('batch,1,mel,frames', data, [2, 3])), [0, 3, 1, 4, 2, 5]);
});

test('32 voices of ≤ 2 s (96 windows) take one query; embeddings are the mean of the window embeddings', async (t) => {
  const model = await loadSpeakerModel(windowModel, { threads: 1 });
  try {
    t.is(model.totalQueries, 0, 'the load-time dummy query is not counted');
    const voices = Array.from({ length: 32 }, (_, i) => voice(i, [2, 1.5, 1, 0.7][i % 4]!));
    const r = await model.embed(voices);
    t.is(r.queries, 1);
    t.is(r.embeddings.length, 32);
    t.true(r.embeddings.every((e) => e.length === 16 && e.every(Number.isFinite)));
    // voice 0 (2 s, 3 windows) by hand: each window alone, then the mean
    const single = await model.embed(cutWindows(voices[0]!, plan).map((w) => w.slice()));
    t.is(single.queries, 1);
    const mean = poolWindows(single.embeddings, plan);
    const worst = Math.max(...Array.from(mean, (v, i) => Math.abs(v - r.embeddings[0]![i]!)));
    t.true(worst < 1e-6, `|pooled − by hand| = ${worst}`);
    t.notDeepEqual(Array.from(r.embeddings[0]!), Array.from(r.embeddings[1]!));
    // more windows than max_batch: ceil(windows / 128) queries
    const many = await model.embed(Array.from({ length: 50 }, (_, i) => voice(i, 2)));
    t.is(many.queries, Math.ceil((50 * 3) / 128));
  } finally {
    await model.close();
  }
});

/** Wrong window-fixture manifests and the field loading must name (static checks or the dummy query). */
const WRONG_AT_LOAD: [string, (m: RawManifest) => void, string][] = [
  // output size is symbolic in the graph: only the dummy query finds the real 16
  ['dim', (m) => (m.embedding_dim = 32), 'embedding_dim'],
  // no window: a 1 s dummy clip gives 41 frames, which the graph refuses
  ['no-window', (m) => delete m.window, 'input'],
  // a window of the wrong length: refused by the graph
  ['frames', (m) => (m.window!.frames = 50), 'window'],
  ['mel', (m) => (m.frontend.num_mel_bins = 64), 'frontend.num_mel_bins'],
  ['rank', (m) => (m.input.layout = 'batch,frames,mel'), 'input.layout'],
  // [N, frames, 40, 1] does not fit a channel-first layout
  ['channel', (m) => (m.input.layout = 'batch,1,frames,mel'), 'input.layout'],
  ['out', (m) => (m.output.name = 'dvector'), 'output.name'],
  ['in', (m) => (m.input.name = 'fbank'), 'input.name'],
];

test('a wrong manifest fails at load with the field named (static checks and the dummy query)', async (t) => {
  for (const [name, patch, field] of WRONG_AT_LOAD) {
    const path = variant(name, patch);
    const err = await t.throwsAsync(loadSpeakerModel(path, { threads: 1 }), { instanceOf: ManifestError });
    t.is(err?.field, field, `${name}: ${err?.message}`);
    t.true(err?.message.includes(path), 'message names the file');
    if (name === 'no-window') t.regex(err?.message ?? '', /window\.frames/);
  }
});

/** Wrong schema fields of the log-mel front-end and the window, and the field named. */
const WRONG_SCHEMA: [(m: RawManifest) => void, string][] = [
  [(m) => (m.frontend.fft_size = 400), 'frontend.fft_size'],
  [(m) => (m.frontend.fft_size = 256), 'frontend.fft_size'], // < 512-sample frame
  [(m) => delete m.frontend.clip, 'frontend.quantize_bits'],
  [(m) => (m.frontend.clip = [1, 0]), 'frontend.clip'],
  [(m) => (m.frontend.log = { type: 'ln', floor: 0 }), 'frontend.log.floor'],
  [(m) => (m.frontend.log = { type: 'ln', floor: 1e-6, top_db: 80 }), 'frontend.log.type'],
  [(m) => (m.frontend.high_freq = 9000), 'frontend.high_freq'],
  [(m) => delete m.frontend.window_type, 'frontend.window_type'],
  [(m) => (m.frontend.window_type = 'blackman'), 'frontend.window_type'],
  [(m) => (m.frontend.extra = 1), 'frontend'],
  [(m) => (m.window = { frames: 40, seconds: 1 }), 'window.frames'],
  [(m) => (m.window = { seconds: 1, hop: 20 }), 'window.hop'],
  [(m) => (m.input.layout = 'batch,samples'), 'input.layout'],
  [(m) => (m.input.layout = 'batch,frames,1,mel'), 'input.layout'],
  [
    (m) => {
      m.frontend = { type: 'waveform' };
      m.input.layout = 'batch,1,samples';
    },
    'window.frames',
  ],
];

test('manifest schema: log-mel and window fields are checked with the field named', (t) => {
  for (const [patch, field] of WRONG_SCHEMA) {
    const m = structuredClone(base);
    patch(m);
    t.is(t.throws(() => parseManifest(m, 'x.json'), { instanceOf: ManifestError })?.field, field);
  }
});

const run = promisify(execFile);

test('inspect-model prints the window and the dummy query; a wrong manifest exits 2 naming the field', async (t) => {
  const cli = resolve(projectRoot, 'dist', 'cli.js');
  const { stdout } = await run(process.execPath, [cli, 'inspect-model', windowModel]);
  t.regex(stdout, /front-end {4}log-mel 40 htk mel bins 0–8000 Hz, 32\/24 ms hamming, magnitude, dB/);
  t.regex(stdout, /window {7}40 frames \(15488 samples, 0\.968 s\), hop 7680 samples \(0\.480 s\)/);
  t.regex(stdout, /dummy query {2}ok/);
  const bad = variant('cli-dim', (m) => (m.embedding_dim = 128));
  const err = (await t.throwsAsync(run(process.execPath, [cli, 'inspect-model', bad]))) as unknown as {
    code: number;
    stderr: string;
  };
  t.is(err.code, 2);
  t.regex(
    err.stderr,
    /field "embedding_dim": manifest says 128, but a dummy query \[1, 40, 40, 1\] returns "embedding" of shape \[1, 16\]/,
  );
});

const arabic = resolve(dataDir(), 'arabic-speech-commands');
const arabicTest = existsSync(resolve(arabic, 'utterances.tsv')) ? test : test.skip;

arabicTest(
  'out-of-domain non-members: 1 s keyword clips of 3 speakers, all heldout, in one query',
  async (t) => {
    // a small dataset folder: 3 Arabic Speech Commands speakers × 5 clips (absolute paths)
    const rows = readFileSync(resolve(arabic, 'utterances.tsv'), 'utf8').trim().split('\n');
    const header = rows[0]!.split('\t');
    const col = (r: string[], c: string) => r[header.indexOf(c)]!;
    const picked = rows
      .slice(1)
      .map((l) => l.split('\t'))
      .filter((r) => ['SPK00000001', 'SPK00000002', 'SPK00000003'].includes(col(r, 'speaker')))
      .filter((r, i, all) => all.filter((x) => col(x, 'speaker') === col(r, 'speaker')).indexOf(r) % 6 === 0);
    const ds = mkdtempSync(join(tmpdir(), 'slmia-ood-'));
    writeFileSync(
      join(ds, 'utterances.tsv'),
      [
        'utterance\tspeaker\tpath\tseconds',
        ...picked.map((r) =>
          [col(r, 'utterance'), col(r, 'speaker'), resolve(arabic, col(r, 'path')), col(r, 'seconds')].join(
            '\t',
          ),
        ),
      ].join('\n') + '\n',
    );
    const model = await loadSpeakerModel(windowModel, { threads: 1 });
    try {
      const r = await embedDatasetSpeakers(model, {
        dataset: ds,
        group: 'out-of-domain',
        voice: { chunkSeconds: 2, pad: 'wrap' },
      });
      t.deepEqual(
        r.speakers.map((s) => [s.speaker, s.label, s.train.length, s.heldout.length]),
        [
          ['SPK00000001', 0, 0, 5],
          ['SPK00000002', 0, 0, 5],
          ['SPK00000003', 0, 0, 5],
        ],
      );
      t.is(r.clips, 15);
      t.is(r.queries, 1, '15 voices of 2 s (wrap-padded keywords) = 45 windows, one query');
    } finally {
      await model.close();
    }
  },
);
