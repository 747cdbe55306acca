/**
 * The audit pipeline end to end on the fixture model and real speech: a small calibration (a subset of the
 * canonical split), the SQLite embedding cache (second open = 0 reference queries), an exported reference
 * bank, one-speaker audits (batched queries, typed errors) and a small evaluation report.
 */
import test from 'ava';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { AudioError } from '../src/errors.js';
import { AttackBundleError, readBundle, TooFewVoicesError, writeBundle } from '../src/attack/index.js';
import {
  auditFiles,
  nullFileName,
  openAuditContext,
  parseMembers,
  ReferenceModelError,
  referencesFileName,
  runCalibration,
  runEvaluation,
  SELECTION_CANDIDATES,
  voiceSubsets,
  writeReport,
} from '../src/audit/index.js';
import { readSplit, readUtterances, speakersOfGroup } from '../src/dataset/index.js';
import {
  calibratedFeatures,
  CALIBRATED_FEATURE_NAMES,
  computeFeatures,
  embedClipVoices,
  voiceLogNorms,
  type ModelView,
} from '../src/features/index.js';
import { projectRoot } from '../src/paths.js';
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

const shadowModel = resolve(projectRoot, 'models', 'tdnn-ce-shadow', 'model.json');
const targetModel = resolve(projectRoot, 'models', 'tdnn-ce-target', 'model.json');

run(
  'calibrate a small calibrated bundle (tdnn-ce shadow, the target as shadow-side reference); second run is served from the SQLite cache',
  async (t) => {
    await writeSmallSplit();
    const cache = await SqliteEmbeddingCache.open(cachePath);
    const opts = {
      shadowModel,
      targetModel,
      bundleDir: attackDir,
      dataset: speechocean as string,
      split: splitFile,
      voiceCounts: [2, 3],
      ratios: [0, 0.5, 1],
      voice: { chunkSeconds: 2, pad: 'wrap' as const },
      subsets: 2,
      referenceVoices: 4,
      folds: 2,
      centre: true,
      cache,
    };
    const first = await runCalibration(opts);
    // per model: 4 reference speakers × 20 clips — bank and extra voices, for the shadow-side imposter null and
    // the guard's norm quantile — (blocks of 16: 5 queries) + 8 shadow speakers × 20 clips (⌈160/64⌉ = 3 queries)
    t.is(first.queries, 2 * (5 + 3));
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
    t.deepEqual(b.features.names, [...CALIBRATED_FEATURE_NAMES]);
    t.is(b.target?.name, 'tdnn-ce-target', 'the shadow-side reference is the target: pinned');
    t.deepEqual(
      b.references.map((r) => [r.name, r.path]),
      [['tdnn-ce-shadow', relative(attackDir, shadowModel)]],
    );
    t.deepEqual(
      b.calibration_references.map((r) => r.name),
      ['tdnn-ce-target'],
    );
    // shadow-only selection: all candidates scored, the best mean chosen, its members shipped
    const sel = b.notes?.selection as {
      attack_model: { candidates: { name: string; mean: number }[]; chosen: string };
      quantization_margin: { chosen: number };
      guard_norm_quantile: { chosen: number };
    };
    const names = sel.attack_model.candidates.map((c) => c.name);
    t.deepEqual(names.slice(0, 5), [...SELECTION_CANDIDATES]);
    t.is(names.length, 6, 'and the ensemble of the best two');
    const best = Math.max(...sel.attack_model.candidates.map((c) => c.mean));
    t.is(sel.attack_model.candidates.find((c) => c.name === b.attack_model)?.mean, best);
    t.deepEqual(
      b.models[0].members.map((m) => [m.classifier.kind, m.selected.length]),
      parseMembers(b.attack_model, true).map((m) => [m.kind, m.top ?? m.selected.length]),
    );
    t.is(b.models[0].quantization.margin, sel.quantization_margin.chosen);
    t.is(b.guard.norm_quantile, sel.guard_norm_quantile.chosen);
    t.is(b.plain_models.length, 2);
    t.is(b.references[0].guard_models.length, 2);
    t.is(b.baselines.encodermi_t_calibrated.length, 2);
    t.is(b.features.reference.voices_per_speaker, 4);
    mkdirSync(attackDir, { recursive: true });
    await writeBundle(attackPath, b);
    t.is((await readBundle(attackPath)).bundle.models.length, 2);
    // a shadow-side reference that trained on the shadow population is refused
    await t.throwsAsync(
      runCalibration({
        ...opts,
        targetModel: undefined,
        references: [shadowModel],
        calibrationReferences: [shadowModel],
      }),
      {
        instanceOf: ReferenceModelError,
        message: /shadow-side reference tdnn-ce-shadow trained on the shadow population/,
      },
    );
  },
);

run(
  'auditFiles: one query per model, calibrated features match a direct computation, p-value, typed errors',
  async (t) => {
    const cache = await SqliteEmbeddingCache.open(cachePath);
    const ctx = await openAuditContext({
      modelPath: targetModel,
      attackPath,
      cache,
      dataDir: speechocean,
      splitPath: splitFile,
    });
    try {
      // 4 speakers × 20 clips (bank + null voices): the calibration embedded all of them (its shadow-side imposter
      // null and the guard's norm quantile read the extra voices too), so the cache serves the bank
      t.is(ctx.target.bank.references.queries, 0);
      t.is(ctx.target.bank.references.speakers.length, 4);
      t.deepEqual(
        ctx.referenceModels.map((r) => r.model.manifest.name),
        ['tdnn-ce-shadow'],
      );
      t.is(ctx.nullSource, 'computed');
      t.deepEqual([...ctx.null.main.keys()], [2, 3]);
      t.is(ctx.null.setsPerN['3'], 4 * 4, '4 reference speakers × 4 subsets');
      const utts = await readUtterances(speechocean as string);
      const target = speakersOfGroup(await readSplit(splitFile), utts, 'target-member')[0];
      const paths = target.heldout.slice(0, 5).map((u) => u.path);
      const before = ctx.model.totalQueries;
      const r = await auditFiles(ctx, target.speaker, paths);
      t.is(r.queries, 2);
      t.deepEqual(r.queries_per_model, { 'tdnn-ce-target': 1, 'tdnn-ce-shadow': 1 });
      t.is(ctx.model.totalQueries - before, 1);
      t.is(r.voices, 5);
      t.is(r.model_n, 3);
      t.is(r.voice_sets, 4, '5 voices > n = 3: four 3-voice subsets averaged');
      t.is(r.model_sha256, ctx.model.sha256);
      t.is(r.attack_id, ctx.attackId);
      t.true(r.probability >= 0 && r.probability <= 1);
      t.true(r.p_value > 0 && r.p_value < 1);
      t.is(r.verdict, r.reason ? 'inconclusive' : r.p_value <= r.target_fpr ? 'member' : 'non-member');
      t.is(r.features.length, 252);
      t.is(r.quantized.length, 252);
      t.true(r.timings.decodeMs !== undefined && r.timings.featuresMs >= 0);
      // independent recomputation of the first voice set's features from the same clips
      const clips = await Promise.all(paths.map((p) => loadClip(p, { sampleRate: 16000 })));
      const set = voiceSubsets(5, 3)[0];
      const view = async (m: (typeof ctx)['target']): Promise<ModelView> => {
        const v = (await embedClipVoices(m.model, clips, ctx.voice)).perClip.flat();
        const pick = set.map((i) => v[i]);
        return {
          features: computeFeatures(pick, m.bank.bank).features,
          logNorms: voiceLogNorms(pick, m.bank.bank.mean),
        };
      };
      const direct = calibratedFeatures(await view(ctx.target), [await view(ctx.referenceModels[0])]);
      r.features.forEach((v, i) => t.true(Math.abs(v - direct[i]) < 1e-9, `${CALIBRATED_FEATURE_NAMES[i]}`));
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
      // the bundle is pinned to tdnn-ce-target: another target model is refused
      await t.throwsAsync(
        openAuditContext({
          modelPath: fixtureModel,
          attackPath,
          cache,
          dataDir: speechocean,
          splitPath: splitFile,
        }),
        { instanceOf: AttackBundleError, message: /calibrated for target tdnn-ce-target/ },
      );
    } finally {
      await ctx.close();
      await cache.close();
    }
  },
);

test('voiceSubsets: one set at n, balanced seeded subsets above', (t) => {
  t.deepEqual(voiceSubsets(3, 3), [[0, 1, 2]]);
  const s = voiceSubsets(20, 10);
  t.is(s.length, 4);
  for (const x of s) t.is(new Set(x).size, 10);
  const uses = new Array<number>(20).fill(0);
  s.flat().forEach((i) => uses[i]++);
  t.deepEqual(uses, new Array<number>(20).fill(2), 'every voice used equally often');
  t.deepEqual(voiceSubsets(20, 10), s, 'deterministic');
  t.is(voiceSubsets(100, 10).length, 16);
});

run(
  'evaluate: report rows, exported reference bank, second run makes 0 queries; audit from the exported bank',
  async (t) => {
    const cache = await SqliteEmbeddingCache.open(cachePath);
    const opts = {
      targetModel,
      attackPath,
      dataset: speechocean as string,
      split: splitFile,
      cache,
      exportReferences: true,
    };
    const first = await runEvaluation(opts);
    // reference banks now with every clip of the 4 reference speakers (null voices): 64 more clips per model
    t.is(first.speaker_clips, 160);
    t.deepEqual(Object.keys(first.queries_per_model), ['tdnn-ce-target', 'tdnn-ce-shadow']);
    t.true(first.speaker_queries <= 2 * Math.ceil(160 / 64));
    const again = await runEvaluation(opts);
    t.is(again.queries, 0);
    await cache.close();
    t.is(first.rows.length, 2 * 3 * 6, 'n × r × attacks');
    for (const row of first.rows) {
      t.true(
        [
          'slmia-sr',
          'slmia-sr-plain',
          'encodermi-t',
          'encodermi-t-calibrated',
          'encodermi-v',
          'encodermi-v-calibrated',
        ].includes(row.attack),
      );
      t.is(row.seeds, 5);
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
    t.is(json.rows.length, 36);
    const sr = first.rows.filter((r) => r.attack === 'slmia-sr');
    for (const row of sr) {
      t.deepEqual(
        row.verdicts?.map((v) => v.target_fpr),
        [0.01, 0.05],
      );
      for (const v of row.verdicts ?? []) t.true(v.fpr_ci95[0] <= v.fpr && v.fpr <= v.fpr_ci95[1]);
    }
    t.regex(readFileSync(files[0], 'utf8'), /\| slmia-sr \| 0 \|/);
    t.regex(readFileSync(files[2], 'utf8'), /^<svg/);
    // a hub without the dataset: the exported bank beside the bundle is used
    const refFile = join(attackDir, referencesFileName(first.target.sha256));
    t.true(existsSync(refFile));
    const ctx = await openAuditContext({
      modelPath: targetModel,
      attackPath,
      dataDir: join(dir, 'no-such-data'),
    });
    try {
      t.is(ctx.target.source, refFile);
      t.is(ctx.target.bank.references.embeddings.flat().length, 16);
      t.is(ctx.target.bank.references.extra.flat().length, 64, 'the null voices travel with the bank');
      t.is(
        ctx.referenceModels[0].source,
        join(attackDir, referencesFileName(ctx.referenceModels[0].model.sha256)),
      );
      t.is(ctx.nullSource, join(attackDir, nullFileName(ctx.attackId, ctx.model.sha256)));
    } finally {
      await ctx.close();
    }
  },
);
