/**
 * Benchmark (issue 12, target 1): a warm daemon audit over MQTT against the pure onnxruntime time of the same
 * clips, on the quiet machine and with one core kept busy by another process (the voice assistant a hub
 * audits shares its cores).
 *
 * Arms, interleaved per round (paired; the order alternates), 10-clip audits of real speakers:
 *   ort          the queries the audit makes, in this process: session.run of the audit's prepared input batch
 *                on the target model and on each reference model of the attack bundle (difficulty
 *                calibration: 1 query of each for 10 voices), with the daemon's session options (spinning
 *                off, arena off, threads = CPUs) and the unit's malloc settings
 *   ort-arena    the same with onnxruntime's CPU arena on (the fastest pure onnxruntime here)
 *   ort-default  onnxruntime's defaults (idle threads spin, arena on)
 *   daemon       `slmia daemon` (child process, embedded broker, the unit's environment): request published →
 *                response received
 *   daemon-spin  a second daemon with `onnxruntime.spinning: true`
 * Ratios per round: daemon / ort (same options) and daemon / the fastest of the three pure arms. Also the
 * daemon's stage times from its `audit committed` log.
 *
 *   make build && node --import=tsx bench/daemon-overhead.ts [--rounds 20]
 */
import { spawnSync } from 'node:child_process';
import { cpus } from 'node:os';
import { dirname, resolve } from 'node:path';
import * as ort from 'onnxruntime-node';
import { loadClip } from '../src/audio/index.js';
import { bundleVoiceSpec } from '../src/audit/audit-speaker.js';
import { readBundle } from '../src/attack/index.js';
import { DEFAULT_ATTACK, DEFAULT_MODEL } from '../src/daemon/config.js';
import { clipToVoices } from '../src/features/index.js';
import { fbankReady, runFrontend } from '../src/frontend/index.js';
import { readManifest, sessionOptions, type ModelManifest } from '../src/model/index.js';
import { projectRoot } from '../src/paths.js';
import { option } from './lib/args.js';
import { benchAudits, clipSource } from './lib/clips.js';
import { startBenchDaemon, unitEnvironment, type BenchDaemon } from './lib/daemon.js';
import { fmt, load1, ratios, summarize, withBusyCore } from './lib/paired.js';

// The pure onnxruntime arms run in this process: give it the unit's malloc settings first (glibc reads them at
// start-up, GLIBC_TUNABLES included), so that they allocate as the daemon does.
const unitEnv = unitEnvironment();
if (
  Object.entries(unitEnv).some(
    ([k, v]) => (k.startsWith('MALLOC_') || k === 'GLIBC_TUNABLES') && process.env[k] !== v,
  )
) {
  const r = spawnSync(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
    stdio: 'inherit',
    env: { ...process.env, ...unitEnv },
  });
  process.exit(r.status ?? 1);
}

const rounds = Number(option('--rounds', '20'));
const WARMUP = 4;

const attackPath = resolve(projectRoot, DEFAULT_ATTACK);
const { bundle } = await readBundle(attackPath);
const voice = bundleVoiceSpec(bundle);
/** The models every audit queries: the target, then the bundle's reference models. */
const models = await Promise.all(
  [
    resolve(projectRoot, DEFAULT_MODEL),
    ...bundle.references.map((r) => resolve(dirname(attackPath), r.path)),
  ].map((p) => readManifest(p)),
);
const audits = await benchAudits(10);

/** The model inputs the daemon builds for one audit and model `m`: one tensor per query. */
async function inputsOf(m: ModelManifest, files: string[]): Promise<ort.Tensor[]> {
  const groups = new Map<string, Float32Array[]>();
  for (const f of files) {
    const clip = await loadClip(f, { sampleRate: m.sample_rate, minSeconds: m.min_seconds });
    for (const v of clipToVoices(clip.samples, m.sample_rate, voice)) {
      const fe = runFrontend(v, m.frontend, m.sample_rate);
      const key = fe.shape.join('x');
      groups.set(key, [...(groups.get(key) ?? []), fe.data]);
    }
  }
  const out: ort.Tensor[] = [];
  for (const [key, datas] of groups) {
    const dims = key.split('x').map(Number);
    for (let s = 0; s < datas.length; s += m.max_batch) {
      const part = datas.slice(s, s + m.max_batch);
      const size = part[0]?.length ?? 0;
      const data = new Float32Array(part.length * size);
      part.forEach((d, i) => data.set(d, i * size));
      out.push(new ort.Tensor('float32', data, [part.length, ...dims]));
    }
  }
  return out;
}
await fbankReady(); // the daemon's front-end (WebAssembly), so the batches are the daemon's to the bit
/** Per audit, per model (target first): the input tensors of its queries. */
const inputs = await Promise.all(
  audits.map((a) => Promise.all(models.map(({ manifest }) => inputsOf(manifest, a.files)))),
);
/** Per arm: one session per model, created with that arm's options. */
const sessionsWith = (o: { spinning: boolean; cpuMemArena: boolean }): Promise<ort.InferenceSession[]> =>
  Promise.all(models.map(({ onnxPath }) => ort.InferenceSession.create(onnxPath, sessionOptions(o))));
const sessions = {
  ort: await sessionsWith({ spinning: false, cpuMemArena: false }),
  'ort-arena': await sessionsWith({ spinning: false, cpuMemArena: true }),
  'ort-default': await sessionsWith({ spinning: true, cpuMemArena: true }),
};

const timings: Record<string, Record<string, number>> = {};
const start = (spinning: boolean): Promise<BenchDaemon> =>
  startBenchDaemon({
    settings: { spool: { enabled: false }, onnxruntime: { spinning } },
    env: unitEnv,
    onLog: (l) => {
      if (l.msg === 'audit committed') timings[String(l.transaction)] = l.timings as Record<string, number>;
    },
  });
const daemons = { daemon: await start(false), 'daemon-spin': await start(true) };

let seq = 0;
/** One measurement: [wall ms, CPU ms of every thread of the process doing the work]. */
type Sample = [number, number];
const runOrt = (name: keyof typeof sessions, i: number) => async (): Promise<Sample> => {
  const c = process.cpuUsage();
  const s = performance.now();
  for (const [k, { manifest }] of models.entries()) {
    const session = sessions[name][k] as ort.InferenceSession;
    for (const x of inputs[i]?.[k] ?? []) await session.run({ [manifest.input.name]: x });
  }
  const wall = performance.now() - s;
  const cpu = process.cpuUsage(c);
  return [wall, (cpu.user + cpu.system) / 1000];
};
const runDaemon = (name: keyof typeof daemons, i: number) => async (): Promise<Sample> => {
  const a = audits[i] as (typeof audits)[number];
  const transaction = `${name}-${seq++}`;
  const d = daemons[name];
  const c = d.cpuMs();
  const { ms, response } = await d.audit({ transaction, speaker: a.speaker, files: a.files });
  const cpu = d.cpuMs() - c;
  if (response.status !== 'ok') throw new Error(`${transaction}: ${response.error}`);
  return [ms, cpu];
};

/**
 * `n` paired rounds; round r audits audits[r % 10] in every arm, in an order that reverses every round. Wall ms
 * per arm, and CPU ms under `cpu:<arm>`.
 */
async function measure(n: number): Promise<Record<string, number[]>> {
  const out: Record<string, number[]> = {};
  for (let r = 0; r < n; r++) {
    const i = r % audits.length;
    const arms: [string, () => Promise<Sample>][] = [
      ['ort', runOrt('ort', i)],
      ['daemon', runDaemon('daemon', i)],
      ['ort-arena', runOrt('ort-arena', i)],
      ['ort-default', runOrt('ort-default', i)],
      ['daemon-spin', runDaemon('daemon-spin', i)],
    ];
    for (const [name, run] of r % 2 === 0 ? arms : arms.reverse()) {
      const [wall, cpu] = await run();
      (out[name] ??= []).push(wall);
      (out[`cpu:${name}`] ??= []).push(cpu);
    }
  }
  return out;
}

await measure(WARMUP);
const results: { label: string; load: string; data: Record<string, number[]>; stages: string }[] = [];
for (const busy of [false, true]) {
  const started = seq;
  const data = busy ? await withBusyCore(() => measure(rounds)) : await measure(rounds);
  const stageNames = [
    'decodeMs',
    'frontendMs',
    'inferenceMs',
    'featuresMs',
    'attackMs',
    'storeMs',
    'totalMs',
  ];
  const ours = Object.entries(timings).filter(
    ([t]) => t.startsWith('daemon-') && !t.startsWith('daemon-spin') && Number(t.split('-')[1]) >= started,
  );
  const stages = stageNames
    .map((s) => `${s.replace('Ms', '')} ${summarize(ours.map(([, t]) => t[s] ?? NaN)).median.toFixed(1)}`)
    .join(', ');
  results.push({ label: busy ? 'one core busy' : 'quiet', load: load1(), data, stages });
}
for (const d of Object.values(daemons)) await d.stop();

const s = (xs: number[]): string => fmt(summarize(xs));
const r = (a: number[], b: number[]): string => fmt(summarize(ratios(a, b)), 2, '×');
const lines = [
  `Model \`${DEFAULT_MODEL}\`, attack \`${DEFAULT_ATTACK}\` (reference models: ${bundle.references.map((r) => r.name).join(', ') || 'none'}), clips from ${clipSource}; ${audits.length} audits of 10 utterances (10 voices; queries per audit: ${models.map((x, k) => `${x.manifest.name} ${inputs[0]?.[k]?.length ?? 0}`).join(', ')}) cycled; the pure onnxruntime arms run those same queries, ${rounds} paired rounds per condition after ${WARMUP} warm-up rounds, ${cpus().length} CPUs; daemon environment ${JSON.stringify(unitEnv)}.`,
  '',
  '| condition (load avg) | ort ms | ort-arena ms | ort-default ms | daemon ms | daemon-spin ms | **daemon / ort** | daemon / fastest pure ort | daemon-spin / daemon |',
  '|---|---|---|---|---|---|---|---|---|',
  ...results.map(({ label, load, data }) => {
    const d = (k: string): number[] => data[k] as number[];
    const best = d('ort').map((x, i) =>
      Math.min(x, d('ort-arena')[i] as number, d('ort-default')[i] as number),
    );
    return `| ${label} (${load}) | ${s(d('ort'))} | ${s(d('ort-arena'))} | ${s(d('ort-default'))} | ${s(d('daemon'))} | ${s(d('daemon-spin'))} | **${r(d('daemon'), d('ort'))}** | ${r(d('daemon'), best)} | ${r(d('daemon-spin'), d('daemon'))} |`;
  }),
  '',
  'CPU time (all threads of the process doing the work: the bench process for the pure arms, the daemon for its arms; a steadier figure than wall time on a shared machine):',
  '',
  '| condition | ort CPU ms | ort-arena CPU ms | daemon CPU ms | daemon-spin CPU ms | **daemon / ort (CPU)** | daemon / ort-arena (CPU) |',
  '|---|---|---|---|---|---|---|',
  ...results.map(({ label, data }) => {
    const c = (k: string): number[] => data[`cpu:${k}`] as number[];
    return `| ${label} | ${s(c('ort'))} | ${s(c('ort-arena'))} | ${s(c('daemon'))} | ${s(c('daemon-spin'))} | **${r(c('daemon'), c('ort'))}** | ${r(c('daemon'), c('ort-arena'))} |`;
  }),
  '',
  ...results.map((r) => `- daemon stage medians, ${r.label} (ms): ${r.stages}`),
];
console.log(lines.join('\n'));
