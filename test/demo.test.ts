/**
 * `make run` on a machine without ../shared (issue 12, target 8): the shipped demo set reads like the data
 * folder, and `slmia daemon --demo` audits it over MQTT on the embedded broker with the shipped reference bank,
 * printing both verdicts next to the truth. Runs with SLMIA_DATA_DIR pointing nowhere.
 */
import test from 'ava';
import { execFile } from 'node:child_process';
import { mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import { readSplit, readUtterances, speakersOfGroup } from '../src/dataset/index.js';
import { demoDir, projectRoot } from '../src/paths.js';

const run = promisify(execFile);

test('the demo set is a target member (10 heldout clips) and a non-member, ≤ 1 MB, in the data layout', async (t) => {
  const dir = demoDir();
  const split = await readSplit(resolve(dir, 'splits', 'five-way.tsv'));
  const utts = await readUtterances(dir);
  const member = speakersOfGroup(split, utts, 'target-member');
  const nonmember = speakersOfGroup(split, utts, 'target-nonmember');
  t.deepEqual(
    member.map((s) => [s.speaker, s.train.length, s.heldout.length]),
    [['SPEAKER0005', 0, 10]],
  );
  t.deepEqual(
    nonmember.map((s) => [s.speaker, s.train.length, s.heldout.length]),
    [['SPEAKER0003', 0, 10]],
  );
  const bytes = [...utts.values()].reduce((a, u) => a + statSync(u.path).size, 0);
  t.true(bytes <= 1_000_000, `${bytes} bytes of audio`);
});

test('slmia daemon --demo audits the demo set without ../shared and prints both verdicts with the truth', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'slmia-demo-'));
  const config = join(dir, 'config.yaml');
  writeFileSync(
    config,
    stringify({
      data_dir: join(dir, 'state'),
      spool: { enabled: false },
      mqtt: { embedded: { port: 0 } },
    }),
  );
  const { stdout } = await run(
    process.execPath,
    ['--import=tsx', join(projectRoot, 'src', 'cli.ts'), 'daemon', '--demo', '-c', config],
    { cwd: projectRoot, env: { ...process.env, SLMIA_DATA_DIR: join(dir, 'no-data') }, timeout: 240_000 },
  );
  const verdicts = stdout.split('\n').filter((l) => l.startsWith('verdict: '));
  t.is(verdicts.length, 2, stdout);
  t.regex(
    verdicts[0] as string,
    /^verdict: SPEAKER0005 → \S+ .*10 voices, 2 model queries.*the canonical split says member/,
  );
  t.regex(
    verdicts[1] as string,
    /^verdict: SPEAKER0003 → \S+ .*10 voices, 2 model queries.*the canonical split says non-member/,
  );
  t.regex(stdout, /fresh utterances \(never trained on, mixing ratio r = 0\)/);
});
