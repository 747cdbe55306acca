/**
 * Benchmark: the fleet service with a simulated fleet on a real Mosquitto. A script plays `--hubs` hubs (default
 * 200; one MQTT connection each, with the daemon's Last Will), each with `--speakers` speakers:
 *   1. before the fleet starts: retained `bridge/state`, `bridge/info` and one retained speaker state per speaker;
 *   2. the fleet starts (`node dist/cli.js fleet`, a child process): time until it has caught up from the retained
 *      messages;
 *   3. live: every hub sends a health message, then `--verdicts` audits in all (default 10,000) are played as a hub
 *      plays them — queued event, done event, response, retained speaker state — as fast as the broker takes
 *      them: time until all are in the fleet store;
 *   4. the overview (`GET /`), a hub page and `/metrics`: `--rounds` timed requests each, interleaved, median and
 *      spread; the overview loaded in Debian's chromium (navigation to load event), when it is installed;
 *   5. the fleet restarted on the same store: time until it has caught up again;
 *   and the fleet process's RSS (VmRSS, and VmHWM = peak) after each phase.
 *
 *   make build && node --import=tsx bench/fleet-scale.ts [--hubs 200] [--speakers 25] [--verdicts 10000] [--rounds 30]
 *
 * Prints Markdown to paste into bench/RESULTS.md. Targets: overview ≤ 1 s, fleet RSS ≤ 200 MB.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { stringify } from 'yaml';
import { projectRoot } from '../src/paths.js';
import type { SpeakerState } from '../src/publish/topics.js';
import { hasChromium, launchChromium } from '../test/helpers/browser.js';
import { hubHealth, hubInfo } from '../test/helpers/fleet.js';
import { freePort, Mosquitto } from '../test/helpers/mosquitto.js';

const args = process.argv.slice(2);
const arg = (name: string, dflt: number): number => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const HUBS = arg('--hubs', 200);
const SPEAKERS = arg('--speakers', 25);
const VERDICTS = arg('--verdicts', 10_000);
const ROUNDS = arg('--rounds', 30);
if (!existsSync(join(projectRoot, 'dist', 'cli.js')))
  throw new Error('bench/fleet-scale: run `make build` first');

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};
const pct = (xs: number[], p: number): number =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))] as number;
const hubBase = (h: number) => `slmia/hub-${String(h).padStart(3, '0')}`;
const speakerId = (s: number) => `SPEAKER${String(s).padStart(4, '0')}`;

const broker = await Mosquitto.start();
const port = await freePort();
const dir = mkdtempSync(join(tmpdir(), 'slmia-fleet-bench-'));
const config = join(dir, 'fleet.yaml');
writeFileSync(
  config,
  stringify({
    data_dir: join(dir, 'data'),
    log_level: 'warn',
    http: { port },
    mqtt: { url: broker.url, topics: ['slmia/#'] },
  }),
);
const fleetUrl = `http://127.0.0.1:${port}`;

let child: ChildProcess | undefined;
const status = (key: string): number =>
  Number(new RegExp(`${key}:\\s+(\\d+)`).exec(readFileSync(`/proc/${child?.pid}/status`, 'utf8'))?.[1]) /
  1024;
async function startFleet(): Promise<number> {
  const t0 = performance.now();
  child = spawn(process.execPath, [join(projectRoot, 'dist', 'cli.js'), 'fleet', '-c', config], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((res, rej) => {
    child?.stdout?.on('data', (b: Buffer) => {
      if (b.toString().includes('fleet dashboard:')) res();
    });
    child?.once('exit', (code) => rej(new Error(`fleet exited with ${code}`)));
  });
  return performance.now() - t0;
}
async function stopFleet(): Promise<void> {
  const c = child as ChildProcess;
  const exited = new Promise((r) => c.once('exit', r));
  c.kill('SIGTERM');
  await exited;
}
interface Stats {
  mqtt_connected: boolean;
  hubs: number;
  verdicts: number;
  health: number;
  audits: number;
}
const stats = async (): Promise<Stats> => (await (await fetch(`${fleetUrl}/api/stats`)).json()) as Stats;
async function until(pred: (s: Stats) => boolean, what: string, ms = 600_000): Promise<number> {
  const t0 = performance.now();
  for (;;) {
    const s = await stats().catch(() => undefined);
    if (s && pred(s)) return performance.now() - t0;
    if (performance.now() - t0 > ms) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(s)}`);
    await sleep(50);
  }
}

// The simulated hubs: one connection each, with the daemon's Last Will.
const hubs: MqttClient[] = [];
for (let h = 0; h < HUBS; h++)
  hubs.push(
    await mqtt.connectAsync(broker.url, {
      clientId: `bench-hub-${h}`,
      will: {
        topic: `${hubBase(h)}/bridge/state`,
        payload: Buffer.from('{"state":"offline"}'),
        qos: 1,
        retain: true,
      },
    }),
  );
const pub = (c: MqttClient, topic: string, payload: unknown, retain = false, qos: 0 | 1 = 1) =>
  c.publishAsync(topic, JSON.stringify(payload), { qos, retain });
const info = (h: number) => hubInfo(`hub-${String(h).padStart(3, '0')}`, hubBase(h));
const t0 = Date.parse('2026-01-01T00:00:00Z');
const state = (h: number, s: number, k: number): SpeakerState & { p_value?: number } => {
  const p = ((h * 7919 + s * 104729 + k * 1299709) % 1000) / 1000;
  return {
    verdict: p > 0.8 ? 'member' : p < 0.6 ? 'non-member' : 'inconclusive',
    probability: p,
    reason: p > 0.8 || p < 0.6 ? null : 'reference-member-like',
    threshold: 0.8,
    target_fpr: 0.01,
    voices: 10,
    queries: 1,
    model_sha256: '2462b48fc6c40a5af606be59f03dcb3f1fb37d85433b11d6dcde754dbd5c637a',
    attack_id: '2ac30c2d6bfce211',
    audited_at: new Date(t0 + (k * HUBS * SPEAKERS + h * SPEAKERS + s) * 1000).toISOString(),
    p_value: Math.round((1 - p) * 1000) / 1000,
  };
};

// 1. Retained hub states before the fleet starts.
const tRet = performance.now();
await Promise.all(
  hubs.map(async (c, h) => {
    await pub(c, `${hubBase(h)}/bridge/state`, { state: 'online' }, true);
    await pub(c, `${hubBase(h)}/bridge/info`, info(h), true);
    await Promise.all(
      Array.from({ length: SPEAKERS }, (_, s) =>
        pub(c, `${hubBase(h)}/${speakerId(s)}`, state(h, s, 0), true),
      ),
    );
  }),
);
const retainedMs = performance.now() - tRet;
const retained = HUBS * SPEAKERS;

// 2. The fleet starts and catches up.
const startMs = await startFleet();
const catchUpMs = await until((s) => s.hubs === HUBS && s.verdicts === retained, 'catch-up');
const rssCatchUp = status('VmRSS');

// 3. Live: health, then the audits.
const health = (h: number) =>
  hubHealth({
    uptime_s: 3600 + h,
    queue_depth: h % 3,
    busy: false,
    outbox_size: 0,
    process: { rss_mb: 150 + (h % 40), heap_used_mb: 40 },
  });
await Promise.all(hubs.map((c, h) => pub(c, `${hubBase(h)}/bridge/health`, health(h), false, 0)));
const tLive = performance.now();
const perHub = Math.ceil(VERDICTS / HUBS);
let sent = 0;
await Promise.all(
  hubs.map(async (c, h) => {
    for (let k = 1; k <= perHub && h * perHub + k <= VERDICTS; k++) {
      const s = k % SPEAKERS;
      const v = state(h, s, k);
      const transaction = `bench-${h}-${k}`;
      const ev = (type: string) => ({
        type,
        transaction,
        speaker: speakerId(s),
        source: 'mqtt',
        at: v.audited_at,
      });
      await pub(c, `${hubBase(h)}/bridge/event`, ev('queued'), false, 0);
      await pub(c, `${hubBase(h)}/bridge/event`, ev('done'), false, 0);
      await pub(c, `${hubBase(h)}/bridge/response/audit`, {
        status: 'ok',
        data: { speaker: speakerId(s), ...v },
        transaction,
      });
      await pub(c, `${hubBase(h)}/${speakerId(s)}`, v, true);
      sent++;
    }
  }),
);
const publishedMs = performance.now() - tLive;
const ingestMs = (await until((s) => s.verdicts === retained + sent, 'live verdicts')) + publishedMs;
const rssIngest = status('VmRSS');
const final = await stats();

// 4. Page timings, interleaved rounds.
const routes = ['/', `/hubs/${encodeURIComponent(hubBase(7))}`, '/metrics'];
const times: Record<string, number[]> = Object.fromEntries(routes.map((r) => [r, []]));
const sizes: Record<string, number> = {};
for (let r = 0; r < ROUNDS; r++)
  for (const route of routes) {
    const t = performance.now();
    const res = await fetch(`${fleetUrl}${route}`);
    const body = await res.text();
    (times[route] as number[]).push(performance.now() - t);
    if (res.status !== 200) throw new Error(`${route}: HTTP ${res.status}`);
    sizes[route] = body.length;
  }
const overviewHtml = await (await fetch(`${fleetUrl}/`)).text();
const rows = (overviewHtml.match(/<tr id="hub-/g) ?? []).length;
const browserMs: number[] = [];
if (hasChromium) {
  const b = await launchChromium();
  const page = await b.newPage();
  for (let r = 0; r < 6; r++) {
    await page.goto(`${fleetUrl}/`, { waitUntil: 'load' });
    const nav = (await page.evaluate(
      "(() => { const n = performance.getEntriesByType('navigation')[0]; return n.loadEventEnd - n.startTime; })()",
    )) as number;
    if (r > 0) browserMs.push(nav); // the first load warms the browser's cache of the assets
  }
  await b.close();
}
const rssPages = status('VmRSS');
const hwm = status('VmHWM');

// 5. Restart on the same store: catch-up from retained messages again.
await stopFleet();
const restartStartMs = await startFleet();
// The retained replay: state + info + one state per speaker, per hub.
const replay = HUBS * (SPEAKERS + 2);
const accepted = async (): Promise<number> =>
  Number(
    /^slmia_fleet_mqtt_messages_total\{result="accepted"\} (\d+)/m.exec(
      await (await fetch(`${fleetUrl}/metrics`)).text(),
    )?.[1] ?? 0,
  );
const tReplay = performance.now();
while ((await accepted()) < replay) {
  if (performance.now() - tReplay > 600_000) throw new Error('restart: retained replay did not arrive');
  await sleep(50);
}
const restartCatchUpMs = performance.now() - tReplay;
await stats(); // commits the queued writes
const rssRestart = status('VmRSS');
const hwmRestart = status('VmHWM');
await stopFleet();
for (const c of hubs) await c.endAsync(true);
await broker.stop();

const f = (x: number, d = 0) => x.toFixed(d);
const line = (xs: number[]) =>
  `${f(median(xs), 1)} | ${f(Math.min(...xs), 1)}–${f(Math.max(...xs), 1)} | ${f(pct(xs, 0.9), 1)}`;
console.log(`## Fleet service at scale (bench/fleet-scale.ts)

${HUBS} simulated hubs × ${SPEAKERS} speakers on Mosquitto; ${sent} live audits (each: queued + done events, response,
retained state) after ${retained} retained speaker states; ${cpus().length} CPUs, load average ${loadavg()[0]?.toFixed(1)} at the end, ${new Date().toISOString().slice(0, 10)}.

| phase | figure |
|---|---|
| publish retained state/info/speaker states (${HUBS * 2 + retained} messages) | ${f(retainedMs)} ms |
| fleet start → page served | ${f(startMs)} ms |
| catch-up from retained (${HUBS} hubs, ${retained} verdicts in the store) | ${f(catchUpMs)} ms |
| ${sent} live audits published (${sent * 4} messages) → all in the store | ${f(ingestMs)} ms (${f((sent * 4) / (ingestMs / 1000))} msg/s) |
| store after the run | ${final.hubs} hubs, ${final.verdicts} verdicts, ${final.audits} audits, ${final.health} health samples |
| restart on the same store → page served, then retained replay (${replay} messages) handled | ${f(restartStartMs)} ms + ${f(restartCatchUpMs)} ms |

| request (${ROUNDS} rounds, interleaved) | bytes | median ms | min–max ms | p90 ms |
|---|---:|---:|---:|---:|
${routes.map((r) => `| \`GET ${r}\` | ${sizes[r]} | ${line(times[r] as number[])} |`).join('\n')}
${browserMs.length ? `| overview in chromium, navigation → load event (${browserMs.length} loads) | | ${line(browserMs)} |` : ''}

Overview rows: ${rows} (one per hub).

| fleet RSS | MB |
|---|---:|
| after catch-up | ${f(rssCatchUp)} |
| after ${sent} live audits | ${f(rssIngest)} |
| after the page timings | ${f(rssPages)} |
| peak (VmHWM) of the first run | ${f(hwm)} |
| restarted, after the retained replay | ${f(rssRestart)} (peak ${f(hwmRestart)}) |
`);
