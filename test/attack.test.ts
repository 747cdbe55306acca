import test from 'ava';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  accuracy,
  AttackBundleError,
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
  trainAttackModel,
  writeBundle,
  type AttackBundle,
  type TrainingSample,
} from '../src/attack/index.js';
import { FEATURE_NAMES } from '../src/features/index.js';

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

/** Synthetic shadow samples: members have higher values in the first 10 features. */
function synthetic(n: number, seed: number, shift = 0.8): TrainingSample[] {
  const rng = seededRng(seed);
  const g = (): number => Math.sqrt(-2 * Math.log(rng() + 1e-12)) * Math.cos(2 * Math.PI * rng());
  const out: TrainingSample[] = [];
  for (let s = 0; s < 40; s++) {
    const label = (s % 2) as 0 | 1;
    for (let k = 0; k < 3; k++) {
      const f = new Float64Array(FEATURE_NAMES.length);
      for (let i = 0; i < f.length; i++) f[i] = g() + (label && i < 10 ? shift : 0) + n * 0.01;
      out.push({ features: f, label, speaker: `S${s}`, r: label ? [1, 0.5, 0][k] : 0 });
    }
  }
  return out;
}

function bundleOf(models: AttackBundle['models']): AttackBundle {
  return {
    format: 'slmia-attack',
    version: 1,
    created_at: new Date().toISOString(),
    command_line: 'test',
    shadow_models: [{ name: 'synthetic', sha256: '0'.repeat(64) }],
    features: {
      names: [...FEATURE_NAMES],
      similarity: 'cosine',
      centre: false,
      normalization: 'none',
      voice: { chunk_seconds: 2, pad: 'wrap' },
      reference: { group: 'imposter', speakers: 50, voices_per_speaker: 10 },
    },
    ratios: [0, 0.5, 1],
    target_fpr: 0.01,
    attack_model: 'svm',
    models,
    baselines: { encodermi_t: [], encodermi_v: [] },
  };
}

test('SVM attack: CV-chosen RBF model separates held-out synthetic speakers; bundle round trip; n selection', async (t) => {
  const m2 = trainAttackModel(synthetic(2, 1), {
    n: 2,
    kind: 'svm',
    targetFpr: 0.01,
    Cs: [1, 10],
    gammaScales: [1],
  });
  const m5 = trainAttackModel(synthetic(5, 2), { n: 5, kind: 'logistic', targetFpr: 0.01, l2s: [0.1] });
  t.is(m2.classifier.kind, 'svm');
  t.is(m2.calibration.grid.length, 2);
  t.true(m2.calibration.oof_auroc > 0.85, `held-out AUROC ${m2.calibration.oof_auroc}`);
  t.true(m5.calibration.oof_auroc > 0.85);
  const dir = mkdtempSync(join(tmpdir(), 'slmia-attack-'));
  const path = join(dir, 'attack.json');
  const id = await writeBundle(path, bundleOf([m2, m5]));
  const loaded = await readBundle(path);
  t.is(loaded.id, id);
  const scorer = new AttackScorer(loaded.bundle);
  t.deepEqual(scorer.voiceCounts, [2, 5]);
  t.is(scorer.modelFor(4).n, 2);
  t.is(scorer.modelFor(12).n, 5);
  t.throws(() => scorer.modelFor(1), { instanceOf: TooFewVoicesError });
  const test2 = synthetic(2, 99);
  const probs = test2.map((s) => scorer.score(s.features, 2).probability);
  const probsFloat = test2.map((s) => scorer.score(s.features, 2, { quantized: false }).probability);
  const y = test2.map((s) => s.label);
  t.true(auroc(probs, y) > 0.85, `test AUROC ${auroc(probs, y)}`);
  t.true(Math.abs(auroc(probs, y) - auroc(probsFloat, y)) < 0.02);
  const s = scorer.score(test2[1].features, 3);
  t.is(s.verdict, s.probability >= m2.threshold ? 'member' : 'non-member');
  t.is(s.quantized.length, 120);
});

test('invalid bundles are rejected with the field named', async (t) => {
  const bad = bundleOf([]);
  const err = await t.throwsAsync(writeBundle(join(tmpdir(), 'never.json'), bad), {
    instanceOf: AttackBundleError,
  });
  t.regex(err?.message ?? '', /models/);
  const m = trainAttackModel(synthetic(2, 1), { n: 2, kind: 'logistic', targetFpr: 0.01, l2s: [0.1] });
  const good = bundleOf([m]);
  const names = { ...good, features: { ...good.features, names: [...FEATURE_NAMES].reverse() } };
  const e2 = await t.throwsAsync(writeBundle(join(tmpdir(), 'never.json'), names), {
    instanceOf: AttackBundleError,
  });
  t.regex(e2?.message ?? '', /features\.names\.0/);
});
