/**
 * The real-world input cases (../shared/cases/real-world-inputs) through the command a user types:
 * `slmia audit` on the shipped default target and bundle (no --target / --attack). Bad inputs exit 2 with
 * `slmia: <file>: <problem>` and print no verdict; the 8-bit member keeps its verdict.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { projectRoot } from '../src/paths.js';
import { casesDir, casesTest } from './helpers/data.js';

const run = promisify(execFile);
const cli = resolve(projectRoot, 'dist', 'cli.js');

/**
 * `slmia audit --speaker <speaker> <args>` on the default bundle, with an embedding cache of its own;
 * exit code, stdout, stderr.
 */
async function audit(
  speaker: string,
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'slmia-cli-cases-'));
  const cache = join(dir, 'cache.sqlite');
  try {
    const { stdout, stderr } = await run(
      process.execPath,
      [cli, 'audit', '--speaker', speaker, '--cache', cache, ...args],
      { timeout: 120_000 },
    );
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

casesTest('slmia audit: speaker/silence exits 2 naming the first silent file, no verdict', async (t) => {
  const r = await audit('SILENCE', [resolve(casesDir, 'speaker', 'silence')]);
  t.is(r.code, 2, r.stderr);
  t.is(r.stdout, '');
  t.regex(
    r.stderr,
    /^slmia: \S+\/speaker\/silence\/010290003\.wav: 0\.00 s of speech in 1\.72 s of audio \(voice activity detection\); the model needs at least 0\.3 s of speech\n$/,
  );
});

casesTest('slmia audit: c09c (FLAC cut short) with c00 exits 2 naming c09c as truncated', async (t) => {
  const r = await audit('C09C', [
    resolve(casesDir, 'c00_baseline_pcm16.wav'),
    resolve(casesDir, 'c09c_flac_cut_last_100_bytes.flac'),
  ]);
  t.is(r.code, 2, r.stderr);
  t.is(r.stdout, '');
  t.regex(
    r.stderr,
    /^slmia: \S+\/c09c_flac_cut_last_100_bytes\.flac: FLAC STREAMINFO declares 32000 samples but only 28672 could be decoded/,
  );
  t.notRegex(r.stderr, /TypeError|at .*\.js:\d+/, 'no internal exception text');
});

casesTest(
  'slmia audit --json on the default bundle: speaker/s8bit (8-bit PCM of member SPEAKER1029) is member',
  async (t) => {
    const r = await audit('S8BIT', ['--json', resolve(casesDir, 'speaker', 's8bit')]);
    t.is(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout) as {
      verdict: string;
      p_value: number;
      reason: string | null;
      voices: number;
      clips: unknown[];
      queries_per_model: Record<string, number>;
      references: { model: string }[];
    };
    t.is(j.verdict, 'member');
    t.is(j.reason, null);
    t.true(j.p_value < 1e-4, `p ${j.p_value}`);
    t.is(j.clips.length, 20);
    t.is(j.voices, 20);
    t.deepEqual(j.queries_per_model, { 'tdnn-ce-target': 1, 'tdnn-ce-shadow': 1 });
    t.deepEqual(
      j.references.map((m) => m.model),
      ['tdnn-ce-target', 'tdnn-ce-shadow'],
    );
  },
);
