/**
 * Benchmark: the daemon end to end. Starts `slmia daemon` (dist/cli.js) as a child process on its embedded
 * broker, sends N audit requests over MQTT one after the other (10 voices each: 10 real speechocean762
 * utterances of a target-member or target-nonmember speaker, a different speaker each time), and reports
 *   - the latency breakdown per audit: decode, front-end, inference, features, attack (pipeline timings),
 *     store (commit of audit + outbox), publish (publish → PUBACK of the response), wall (request sent →
 *     response received by the client);
 *   - non-model overhead = wall − (front-end + inference), as a share of wall, and daemon overhead =
 *     wall − pipeline stages;
 *   - the daemon's RSS (VmRSS of the child) after warm-up and after N audits.
 *
 *   make build && node --import=tsx bench/audit-latency.ts [--audits 100] [--model m.json] [--attack a.json]
 *
 * Prints Markdown to paste into bench/RESULTS.md. Targets: overhead ≤ 10 % of wall, RSS after 100 ≤ 150 MB.
 */
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import mqtt from 'mqtt';
import { stringify } from 'yaml';
import { DEFAULT_ATTACK, DEFAULT_MODEL } from '../src/daemon/config.js';
import { readSplit, readUtterances, speakersOfGroup } from '../src/dataset/index.js';
import { projectRoot, speechoceanDir } from '../src/paths.js';
import type { AuditResponse } from '../src/publish/topics.js';
import { listAudits } from '../src/store/audits.js';
import { Db } from '../src/store/db.js';

const args = process.argv.slice(2);
const arg = (name: string, dflt: string): string => {
  const i = args.indexOf(name);
  return i >= 0 ? (args[i + 1] as string) : dflt;
};
const N = Number(arg('--audits', '100'));
const VOICES = 10;
const runId = Date.now().toString(36);
const model = resolve(arg('--model', resolve(projectRoot, DEFAULT_MODEL)));
const attack = resolve(arg('--attack', resolve(projectRoot, DEFAULT_ATTACK)));
const data = speechoceanDir();
if (!data) throw new Error('bench/audit-latency: speechocean762 not found (set SLMIA_DATA_DIR)');
if (!existsSync(join(projectRoot, 'dist', 'cli.js')))
  throw new Error('bench/audit-latency: run `make build` first');

// Requests: alternate member / non-member speakers, 10 utterances each.
const split = await readSplit(join(data, 'splits', 'five-way.tsv'));
const utts = await readUtterances(data);
const members = speakersOfGroup(split, utts, 'target-member');
const nonmembers = speakersOfGroup(split, utts, 'target-nonmember');
const requests = Array.from({ length: N }, (_, i) => {
  const pool = i % 2 === 0 ? members : nonmembers;
  const s = pool[Math.floor(i / 2) % pool.length] as (typeof pool)[number];
  const files = (i % 2 === 0 ? s.train : s.heldout).slice(0, VOICES).map((u) => u.path);
  return { transaction: `bench-${runId}-${i}`, speaker: s.speaker, files };
});

const port = await new Promise<number>((res) => {
  const srv = createServer().listen(0, '127.0.0.1', () => {
    const a = srv.address();
    srv.close(() => res(typeof a === 'object' && a ? a.port : 0));
  });
});
const dir = mkdtempSync(join(tmpdir(), 'slmia-bench-'));
// A persistent state folder: the reference speakers are embedded into its database on the first run only, so
// later runs measure the steady state of a daemon restarted on a hub (`--data-dir` to change).
const dataDir = resolve(arg('--data-dir', join(projectRoot, '.work', 'bench-daemon')));
mkdirSync(dataDir, { recursive: true });
const lab = join(projectRoot, '.work', 'embedding-cache.sqlite');
if (!existsSync(join(dataDir, 'slmia.db')) && existsSync(lab)) copyFileSync(lab, join(dataDir, 'slmia.db'));
const config = join(dir, 'config.yaml');
writeFileSync(
  config,
  stringify({
    data_dir: dataDir,
    model,
    attack,
    log_level: 'debug',
    spool: { enabled: false },
    mqtt: { embedded: { port } },
  }),
);

const nodeFlags = arg('--node-flags', '').split(' ').filter(Boolean);
const child = spawn(
  process.execPath,
  [...nodeFlags, join(projectRoot, 'dist', 'cli.js'), 'daemon', '-c', config],
  {
    stdio: ['ignore', 'pipe', 'inherit'],
  },
);
const publishMs = new Map<string, number>();
const committed = new Map<string, Record<string, number>>();
let started!: () => void;
const ready = new Promise<void>((r) => (started = r));
let buf = '';
child.stdout.on('data', (b: Buffer) => {
  buf += b.toString();
  const lines = buf.split('\n');
  buf = lines.pop() ?? '';
  for (const l of lines) {
    if (l.includes('"msg":"daemon started"')) started();
    if (l.includes('"msg":"audit committed"')) {
      const m = JSON.parse(l) as { transaction: string; timings: Record<string, number> };
      committed.set(String(m.transaction), m.timings);
    }
    if (l.includes('"msg":"outbox delivered"') && l.includes('/bridge/response/audit')) {
      const m = JSON.parse(l) as { transaction: string; ms: number };
      publishMs.set(m.transaction, m.ms);
    }
  }
});
const rssMb = (): number =>
  Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1]) / 1024;

const t0 = Date.now();
await ready;
const startupS = (Date.now() - t0) / 1000;
const rssStart = rssMb();
const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`);
// Like the daemon, the client disables Nagle, so the figures are not inflated by delayed ACKs (~40 ms).
(client.stream as { setNoDelay?: (on: boolean) => void }).setNoDelay?.(true);
await client.subscribeAsync('slmia/bridge/response/audit', { qos: 1 });
const waiting = new Map<string, (r: AuditResponse) => void>();
client.on('message', (_t, p) => {
  const r = JSON.parse(p.toString()) as AuditResponse;
  waiting.get(String(r.transaction))?.(r);
});
const wall = new Map<string, number>();
const rss: [number, number][] = [];
const WARMUP = 10;
for (const [i, req] of requests.entries()) {
  const done = new Promise<AuditResponse>((r) => waiting.set(req.transaction, r));
  const s = performance.now();
  await client.publishAsync('slmia/bridge/request/audit', JSON.stringify(req), { qos: 1 });
  const r = await done;
  wall.set(req.transaction, performance.now() - s);
  if (r.status !== 'ok') throw new Error(`audit ${req.transaction} failed: ${r.error}`);
  if (i + 1 === WARMUP || (i + 1) % 25 === 0) rss.push([i + 1, rssMb()]);
}
await new Promise((r) => setTimeout(r, 300)); // last PUBACK logs
await client.endAsync();
const exited = new Promise((r) => child.once('exit', r));
child.kill('SIGTERM');
await exited;

// Per-audit stage timings from the daemon's store.
const db = await Db.open(join(dataDir, 'slmia.db'));
const rows = (await listAudits(db, { limit: N + 10 })).filter((r) =>
  r.transaction.startsWith(`bench-${runId}-`),
);
await db.close();
const stages = ['decodeMs', 'frontendMs', 'inferenceMs', 'featuresMs', 'attackMs', 'storeMs'] as const;
const table: Record<string, number[]> = {
  decode: [],
  frontend: [],
  inference: [],
  features: [],
  attack: [],
  store: [],
  publish: [],
  wall: [],
  overhead: [],
  daemon: [],
  'mqtt+queue': [],
};
let voices = 0;
let queries = 0;
for (const r of rows) {
  const t = committed.get(r.transaction) ?? r.timings ?? {};
  const w = wall.get(r.transaction) as number;
  const [dec, fe, inf, feat, att, st] = stages.map((k) => t[k] ?? 0) as number[] as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  table.decode?.push(dec);
  table.frontend?.push(fe);
  table.inference?.push(inf);
  table.features?.push(feat);
  table.attack?.push(att);
  table.store?.push(st);
  table.publish?.push(publishMs.get(r.transaction) ?? NaN);
  table.wall?.push(w);
  table.overhead?.push(w - fe - inf);
  table.daemon?.push(w - dec - fe - inf - feat - att);
  table['mqtt+queue']?.push(w - (t.totalMs ?? NaN));
  voices += r.voices ?? 0;
  queries += r.queries ?? 0;
}
const stat = (xs: number[]): { mean: number; median: number; p95: number } => {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  const q = (p: number): number => s[Math.min(s.length - 1, Math.floor(p * s.length))] as number;
  return { mean: s.reduce((a, b) => a + b, 0) / s.length, median: q(0.5), p95: q(0.95) };
};
const wallMean = stat(table.wall as number[]).mean;
const f = (x: number): string => x.toFixed(1);
const lines = [
  `Model \`${model.replace(projectRoot + '/', '')}\`, attack \`${attack.replace(projectRoot + '/', '')}\`; ${rows.length} audits over MQTT (embedded aedes), ${VOICES} voices each (${(voices / rows.length).toFixed(1)} voices, ${(queries / rows.length).toFixed(2)} model queries per audit on average), ${cpus().length} cores; daemon start-up ${startupS.toFixed(1)} s.`,
  '',
  '| stage | mean ms | median ms | p95 ms | share of wall (mean) |',
  '|---|---|---|---|---|',
  ...Object.entries(table).map(([k, xs]) => {
    const s = stat(xs);
    const label =
      k === 'overhead'
        ? '**non-model overhead** (wall − front-end − inference)'
        : k === 'daemon'
          ? 'daemon overhead (wall − pipeline stages)'
          : k === 'publish'
            ? 'publish (→ PUBACK, overlaps wall)'
            : k;
    return `| ${label} | ${f(s.mean)} | ${f(s.median)} | ${f(s.p95)} | ${((100 * s.mean) / wallMean).toFixed(1)} % |`;
  }),
  '',
  `Daemon RSS (VmRSS): ${rssStart.toFixed(0)} MB after start-up, ${rss.map(([n, mb]) => `${mb.toFixed(0)} MB after ${n}`).join(', ')} audits.`,
];
console.log(lines.join('\n'));
