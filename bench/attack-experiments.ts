/**
 * Attack design experiments (shadow → target, one voice count): embedding centring, attack model, voice spec,
 * subsets. Embeddings come from the SQLite cache after the first run, so each configuration costs only the
 * feature computation and the attack training.
 *   node --import=tsx bench/attack-experiments.ts <shadow model.json> <target model.json> [n] [configs…]
 * A config is `name:key=value,...` with keys centre (0/1), model (attack ensemble, e.g. logistic:all+svm:all),
 * ref (1: the target is the shadow-side reference and the shadow the target-side one, difficulty calibration;
 * 0: plain attack), chunk (seconds|none), pad (wrap|none), subsets (k), ratios (a/b/c), refs (voices per reference
 * speaker), sim (cosine|l2), znorm (0/1); default: plain vs calibrated with the default ensemble.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeBundle } from '../src/attack/index.js';
import { runCalibration, runEvaluation } from '../src/audit/index.js';
import { speechoceanDir } from '../src/paths.js';
import { SqliteEmbeddingCache } from '../src/store/embedding-cache.js';
import { defaultCachePath } from '../src/cli/lab-options.js';

const [shadow, target, nText, ...configTexts] = process.argv.slice(2);
if (!shadow || !target)
  throw new Error('usage: attack-experiments.ts <shadow model.json> <target model.json> [n] [configs…]');
const n = Number(nText ?? 10);
const data = speechoceanDir();
if (!data) throw new Error('speechocean762 not found');
const configs = configTexts.length
  ? configTexts
  : [
      'plain:centre=1,ref=0',
      'calibrated:centre=1,ref=1',
      'calibrated-svm:centre=1,ref=1,model=logistic:all+logistic:compact+svm:all',
    ];
const cache = await SqliteEmbeddingCache.open(defaultCachePath());
const dir = mkdtempSync(join(tmpdir(), 'slmia-exp-'));
console.log(
  `| config | r=1 AUROC | r=0 AUROC | r=0 float | r=0 T | r=0 V | r=0 TPR@5% | calibrate s | evaluate s |`,
);
console.log('|---|---|---|---|---|---|---|---|---|');
for (const text of configs) {
  const cut = text.indexOf(':');
  const [name, kv] = cut < 0 ? [text, ''] : [text.slice(0, cut), text.slice(cut + 1)];
  const o = Object.fromEntries(
    kv
      .split(',')
      .filter(Boolean)
      .map((p) => [p.slice(0, p.indexOf('=')), p.slice(p.indexOf('=') + 1)]),
  ) as Record<string, string>;
  const chunk = o.chunk === 'none' ? undefined : Number(o.chunk ?? 2);
  const cal = await runCalibration({
    shadowModel: shadow,
    dataset: data,
    voiceCounts: [n],
    ratios: (o.ratios ?? '0/0.5/1').split('/').map(Number),
    voice: { chunkSeconds: chunk, pad: chunk ? ((o.pad ?? 'wrap') as 'wrap' | 'none') : 'none' },
    subsets: Number(o.subsets ?? 2),
    members: o.model,
    targetModel: o.ref === '0' ? undefined : target,
    bundleDir: dir,
    centre: o.centre === '1',
    znorm: o.znorm === '1',
    referenceVoices: Number(o.refs ?? 10),
    similarity: o.sim as 'cosine' | 'l2' | undefined,
    memberGroup: process.env.SLMIA_EXP_MEMBER_GROUP,
    nonmemberGroup: process.env.SLMIA_EXP_NONMEMBER_GROUP,
    cache,
  });
  const path = join(dir, `${name}.json`);
  await writeBundle(path, cal.bundle);
  const ev = await runEvaluation({
    targetModel: target,
    attackPath: path,
    dataset: data,
    cache,
    voiceCounts: [n],
  });
  const row = (a: string, r: number) => ev.rows.find((x) => x.attack === a && x.r === r);
  const f = (v: number | undefined) => (v === undefined ? 'n/a' : v.toFixed(3));
  const cv = cal.bundle.models[0].calibration;
  console.error(
    `${name}: shadow CV AUROC r=1 ${cv.oof_auroc_r1?.toFixed(3)} r=0 ${cv.oof_auroc_r0?.toFixed(3)}`,
  );
  console.log(
    `| ${name} (${kv}) | ${f(row('slmia-sr', 1)?.auroc)} | ${f(row('slmia-sr', 0)?.auroc)} | ${f(row('slmia-sr', 0)?.auroc_float)} | ${f(row('encodermi-t', 0)?.auroc)} | ${f(row('encodermi-v', 0)?.auroc)} | ${f(row('slmia-sr', 0)?.tpr_at_5pct_fpr)} | ${cal.seconds.toFixed(0)} | ${ev.wall_seconds.toFixed(0)} |`,
  );
}
await cache.close();
