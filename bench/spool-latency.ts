/**
 * Benchmark (issue 12, target 5): spool folder → MQTT response, beyond the audit itself. A producer copies 10
 * real utterances into `<spool>/<speaker>/`, then writes `.ready`; the clock runs from the marker's write to
 * the response on `bridge/response/audit`. "Beyond the audit" = that wall time − the daemon's own job time
 * (`totalMs` of its `audit committed` log: decode → SQLite commit).
 *
 * Arms, interleaved per round (paired, order alternating):
 *   watch   daemon with `spool.watch: true` (chokidar/inotify events; poll_ms 1000 as the fallback)
 *   poll    daemon with `spool.watch: false` (the 1 s scan only: the behaviour before)
 *   mqtt    the same audit as an MQTT request to the first daemon (the request path's own overhead)
 *
 *   make build && node --import=tsx bench/spool-latency.ts [--rounds 12]
 */
import { copyFileSync, mkdtempSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { option } from './lib/args.js';
import { benchAudits, clipSource } from './lib/clips.js';
import { startBenchDaemon, unitEnvironment, type BenchDaemon } from './lib/daemon.js';
import { fmt, load1, summarize } from './lib/paired.js';

const rounds = Number(option('--rounds', '12'));
const audits = await benchAudits(10);
const totalMs = new Map<string, number>();
const responses = new Map<string, (t: number) => void>();
const onLog = (l: Record<string, unknown>): void => {
  if (l.msg === 'audit committed')
    totalMs.set(String(l.transaction), (l.timings as { totalMs: number }).totalMs);
};

async function start(watch: boolean): Promise<{ d: BenchDaemon; spool: string }> {
  const spool = mkdtempSync(join(tmpdir(), 'slmia-spool-'));
  const d = await startBenchDaemon({
    settings: { spool: { enabled: true, dir: spool, watch, poll_ms: 1000 } },
    env: unitEnvironment(),
    onLog,
  });
  d.client.on('message', (_t, p) => {
    const r = JSON.parse(p.toString()) as { transaction: string };
    responses.get(String(r.transaction))?.(performance.now());
  });
  return { d, spool };
}
const daemons = { watch: await start(true), poll: await start(false) };

let seq = 0;
/** One spool audit: returns [wall ms from .ready to response, ms beyond the daemon's job]. */
async function viaSpool(name: keyof typeof daemons, i: number): Promise<[number, number]> {
  const a = audits[i] as (typeof audits)[number];
  const transaction = `${name}-${seq++}`;
  const { spool } = daemons[name];
  // Stage the folder outside the spool, move it in whole, then write the marker (as a producer should).
  const staging = mkdtempSync(join(tmpdir(), 'slmia-stage-'));
  for (const f of a.files) copyFileSync(f, join(staging, basename(f)));
  const folder = join(spool, a.speaker);
  renameSync(staging, folder);
  const done = new Promise<number>((r) => responses.set(transaction, r));
  const t0 = performance.now();
  writeFileSync(join(folder, '.ready'), JSON.stringify({ transaction }));
  const wall = (await done) - t0;
  responses.delete(transaction);
  return [wall, wall - (totalMs.get(transaction) ?? NaN)];
}
async function viaMqtt(i: number): Promise<[number, number]> {
  const a = audits[i] as (typeof audits)[number];
  const transaction = `mqtt-${seq++}`;
  const { ms } = await daemons.watch.d.audit({ transaction, speaker: a.speaker, files: a.files });
  await new Promise((r) => setTimeout(r, 20)); // the commit log line may trail the response
  return [ms, ms - (totalMs.get(transaction) ?? NaN)];
}

const out: Record<string, { wall: number[]; beyond: number[] }> = {
  watch: { wall: [], beyond: [] },
  poll: { wall: [], beyond: [] },
  mqtt: { wall: [], beyond: [] },
};
const arms: [string, (i: number) => Promise<[number, number]>][] = [
  ['watch', (i) => viaSpool('watch', i)],
  ['poll', (i) => viaSpool('poll', i)],
  ['mqtt', viaMqtt],
];
for (let r = -2; r < rounds; r++) {
  const i = (r + audits.length) % audits.length;
  for (const [name, run] of r % 2 === 0 ? arms : [...arms].reverse()) {
    const [wall, beyond] = await run(i);
    // Rounds −2 and −1 warm the daemons up.
    if (r >= 0) {
      out[name]?.wall.push(wall);
      out[name]?.beyond.push(beyond);
    }
  }
}
for (const { d } of Object.values(daemons)) await d.stop();

console.log(
  [
    `Clips from ${clipSource}; 10-utterance audits, ${rounds} paired rounds after 2 warm-up rounds, load average ${load1()}; unit environment.`,
    '',
    '| path | wall ms (marker → response) | **beyond the audit** ms (wall − job time) |',
    '|---|---|---|',
    ...Object.entries(out).map(
      ([k, v]) =>
        `| ${k === 'watch' ? 'spool, watched (chokidar events)' : k === 'poll' ? 'spool, 1 s poll only (before)' : 'MQTT request (for comparison)'} | ${fmt(summarize(v.wall))} | **${fmt(summarize(v.beyond))}** |`,
    ),
  ].join('\n'),
);
