/**
 * The audit pipeline end to end on the fixture model and real speech: a small calibration (a subset of the
 * canonical split), the SQLite embedding cache (second open = 0 reference queries), an exported reference
 * bank, one-speaker audits (batched queries, typed errors) and a small evaluation report.
 */
import test from 'ava';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { AudioError } from '../src/errors.js';
import { readBundle, TooFewVoicesError, writeBundle } from '../src/attack/index.js';
import {
  auditFiles,
  openAuditContext,
  referencesFileName,
  runCalibration,
  runEvaluation,
  writeReport,
} from '../src/audit/index.js';
import { readSplit, readUtterances, speakersOfGroup } from '../src/dataset/index.js';
import { computeFeatures, embedClipVoices } from '../src/features/index.js';
import { loadClip } from '../src/audio/index.js';
import { SqliteEmbeddingCache } from '../src/store/embedding-cache.js';
import { fixtureModel, NO_DATA, speechocean } from './helpers/data.js';

const run = speechocean ? test.serial : test.skip;
if (!speechocean) console.log(`audit.test: ${NO_DATA}`);

const dir = mkdtempSync(join(tmpdir(), 'slmia-audit-'));
const splitFile = join(dir, 'small-split.tsv');
const attackDir = join(dir, 'attack');
const attackPath = join(attackDir, 'attack.json');
const cachePath = join(dir, 'cache.sqlite');

/** A small split: the first 4 speakers of each group (imposters with 4 clips each). */
async function writeSmallSplit(): Promise<void> {
  const ds = speechocean as string;
  const full = await readSplit(resolve(ds, 'splits', 'five-way.tsv'));
  const keep = new Set<string>();
  for (const g of ['imposter', 'shadow-member', 'shadow-nonmember', 'target-member', 'target-nonmember']) {
    const sp = [...new Set(full.filter((e) => e.group === g).map((e) => e.speaker))].sort().slice(0, 4);
    sp.forEach((s) => keep.add(`${g}|${s}`));
  }
  const rows = full.filter((e) => keep.has(`${e.group}|${e.speaker}`));
  writeFileSync(
    splitFile,
    [
      'utterance\tspeaker\tgroup\trole',
      ...rows.map((e) => `${e.utterance}\t${e.speaker}\t${e.group}\t${e.role}`),
    ].join('\n') + '\n',
  );
}

run(
  'calibrate a small bundle on the fixture model; second run is served from the SQLite cache',
  async (t) => {
    await writeSmallSplit();
    const cache = await SqliteEmbeddingCache.open(cachePath);
    const opts = {
      shadowModel: fixtureModel,
      dataset: speechocean as string,
      split: splitFile,
      voiceCounts: [2, 3],
      ratios: [0, 0.5, 1],
      voice: { chunkSeconds: 2, pad: 'wrap' as const },
      subsets: 2,
      kind: 'svm' as const,
      referenceVoices: 4,
      folds: 2,
      cache,
    };
    const first = await runCalibration(opts);
    // 16 reference clips (one query) + 8 shadow speakers × 20 clips (⌈160/64⌉ = 3 queries), all exactly 2.0 s
    // after wrap padding, so they batch fully.
    t.is(first.queries, 1 + 3);
    t.is(await cache.count(first.bundle.shadow_models[0].sha256), 176);
    const second = await runCalibration(opts);
    t.is(second.queries, 0);
    t.deepEqual(
      second.bundle.models.map((m) => m.threshold),
      first.bundle.models.map((m) => m.threshold),
    );
    await cache.close();
    const b = first.bundle;
    t.deepEqual(
      b.models.map((m) => m.n),
      [2, 3],
    );
    t.is(b.features.reference.voices_per_speaker, 4);
    t.is(b.baselines.encodermi_v.length, 2);
    mkdirSync(attackDir, { recursive: true });
    await writeBundle(attackPath, b);
    t.is((await readBundle(attackPath)).bundle.models.length, 2);
  },
);

run('auditFiles: one query for a speaker, features match a direct computation, typed errors', async (t) => {
  const cache = await SqliteEmbeddingCache.open(cachePath);
  const ctx = await openAuditContext({
    modelPath: fixtureModel,
    attackPath,
    cache,
    dataDir: speechocean,
    splitPath: splitFile,
  });
  try {
    t.is(ctx.references.queries, 0, 'reference bank comes from the cache');
    t.is(ctx.references.speakers.length, 4);
    const utts = await readUtterances(speechocean as string);
    const target = speakersOfGroup(await readSplit(splitFile), utts, 'target-member')[0];
    const paths = target.heldout.slice(0, 5).map((u) => u.path);
    const before = ctx.model.totalQueries;
    const r = await auditFiles(ctx, target.speaker, paths);
    t.is(r.queries, 1);
    t.is(ctx.model.totalQueries - before, 1);
    t.is(r.voices, 5);
    t.is(r.model_n, 3);
    t.is(r.model_sha256, ctx.model.sha256);
    t.is(r.attack_id, ctx.attackId);
    t.true(r.probability >= 0 && r.probability <= 1);
    t.is(r.verdict, r.probability >= r.threshold ? 'member' : 'non-member');
    t.is(r.features.length, 120);
    t.is(r.quantized.length, 120);
    t.true(r.timings.decodeMs !== undefined && r.timings.featuresMs >= 0);
    // independent recomputation of the features from the same clips
    const clips = await Promise.all(paths.map((p) => loadClip(p, { sampleRate: 16000 })));
    const emb = await embedClipVoices(ctx.model, clips, ctx.voice);
    const direct = computeFeatures(emb.perClip.flat(), ctx.bank).features;
    r.features.forEach((v, i) => t.true(Math.abs(v - direct[i]) < 1e-9));
    // too few voices: typed error before any query
    const q0 = ctx.model.totalQueries;
    await t.throwsAsync(auditFiles(ctx, target.speaker, paths.slice(0, 1)), {
      instanceOf: TooFewVoicesError,
    });
    t.is(ctx.model.totalQueries, q0);
    const bad = join(dir, 'bad.wav');
    writeFileSync(bad, 'not audio at all');
    const e = await t.throwsAsync(auditFiles(ctx, target.speaker, [paths[0], bad]), {
      instanceOf: AudioError,
    });
    t.true(e?.message.includes(bad));
  } finally {
    await ctx.close();
    await cache.close();
  }
});

run(
  'evaluate: report rows, exported reference bank, second run makes 0 queries; audit from the exported bank',
  async (t) => {
    const cache = await SqliteEmbeddingCache.open(cachePath);
    const opts = {
      targetModel: fixtureModel,
      attackPath,
      dataset: speechocean as string,
      split: splitFile,
      cache,
      exportReferences: true,
    };
    const first = await runEvaluation(opts);
    t.is(first.reference_queries, 0); // same fixture model as the shadow: reference clips already cached
    t.is(first.speaker_clips, 160);
    t.true(first.speaker_queries <= Math.ceil(160 / 64));
    const again = await runEvaluation(opts);
    t.is(again.queries, 0);
    await cache.close();
    t.is(first.rows.length, 2 * 2 * 3);
    for (const row of first.rows) {
      t.true(['slmia-sr', 'encodermi-t', 'encodermi-v'].includes(row.attack));
      t.is(row.n_members, 4);
      t.is(row.n_nonmembers, 4);
      t.true(row.auroc >= 0 && row.auroc <= 1);
      t.true(row.auroc_ci95[0] <= row.auroc_ci95[1]);
    }
    t.deepEqual(
      first.rows.map((r) => r.auroc),
      again.rows.map((r) => r.auroc),
    );
    const files = await writeReport(join(dir, 'report'), first);
    const json = JSON.parse(readFileSync(files[1], 'utf8')) as { rows: unknown[]; queries: number };
    t.is(json.rows.length, 12);
    t.regex(readFileSync(files[0], 'utf8'), /\| slmia-sr \| 0 \|/);
    t.regex(readFileSync(files[2], 'utf8'), /^<svg/);
    // a hub without the dataset: the exported bank beside the bundle is used
    const refFile = join(attackDir, referencesFileName(first.target.sha256));
    t.true(existsSync(refFile));
    const ctx = await openAuditContext({
      modelPath: fixtureModel,
      attackPath,
      dataDir: join(dir, 'no-such-data'),
    });
    try {
      t.is(ctx.referencesSource, refFile);
      t.is(ctx.references.embeddings.flat().length, 16);
    } finally {
      await ctx.close();
    }
  },
);
