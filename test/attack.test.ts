import test from 'ava';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  accuracy,
  AttackBundleError,
  fitNull,
  NullFitError,
  nullPValue,
  nullThreshold,
  outOfObservedRange,
  parseBundle,
  AttackScorer,
  auroc,
  bootstrapAurocCi,
  dequantize,
  fitPlatt,
  fitQuantizer,
  plattProbability,
  quantize,
  readBundle,
  rocCurve,
  seededRng,
  thresholdForFpr,
  TooFewVoicesError,
  tprAtFpr,
  rankFeatures,
  selectAttackModels,
  trainAttackModel,
  writeBundle,
  type AttackBundle,
  type TrainingSample,
} from '../src/attack/index.js';
import { PLAIN_FEATURE_NAMES } from '../src/features/index.js';
import { projectRoot } from '../src/paths.js';
import { chooseMargin, clampRate } from '../src/audit/selection.js';

test('AUROC = Mann–Whitney with ties; ROC, TPR at FPR, accuracy, threshold for FPR', (t) => {
  t.is(auroc([0.9, 0.8, 0.3, 0.1], [1, 1, 0, 0]), 1);
  t.is(auroc([0.1, 0.3, 0.8, 0.9], [1, 1, 0, 0]), 0);
  // one tie between a member and a non-member counts 1/2: pairs (0.9>0.5, 0.9>0.2, 0.5=0.5, 0.5>0.2) → 3.5/4
  t.is(auroc([0.9, 0.5, 0.5, 0.2], [1, 1, 0, 0]), 0.875);
  t.true(Number.isNaN(auroc([1, 2], [1, 1])));
  const roc = rocCurve([0.9, 0.8, 0.7, 0.1], [1, 0, 1, 0]);
  t.deepEqual(
    roc.map((p) => [p.fpr, p.tpr]),
    [
      [0, 0],
      [0, 0.5],
      [0.5, 0.5],
      [0.5, 1],
      [1, 1],
    ],
  );
  t.is(tprAtFpr([0.9, 0.8, 0.7, 0.1], [1, 0, 1, 0], 0.01), 0.5);
  t.is(accuracy([0.9, 0.8, 0.7, 0.1], [1, 0, 1, 0], 0.5), 0.75);
  const neg = Array.from({ length: 200 }, (_, i) => i / 200);
  const thr = thresholdForFpr(neg, 0.01);
  t.is(neg.filter((v) => v >= thr).length, 2); // 1% of 200
  t.is(thresholdForFpr([0.2, 0.4], 0.01) > 0.4, true);
  const [lo, hi] = bootstrapAurocCi([0.9, 0.8, 0.7, 0.6, 0.4, 0.3, 0.75, 0.2], [1, 1, 1, 1, 0, 0, 0, 0]);
  t.true(lo <= hi && hi <= 1 && lo >= 0.5);
});

test('8-bit quantization: codes span 0..255 on the fitted rows, round trip within half a step, clamps outside', (t) => {
  const rows = [
    [0, -1, 5],
    [1, 1, 5],
    [0.5, 0, 5],
  ];
  const q = fitQuantizer(rows);
  t.deepEqual([...quantize(q, rows[0])], [0, 0, 0]);
  t.deepEqual([...quantize(q, rows[1])], [255, 255, 0]);
  const back = dequantize(q, quantize(q, [0.3, 0.77, 5]));
  t.true(Math.abs(back[0] - 0.3) <= q.scale[0] / 2 + 1e-12);
  t.true(Math.abs(back[1] - 0.77) <= q.scale[1] / 2 + 1e-12);
  t.is(back[2], 5);
  t.deepEqual([...quantize(q, [2, -3, 5])], [255, 0, 0]);
});

test('Platt scaling is monotone and calibrated on separable decision values', (t) => {
  const dec = [-3, -2, -1.5, -1, 1, 1.5, 2, 3];
  const y = [0, 0, 0, 0, 1, 1, 1, 1];
  const p = fitPlatt(dec, y);
  t.true(p.A < 0);
  const probs = dec.map((d) => plattProbability(p, d));
  for (let i = 1; i < probs.length; i++) t.true(probs[i] > probs[i - 1]);
  t.true(probs[0] < 0.2 && probs[7] > 0.8);
});

/** Synthetic shadow samples with F features: members have higher values in the first 10 features. */
function synthetic(n: number, seed: number, shift = 0.8, F = PLAIN_FEATURE_NAMES.length): TrainingSample[] {
  const rng = seededRng(seed);
  const g = (): number => Math.sqrt(-2 * Math.log(rng() + 1e-12)) * Math.cos(2 * Math.PI * rng());
  const out: TrainingSample[] = [];
  for (let s = 0; s < 40; s++) {
    const label = (s % 2) as 0 | 1;
    for (let k = 0; k < 3; k++) {
      const f = new Float64Array(F);
      for (let i = 0; i < f.length; i++) f[i] = g() + (label && i < 10 ? shift : 0) + n * 0.01;
      out.push({ features: f, label, speaker: `S${s}`, r: label ? [1, 0.5, 0][k] : 0 });
    }
  }
  return out;
}

const all = (F: number): number[] => [...Array(F).keys()];

function bundleOf(models: AttackBundle['models'], plain: AttackBundle['plain_models']): AttackBundle {
  return {
    format: 'slmia-attack',
    version: 2,
    created_at: new Date().toISOString(),
    command_line: 'test',
    shadow_models: [{ name: 'synthetic', sha256: '0'.repeat(64) }],
    target: null,
    references: [],
    calibration_references: [],
    features: {
      names: [...PLAIN_FEATURE_NAMES],
      similarity: 'cosine',
      centre: false,
      normalization: 'none',
      voice: { chunk_seconds: 2, pad: 'wrap' },
      reference: { group: 'imposter', speakers: 50, voices_per_speaker: 10 },
    },
    ratios: [0, 0.5, 1],
    target_fpr: 0.01,
    attack_model: 'svm:all+logistic:all',
    models,
    plain_models: plain,
    guard: { alpha: 0.025, norm_quantile: 0.95, norm_share: 0.5, range_share: 0.25, min_voice_seconds: 1 },
    null: { subsets: 4, seed: 1 },
    baselines: { encodermi_t: [], encodermi_v: [], encodermi_t_calibrated: [], encodermi_v_calibrated: [] },
  };
}

test('attack ensemble (RBF SVM + logistic): CV-chosen members separate held-out synthetic speakers; bundle round trip; n selection', async (t) => {
  const F = PLAIN_FEATURE_NAMES.length;
  const m2 = trainAttackModel(synthetic(2, 1), {
    n: 2,
    members: [
      { kind: 'svm', selected: all(F) },
      { kind: 'logistic', selected: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 50] },
    ],
    targetFpr: 0.01,
    Cs: [1, 10],
    gammaScales: [1],
    l2s: [0.1],
  });
  const m5 = trainAttackModel(synthetic(5, 2, 1.2), { n: 5, targetFpr: 0.01, l2s: [0.1, 1] });
  const plain = trainAttackModel(synthetic(2, 3, 0.8, 120), { n: 2, targetFpr: 0.01, l2s: [0.1] });
  t.deepEqual(
    m2.members.map((m) => [m.classifier.kind, m.selected.length, m.grid.length]),
    [
      ['svm', F, 2],
      ['logistic', 11, 1],
    ],
  );
  t.is(m5.members[0].classifier.kind, 'logistic');
  t.true(m2.calibration.oof_auroc > 0.85, `held-out AUROC ${m2.calibration.oof_auroc}`);
  t.true(m5.calibration.oof_auroc > 0.85, `held-out AUROC ${m5.calibration.oof_auroc}`);
  // z-scored member decisions: the out-of-fold decisions have mean 0 and std 1 after the member's own scaling
  for (const mem of m2.members) t.true(mem.decision.std > 0);
  const dir = mkdtempSync(join(tmpdir(), 'slmia-attack-'));
  const path = join(dir, 'attack.json');
  const id = await writeBundle(path, bundleOf([m2, m5], [plain]));
  const loaded = await readBundle(path);
  t.is(loaded.id, id);
  const scorer = new AttackScorer(loaded.bundle);
  t.deepEqual(scorer.voiceCounts, [2, 5]);
  t.is(scorer.modelFor(4).n, 2);
  t.is(scorer.modelFor(12).n, 5);
  t.throws(() => scorer.modelFor(1), { instanceOf: TooFewVoicesError });
  const test2 = synthetic(2, 99);
  const dec = test2.map((s) => scorer.score(s.features, 2).decision);
  const decFloat = test2.map((s) => scorer.score(s.features, 2, { quantized: false }).decision);
  const y = test2.map((s) => s.label);
  t.true(auroc(dec, y) > 0.85, `test AUROC ${auroc(dec, y)}`);
  t.true(Math.abs(auroc(dec, y) - auroc(decFloat, y)) < 0.02);
  const s = scorer.score(test2[1].features, 3);
  t.is(s.modelN, 2);
  t.is(s.probability, plattProbability(m2.platt, s.decision));
  t.is(s.quantized.length, F);
  t.is(s.outOfRange, 0);
  const far = scorer.score(new Float64Array(F).fill(1e6), 2);
  t.is(far.outOfRange, 1, 'every feature beyond the shadow range');
});

test('invalid bundles are rejected with the field named; version-1 bundles with a hint to recalibrate', async (t) => {
  const m = trainAttackModel(synthetic(2, 1), { n: 2, targetFpr: 0.01, l2s: [0.1] });
  const plain = trainAttackModel(synthetic(2, 3, 0.8, 120), { n: 2, targetFpr: 0.01, l2s: [0.1] });
  const bad = bundleOf([], [plain]);
  const err = await t.throwsAsync(writeBundle(join(tmpdir(), 'never.json'), bad), {
    instanceOf: AttackBundleError,
  });
  t.regex(err?.message ?? '', /models/);
  const good = bundleOf([m], [plain]);
  const names = { ...good, features: { ...good.features, names: [...PLAIN_FEATURE_NAMES].reverse() } };
  const e2 = await t.throwsAsync(writeBundle(join(tmpdir(), 'never.json'), names), {
    instanceOf: AttackBundleError,
  });
  t.regex(e2?.message ?? '', /features\.names\.0/);
  const swapped = bundleOf([m], [m]);
  const e3 = await t.throwsAsync(writeBundle(join(tmpdir(), 'never.json'), swapped), {
    instanceOf: AttackBundleError,
  });
  t.regex(e3?.message ?? '', /field "plain_models\.0\.quantization": expected 120 ranges/);
  const e4 = t.throws(() => parseBundle({ ...good, version: 1 }, 'old.json'), {
    instanceOf: AttackBundleError,
  });
  t.regex(e4?.message ?? '', /old\.json: format version 1 .*recalibrate/);
});

test('target-side null: Gaussian fit, upper-tail p-values and the threshold for a target FPR', (t) => {
  const scores = [-2, -1.5, -1, -0.5, 0, 0, 0.5, 1, 1.5, 2];
  const fit = fitNull(scores);
  t.is(fit.mean, 0);
  t.is(fit.samples, 10);
  t.is(fit.max, 2);
  t.true(Math.abs(fit.std - Math.sqrt(15 / 9)) < 1e-12, 'n − 1 standard deviation');
  t.true(Math.abs(nullPValue(fit, 0) - 0.5) < 1e-12);
  t.true(Math.abs(nullPValue(fit, fit.std) - 0.15865525393145707) < 1e-12);
  t.true(Math.abs(nullPValue(fit, -3 * fit.std) - 0.9986501019683699) < 1e-12);
  const thr = nullThreshold(fit, 0.05);
  t.true(Math.abs(thr - 1.6448536269514722 * fit.std) < 1e-9);
  t.true(Math.abs(nullPValue(fit, thr) - 0.05) < 1e-12);
  t.throws(() => fitNull([1, 2, 3]), { instanceOf: NullFitError });
  t.throws(() => fitNull(Array(20).fill(1)), { instanceOf: NullFitError });
});

test('out-of-range share: features constant in calibration (n = 2 per-voice std lists) are in range at their value', async (t) => {
  // The shipped default bundle's n = 2 model: 16 of its 252 features are constant over the shadow samples (e.g.
  // intra.pairs.by_voice.std.*: one other voice per voice at n = 2), so fitQuantizer stored scale 1 for them.
  const { bundle } = await readBundle(join(projectRoot, 'models', 'attack', 'tdnn-ce', 'attack.json'));
  const m2 = bundle.models.find((m) => m.n === 2);
  if (!m2) return t.fail('no n = 2 model');
  const q = m2.quantization;
  const constant = q.scale.flatMap((s, f) => (s === 1 ? [f] : []));
  t.is(constant.length, 16);
  t.true(constant.includes(PLAIN_FEATURE_NAMES.indexOf('intra.pairs.by_voice.std.mean')));
  // every feature in the middle of its observed range, the constant ones at their value
  const mid = Float64Array.from(q.min, (lo, f) => (q.scale[f] === 1 ? lo : lo + 127.5 * q.scale[f]));
  t.is(outOfObservedRange(q, mid), 0);
  t.is(new AttackScorer(bundle).score(mid, 2).outOfRange, 0, 'no share out of range at n = 2');
  // a constant feature off its value, a feature beyond the observed (un-widened) range, and a NaN are out
  const off = Float64Array.from(mid);
  off[constant[0]] += 1;
  const lo = (255 * q.margin) / (1 + 2 * q.margin);
  const f1 = q.scale.findIndex((s) => s !== 1);
  off[f1] = q.min[f1] + (lo - 2) * q.scale[f1];
  off[f1 + 1] = Number.NaN;
  t.is(outOfObservedRange(q, off), 3);
});

test('shadow-only selection: top-k features ranked on shadow samples, candidates scored out of fold, the best (or the ensemble of the best two) chosen', (t) => {
  const F = PLAIN_FEATURE_NAMES.length;
  const samples = synthetic(2, 4, 2);
  const y = samples.map((s) => s.label as number);
  const rows = samples.map((_, i) => i);
  const idx = {
    r0: rows.filter((i) => y[i] === 0 || samples[i].r === 0),
    r1: rows.filter((i) => y[i] === 0 || samples[i].r === 1),
  };
  // members are shifted in the first 10 features only: those rank first
  const ranked = rankFeatures(
    samples.map((s) => s.features),
    y,
    rows,
    idx,
  );
  t.deepEqual(
    [...ranked.slice(0, 10)].sort((a, b) => a - b),
    all(10),
  );
  const candidates = [
    { name: 'logistic:noise', members: [{ kind: 'logistic' as const, selected: [50, 60, 70, 80] }] },
    { name: 'logistic:top6', members: [{ kind: 'logistic' as const, selected: all(F), top: 6 }] },
    { name: 'logistic:all', members: [{ kind: 'logistic' as const, selected: all(F) }] },
  ];
  const r = selectAttackModels(
    [2, 3].map((n, k) => ({ n, samples: synthetic(n, 5 + k, 1.5) })),
    candidates,
    { targetFpr: 0.01, l2s: [0.1], quantizationMargin: 0.25 },
  );
  t.deepEqual(
    r.table.candidates.map((c) => c.name),
    ['logistic:noise', 'logistic:top6', 'logistic:all', 'logistic:top6+logistic:all'],
  );
  const noise = r.table.candidates[0];
  t.true(noise.mean < 0.7, `noise-only candidate ${noise.mean}`);
  const best = Math.max(...r.table.candidates.map((c) => c.mean));
  const chosen = r.table.candidates.find((c) => c.name === r.table.chosen);
  t.is(chosen?.mean, best);
  t.is(r.models.length, 2);
  for (const m of r.models) {
    t.is(m.quantization.margin, 0.25);
    t.deepEqual(
      m.members.map((x) => x.selected.length),
      r.chosen.members.map((x) => x.top ?? x.selected.length),
    );
    // the stored figures of the chosen candidate are those of the assembled model
    const row = chosen?.by_n.find((b) => b.n === m.n);
    t.is(row?.r0, m.calibration.oof_auroc_r0);
  }
  const top = r.table.candidates[1].by_n;
  t.true(
    top.every((b) => b.score > noise.mean + 0.15),
    JSON.stringify(top),
  );
});

test('quantization margin: the smallest candidate whose out-of-fold and null clamping rates are ≤ 0.5%', (t) => {
  const q = fitQuantizer([[0], [1]], 0);
  t.is(clampRate(q, [[0.5], [1.01], [-0.2], [1]]), 0.5);
  const samples = synthetic(2, 8);
  const m = chooseMargin([{ n: 2, samples }], new Map([[2, []]]), 3, 1);
  t.deepEqual(
    m.candidates.map((c) => c.margin),
    [0.1, 0.25, 0.5, 1],
  );
  // wider ranges clamp less
  for (let i = 1; i < m.candidates.length; i++)
    t.true(m.candidates[i].oof_clamp_rate <= m.candidates[i - 1].oof_clamp_rate);
  const first = m.candidates.find((c) => c.oof_clamp_rate <= 0.005 && c.null_clamp_rate <= 0.005);
  t.is(m.chosen, first?.margin ?? 1);
  // imposter-null rows far outside every range force the widest margin
  const far = new Map([[2, [new Float64Array(samples[0].features.length).fill(1e3)]]]);
  const m2 = chooseMargin([{ n: 2, samples }], far, 3, 1);
  t.is(m2.chosen, 1);
  t.is(m2.candidates[3].null_clamp_rate, 1);
});
