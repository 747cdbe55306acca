/**
 * Fuzz smoke (CI-sized) over the daemon's YAML settings (test/helpers/config-fuzz.ts; the large run with its
 * figures: bench/fuzz-requests.ts, bench/RESULTS.md): 1,000 settings files — valid ones with odd values, unknown
 * and deleted keys, YAML-level mutations, alias bombs, random text and bytes — through
 * `slmia daemon --print-config -c <file>`: the settings printed (exit 0) or one typed `config.invalid` message
 * naming the file (exit 2); no other exit code, no stack trace, no hang (a case over 5 s).
 */
import test from 'ava';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { configFile, configTarget } from './helpers/config-fuzz.js';
import { assertClean, fuzz } from './helpers/fuzz.js';

test('fuzz: 1,000 settings files → valid settings or a typed config.invalid with exit 2, never a crash', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'slmia-fuzz-config-'));
  try {
    const r = await fuzz({
      name: 'config',
      seed: 1200,
      numRuns: 1000,
      arbitrary: configFile,
      run: configTarget(dir),
      hangMs: 5000,
    });
    assertClean(t, r, 1000);
    t.true(r.results >= 50, `${r.results} valid settings files`);
    t.true((r.typedErrors['config.invalid'] ?? 0) >= 300, JSON.stringify(r.typedErrors));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
