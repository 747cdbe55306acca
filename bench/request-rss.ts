/**
 * Benchmark: the daemon's memory under a 2,000-file audit request (issue 10 "the daemon's RSS stays bounded
 * under the 2,000-file request"). Each case runs in a fresh `slmia daemon` child (dist/cli.js, embedded broker,
 * the unit's memory settings), so the peak (VmHWM) belongs to that request alone:
 *   - `10 files`: an ordinary audit, for scale;
 *   - `2,000 files, default caps`: `files.max_files` (200) answers `request.invalid` before anything is read;
 *   - `2,000 files allowed`: `files.max_files: 2000`, `requests.max_seconds` and `files.max_request_bytes`
 *     raised so the whole request is decoded and audited (real speechocean762 utterances, ~3,700 s of audio).
 * RSS is sampled every 50 ms while the request runs.
 *
 *   make build && node --import=tsx bench/request-rss.ts [--files 2000]
 */
import { resolve } from 'node:path';
import { loadClip } from '../src/audio/index.js';
import { DEFAULT_MODEL, type DaemonConfigInput } from '../src/daemon/config.js';
import { readUtterances, type Utterance } from '../src/dataset/index.js';
import { readManifest } from '../src/model/index.js';
import { projectRoot, speechoceanDir } from '../src/paths.js';
import { option } from './lib/args.js';
import { startBenchDaemon, unitEnvironment } from './lib/daemon.js';

const N = Number(option('--files', '2000'));
const data = speechoceanDir();
if (!data) throw new Error('bench/request-rss: speechocean762 not found (set SLMIA_DATA_DIR)');
const utts = await readUtterances(data);
// Real utterances that the speech-activity stage accepts (one clip without speech fails a whole audit).
const model = await readManifest(resolve(projectRoot, DEFAULT_MODEL));
const chosen: Utterance[] = [];
for (const u of utts.values()) {
  if (chosen.length === N) break;
  try {
    await loadClip(u.path, {
      sampleRate: model.manifest.sample_rate,
      minSeconds: model.manifest.min_seconds,
    });
    chosen.push(u);
  } catch {
    // audio.no-speech / too-short: not part of the request
  }
}
const files = chosen.map((u) => u.path);
const seconds = chosen.reduce((a, u) => a + u.seconds, 0);

interface Case {
  name: string;
  files: string[];
  settings: DaemonConfigInput;
}
const allow = (n: number): DaemonConfigInput => ({
  files: { max_files: Math.max(n, 200), max_request_bytes: 2 ** 34 },
  requests: { max_seconds: 86_400 },
});
const cases: Case[] = [
  { name: '10 files (default caps)', files: files.slice(0, 10), settings: {} },
  { name: `${N} files, default caps (max_files 200)`, files, settings: {} },
  ...[64, 200, 500, 1000, N].map((n) => ({
    name: `${n} files allowed (max_files ${Math.max(n, 200)})`,
    files: files.slice(0, n),
    settings: allow(n),
  })),
];

console.error(`request-rss: ${N} files, ${seconds.toFixed(0)} s of audio`);
const rows: string[] = [];
for (const c of cases) {
  const d = await startBenchDaemon({
    settings: { log_level: 'info', spool: { enabled: false }, ...c.settings },
    env: unitEnvironment(),
  });
  try {
    const before = d.rssMb();
    let max = before;
    const timer = setInterval(() => (max = Math.max(max, d.rssMb())), 50);
    const { ms, response } = await d.audit({
      transaction: `rss-${Date.now()}`,
      speaker: 'bench',
      files: c.files,
    });
    clearInterval(timer);
    const after = d.rssMb();
    const peak = d.peakMb();
    const what =
      response.status === 'ok'
        ? `ok (${response.data.voices} voices, ${response.data.queries} queries)`
        : `${response.code}`;
    rows.push(
      `| ${c.name} | ${what} | ${(ms / 1000).toFixed(1)} | ${before.toFixed(0)} | ${max.toFixed(0)} | ${peak.toFixed(0)} | ${after.toFixed(0)} |`,
    );
    console.error(rows.at(-1));
  } finally {
    await d.stop();
  }
}
console.log(
  '| request | answer | wall s | RSS before MB | RSS max (50 ms samples) MB | peak VmHWM MB | RSS after MB |',
);
console.log('|---|---|---|---|---|---|---|');
for (const r of rows) console.log(r);
