/**
 * Benchmark (issue 12, target 3): the daemon's resident memory with the shipped unit's settings.
 *
 *   warm   `slmia daemon` with the environment of systemd/slmia.service and the shipped reference bank, then N
 *          audits over MQTT (10 real utterances each, member and non-member speakers alternating); RSS (VmRSS)
 *          after every audit, the peak (VmHWM), and the inference time of each audit from the daemon's log.
 *          Target: ≤ 150 MB after 500 audits, the last 200 within ±5 MB.
 *   cold   a first start without an exported reference bank: the daemon embeds the 500 reference clips of
 *          the canonical split into its empty cache; peak RSS (VmHWM) during start-up. Target: ≤ 250 MB.
 *          Needs the data folder (skipped without it).
 *
 * `--variants a,b,…` runs several daemons side by side (audits round-robin, so they see the same load) to
 * price each memory setting in inference time; see VARIANTS below.
 *
 *   make build && node --import=tsx bench/daemon-memory.ts [--audits 500] [--variants unit] [--no-cold]
 */
import { copyFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { DaemonConfigInput } from '../src/daemon/config.js';
import { DEFAULT_ATTACK, DEFAULT_MODEL } from '../src/daemon/config.js';
import { projectRoot, speechoceanDir } from '../src/paths.js';
import { Mosquitto } from '../test/helpers/mosquitto.js';
import { benchAudits, clipSource } from './lib/clips.js';
import { option } from './lib/args.js';
import { startBenchDaemon, unitEnvironment, type BenchDaemon } from './lib/daemon.js';
import { fmtIqr, load1, ratios, summarize } from './lib/paired.js';

const N = Number(option('--audits', '500'));
const unit = unitEnvironment();

/** A memory setting under test: daemon settings and environment on top of the unit's. */
interface Variant {
  label: string;
  /** Use an external Mosquitto broker instead of the embedded one. */
  external?: boolean;
  settings?: DaemonConfigInput;
  env?: Record<string, string>;
}
const VARIANTS: Record<string, Variant> = {
  unit: { label: 'the unit as shipped (arena off, 128 KiB mmap threshold, huge pages)' },
  before: {
    label: 'round 1 unit: arena on, glibc mmap threshold dynamic',
    settings: { onnxruntime: { cpu_mem_arena: true } },
    env: { MALLOC_MMAP_THRESHOLD_: '', GLIBC_TUNABLES: '' },
  },
  'arena-on': { label: 'unit, but onnxruntime arena on', settings: { onnxruntime: { cpu_mem_arena: true } } },
  'no-mmap-threshold': { label: 'unit, but no MALLOC_MMAP_THRESHOLD_', env: { MALLOC_MMAP_THRESHOLD_: '' } },
  'no-thp': { label: 'unit, but no huge pages (no GLIBC_TUNABLES)', env: { GLIBC_TUNABLES: '' } },
  'mmap-1m': { label: 'unit, but a 1 MiB mmap threshold', env: { MALLOC_MMAP_THRESHOLD_: '1048576' } },
  'mmap-4m': { label: 'unit, but a 4 MiB mmap threshold', env: { MALLOC_MMAP_THRESHOLD_: '4194304' } },
  'no-arena-max': { label: 'unit, but no MALLOC_ARENA_MAX', env: { MALLOC_ARENA_MAX: '' } },
  'semi-16': { label: 'unit, but V8 default semi-space (16 MB)', env: { NODE_OPTIONS: '' } },
  'node-defaults': {
    label: 'no memory settings (arena on, Node and glibc defaults)',
    settings: { onnxruntime: { cpu_mem_arena: true } },
    env: { NODE_OPTIONS: '', MALLOC_ARENA_MAX: '', MALLOC_MMAP_THRESHOLD_: '', GLIBC_TUNABLES: '' },
  },
  external: { label: 'unit, external broker (Mosquitto): aedes never loaded', external: true },
};
const chosen = option('--variants', 'unit').split(',');
for (const v of chosen) if (!VARIANTS[v]) throw new Error(`bench/daemon-memory: unknown variant ${v}`);

const envOf = (v: Variant): Record<string, string> => ({ ...unit, ...v.env });

// ---- warm: N audits on each variant, round-robin ----
const inference: Record<string, number[]> = {};
const daemons: Record<string, BenchDaemon> = {};
const brokers: Mosquitto[] = [];
for (const name of chosen) {
  const v = VARIANTS[name] as Variant;
  inference[name] = [];
  const broker = v.external ? await Mosquitto.start() : undefined;
  if (broker) brokers.push(broker);
  daemons[name] = await startBenchDaemon({
    settings: { spool: { enabled: false }, ...(broker && { mqtt: { url: broker.url } }), ...v.settings },
    env: envOf(v),
    onLog: (l) => {
      if (l.msg === 'audit committed')
        inference[name]?.push((l.timings as { inferenceMs?: number }).inferenceMs ?? NaN);
    },
  });
}
const audits = await benchAudits(N);
const rss: Record<string, number[]> = Object.fromEntries(chosen.map((n) => [n, []]));
const startRss = Object.fromEntries(chosen.map((n) => [n, (daemons[n] as BenchDaemon).rssMb()]));
const t0 = performance.now();
for (const [i, a] of audits.entries()) {
  for (const name of i % 2 === 0 ? chosen : [...chosen].reverse()) {
    const d = daemons[name] as BenchDaemon;
    const { response } = await d.audit({ transaction: `${name}-${i}`, speaker: a.speaker, files: a.files });
    if (response.status !== 'ok') throw new Error(`${name} audit ${i}: ${response.error}`);
    rss[name]?.push(d.rssMb());
  }
}
const warmS = (performance.now() - t0) / 1000;
const peaks = Object.fromEntries(chosen.map((n) => [n, (daemons[n] as BenchDaemon).peakMb()]));
for (const d of Object.values(daemons)) await d.stop();
for (const b of brokers) await b.stop();

const f0 = (x: number): string => x.toFixed(0);
const marks = [10, 50, 100, 200, 300, 400, 500].filter((m) => m <= N);
const lines = [
  `Unit environment ${JSON.stringify(unit)}; ${N} audits per daemon (10 utterances each, ${clipSource}), ${chosen.length} daemon(s) side by side, round-robin; ${warmS.toFixed(0)} s, load average ${load1()} at the end.`,
  '',
  `| variant | RSS after start MB | ${marks.map((m) => `after ${m}`).join(' | ')} | last ${Math.min(200, N)}: min–max (spread) | peak (VmHWM) | inference ms, median [p25–p75] | inference vs ${chosen[0]} (paired per audit) |`,
  `|---|---|${marks.map(() => '---').join('|')}|---|---|---|---|`,
  ...chosen.map((name) => {
    const r = rss[name] as number[];
    const last = r.slice(-Math.min(200, N));
    const lo = Math.min(...last);
    const hi = Math.max(...last);
    const inf = summarize(inference[name] as number[]);
    const rel = summarize(ratios(inference[name] as number[], inference[chosen[0] as string] as number[]));
    return `| ${name}: ${(VARIANTS[name] as Variant).label} | ${f0(startRss[name] as number)} | ${marks.map((m) => f0(r[m - 1] as number)).join(' | ')} | ${f0(lo)}–${f0(hi)} (${(hi - lo).toFixed(1)}) | ${f0(peaks[name] as number)} | ${inf.median.toFixed(1)} [${inf.p25.toFixed(1)}–${inf.p75.toFixed(1)}] | ${fmtIqr(rel)} |`;
  }),
];

// ---- cold: first start that embeds the reference bank ----
if (!process.argv.includes('--no-cold')) {
  const data = speechoceanDir();
  if (!data)
    lines.push('', 'Cold start: skipped (needs the speechocean762 data folder for the reference speakers).');
  else {
    for (const name of chosen) {
      const v = VARIANTS[name] as Variant;
      // The attack bundle alone in a folder, so no exported reference bank is found beside it.
      const dir = mkdtempSync(join(tmpdir(), 'slmia-cold-'));
      copyFileSync(resolve(projectRoot, DEFAULT_ATTACK), join(dir, 'attack.json'));
      const d = await startBenchDaemon({
        settings: {
          spool: { enabled: false },
          attack: join(dir, 'attack.json'),
          model: resolve(projectRoot, DEFAULT_MODEL),
          data_dir: join(dir, 'state'),
          reference_data_dir: data,
          ...v.settings,
        },
        env: envOf(v),
      });
      const peak = d.peakMb();
      const after = d.rssMb();
      await d.stop();
      lines.push(
        '',
        `Cold start (${name}): embeds the 500 reference clips into an empty cache in ${(d.startupMs / 1000).toFixed(1)} s; peak RSS (VmHWM) ${f0(peak)} MB, ${f0(after)} MB once started.`,
      );
    }
  }
}
console.log(lines.join('\n'));
