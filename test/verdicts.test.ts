/**
 * Calibrated verdicts with the committed default bundle (models/attack/tdnn-ce: tdnn-ce-target audited with
 * tdnn-ce-shadow as the reference model, the shipped reference banks and target null; no dataset needed for
 * them): a member with all 20 of its utterances (more voices than the largest attack model) is a member, a
 * non-member is not, out-of-domain keywords are never a member, and the verdict, p-value and reason agree.
 */
import test from 'ava';
import { copyFileSync, existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, extname, join, resolve } from 'node:path';
import { TooFewVoicesError } from '../src/attack/index.js';
import { auditFiles, openAuditContext, type AuditContext } from '../src/audit/index.js';
import { dataDir, projectRoot } from '../src/paths.js';
import { NO_DATA, speechocean } from './helpers/data.js';

const attackPath = resolve(projectRoot, 'models', 'attack', 'tdnn-ce', 'attack.json');
const modelPath = resolve(projectRoot, 'models', 'tdnn-ce-target', 'model.json');
const arabic = resolve(dataDir(), 'arabic-speech-commands');
const run = speechocean ? test.serial : test.skip;
if (!speechocean) console.log(`verdicts.test: ${NO_DATA}`);

let ctx: AuditContext | undefined;
const context = async (): Promise<AuditContext> =>
  // no dataDir: the banks and the null must come from the files shipped beside the bundle
  (ctx ??= await openAuditContext({ modelPath, attackPath, dataDir: join(projectRoot, 'no-such-data') }));
test.after.always(async () => ctx?.close());

const clipsOf = (speaker: string): string[] => {
  const dir = resolve(speechocean as string, 'audio', speaker);
  return readdirSync(dir)
    .filter((f) => f.endsWith('.flac'))
    .sort()
    .map((f) => join(dir, f));
};

run('the shipped bundle opens from its own files: reference model, banks and null beside it', async (t) => {
  const c = await context();
  t.is(c.bundle.target?.sha256, c.model.sha256, 'pinned to tdnn-ce-target');
  t.deepEqual(
    c.referenceModels.map((r) => r.model.manifest.name),
    ['tdnn-ce-shadow'],
  );
  t.regex(c.target.source, /models\/attack\/tdnn-ce\/references-2462b48fc6c4\.json$/);
  t.regex(c.nullSource, /models\/attack\/tdnn-ce\/null-[0-9a-f]{16}-2462b48fc6c4\.json$/);
  t.deepEqual(
    [...c.null.main.keys()].sort((a, b) => a - b),
    [2, 3, 5, 10],
  );
});

run('SPEAKER0005 (target member) with all 20 utterances — 10 trained on, 10 not — is a member', async (t) => {
  const r = await auditFiles(await context(), 'SPEAKER0005', clipsOf('SPEAKER0005'));
  t.is(r.voices, 20);
  t.is(r.model_n, 10);
  t.is(r.voice_sets, 4, '20 voices > n = 10: four 10-voice subsets averaged');
  t.deepEqual(r.queries_per_model, { 'tdnn-ce-target': 1, 'tdnn-ce-shadow': 1 });
  t.is(r.verdict, 'member', `p-value ${r.p_value}, reason ${r.reason}`);
  t.true(r.p_value <= r.target_fpr);
  t.true(r.probability >= r.threshold);
  t.is(r.reason, null);
});

run('SPEAKER0003 (target non-member) is not a member; its p-value is a tail probability', async (t) => {
  const r = await auditFiles(await context(), 'SPEAKER0003', clipsOf('SPEAKER0003'));
  t.not(r.verdict, 'member', `p-value ${r.p_value}`);
  t.true(r.p_value > r.target_fpr);
  t.true(r.p_value > 0 && r.p_value < 1);
});

run('fewer voices than the smallest attack model: a typed error before any query', async (t) => {
  const c = await context();
  const q = c.model.totalQueries;
  const one = clipsOf('SPEAKER0005').slice(0, 1);
  const e = await t.throwsAsync(auditFiles(c, 'SPEAKER0005', one), { instanceOf: TooFewVoicesError });
  // the message names the speaker and the clip, not only the counts
  t.regex(e?.message ?? '', /^speaker "SPEAKER0005", 1 clip\(s\) \(.+\.(wav|flac)\): 1 voice\(s\) given/);
  t.true(e?.message.includes(basename(one[0] as string)));
  t.is(c.model.totalQueries, q);
});

run(
  'a clip given twice is audited once: copies add no voices, and ten copies of one clip are too few voices',
  async (t) => {
    const c = await context();
    const clips = clipsOf('SPEAKER0005').slice(0, 6);
    const dir = mkdtempSync(join(tmpdir(), 'slmia-dup-'));
    // the same recording again: a byte copy under another name, and the same path given twice
    const copy = join(dir, 'copy-of-first' + extname(clips[0] as string));
    copyFileSync(clips[0] as string, copy);
    const withCopies = await auditFiles(c, 'SPEAKER0005', [...clips, copy, clips[1] as string]);
    const plain = await auditFiles(c, 'SPEAKER0005', clips);
    t.is(withCopies.voices, plain.voices);
    t.is(withCopies.p_value, plain.p_value);
    t.is(withCopies.verdict, plain.verdict);
    t.deepEqual(
      withCopies.clips.filter((x) => x.duplicate_of).map((x) => [x.source, x.duplicate_of]),
      [
        [copy, clips[0]],
        [clips[1], clips[1]],
      ],
    );
    const q = c.model.totalQueries;
    const e = await t.throwsAsync(auditFiles(c, 'SPEAKER0003', Array(10).fill(clipsOf('SPEAKER0003')[0])), {
      instanceOf: TooFewVoicesError,
    });
    t.regex(e?.message ?? '', /10 clip\(s\) .*9 of them duplicates of another clip: 1 voice\(s\) given/);
    t.is(c.model.totalQueries, q);
  },
);

(existsSync(arabic) ? run : test.skip)(
  'out-of-domain: 10 repetitions of one Arabic keyword are inconclusive (voices too short), never member',
  async (t) => {
    const dir = resolve(arabic, 'audio', 'SPK00000002');
    const files = readdirSync(dir)
      .filter((f) => f.startsWith('ok_'))
      .sort()
      .map((f) => join(dir, f));
    const r = await auditFiles(await context(), 'SPK00000002', files.slice(0, 10));
    t.is(r.verdict, 'inconclusive');
    t.is(r.reason, 'voices-too-short');
    t.true(r.guard.median_voice_seconds < (await context()).bundle.guard.min_voice_seconds);
    t.regex(r.guard.detail ?? '', /record longer utterances/);
  },
);

test('every committed bundle ships the banks of its target and reference models and its current null (no stale files)', async (t) => {
  const { readBundle } = await import('../src/attack/index.js');
  const { nullFileName, referencesFileName } = await import('../src/audit/index.js');
  const root = resolve(projectRoot, 'models', 'attack');
  let checked = 0;
  for (const dir of readdirSync(root)) {
    const path = resolve(root, dir, 'attack.json');
    if (!existsSync(path)) continue;
    const { bundle, id } = await readBundle(path);
    const files = readdirSync(resolve(root, dir));
    if (!bundle.target) continue; // not pinned: the null depends on the target it is opened with
    const want = [
      nullFileName(id, bundle.target.sha256),
      referencesFileName(bundle.target.sha256),
      ...bundle.references.map((r) => referencesFileName(r.sha256)),
    ];
    for (const w of want) t.true(files.includes(w), `${dir}: ${w} missing`);
    t.deepEqual(
      files.filter((f) => f.startsWith('null-')),
      [want[0]],
      `${dir}: one null, of this bundle and target`,
    );
    checked++;
  }
  t.true(checked >= 4, `${checked} bundles checked`);
});

test('a null file is reused only for the banks it was computed from: another preprocessing label makes it stale', async (t) => {
  const { readNullFile, writeNullFile, nullFileName } = await import('../src/audit/index.js');
  const { mkdtempSync, readFileSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const dir = resolve(projectRoot, 'models', 'attack', 'tdnn-ce');
  const file = readdirSync(dir).find((f) => f.startsWith('null-')) as string;
  const shipped = JSON.parse(readFileSync(join(dir, file), 'utf8'));
  const label = (sha: string): string =>
    JSON.parse(readFileSync(join(dir, `references-${sha.slice(0, 12)}.json`), 'utf8')).preprocessing;
  const ids = {
    attackId: shipped.attack_id,
    targetSha256: shipped.target_sha256,
    referenceSha256: shipped.reference_sha256,
    preprocessing: [shipped.target_sha256, ...shipped.reference_sha256].map(label),
  };
  t.deepEqual(
    shipped.preprocessing,
    ids.preprocessing,
    'the shipped null names the banks it was computed from',
  );
  const nul = await readNullFile(join(dir, file), ids);
  t.deepEqual(
    [...(nul?.main.keys() ?? [])].sort((a, b) => a - b),
    [2, 3, 5, 10],
  );
  const other = {
    ...ids,
    preprocessing: [ids.preprocessing[0].replace(/^rev=\d+/, 'rev=999'), ids.preprocessing[1]],
  };
  t.is(await readNullFile(join(dir, file), other), undefined, 'banks of another front-end revision: stale');
  // round trip through a written file; a file without labels (written before they existed) is stale too
  const tmp = join(mkdtempSync(join(tmpdir(), 'slmia-null-')), nullFileName(ids.attackId, ids.targetSha256));
  await writeNullFile(tmp, nul as NonNullable<typeof nul>, ids);
  t.deepEqual((await readNullFile(tmp, ids))?.main.get(10), nul?.main.get(10));
  const { writeFileSync } = await import('node:fs');
  const { preprocessing: _p, ...unlabelled } = JSON.parse(readFileSync(tmp, 'utf8'));
  writeFileSync(tmp, JSON.stringify(unlabelled));
  t.is(await readNullFile(tmp, ids), undefined);
});
