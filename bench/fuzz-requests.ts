/**
 * The large fuzz run over MQTT request payloads and YAML settings (test/fuzz-requests.test.ts and
 * test/fuzz-config.test.ts are its CI-sized smokes), seeded:
 *   - `intake`: N payloads through a running daemon's intake, in-process (default 10,000);
 *   - `live-embedded` / `live-mosquitto`: N/10 payloads published to a live daemon over its embedded aedes
 *     broker, and over an external Mosquitto (one typed answer each within 10 s);
 *   - `config`: N settings files through `slmia daemon --print-config -c` (in-process).
 * Prints one JSON line per campaign (cases, results, typed errors by code, crashes, hangs, slowest case).
 *
 *   node --import=tsx bench/fuzz-requests.ts [cases] [seed]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { parseConfig } from '../src/daemon/config.js';
import { startDaemon } from '../src/daemon/controller.js';
import { createLogger } from '../src/daemon/logger.js';
import { projectRoot } from '../src/paths.js';
import { benchMember } from './lib/clips.js';
import { configFile, configTarget } from '../test/helpers/config-fuzz.js';
import { makeFakeRecorder } from '../test/helpers/fake-recorder.js';
import { fuzz, type FuzzReport } from '../test/helpers/fuzz.js';
import { Mosquitto, mosquittoBin } from '../test/helpers/mosquitto.js';
import { intakeTarget, liveTarget, requestPayload } from '../test/helpers/request-fuzz.js';

const n = Number(process.argv[2] ?? 10_000);
const seed = Number(process.argv[3] ?? 20261130);
const member = await benchMember('bench/fuzz-requests');
const paths = [...member.train.slice(0, 4).map((u) => u.path), `speechocean762/audio/${member.speaker}`];
// `record` requests record from a fake `sox` that plays the member's real utterances.
process.env.PATH = (await makeFakeRecorder(member.train.slice(0, 3).map((u) => u.path))).path;

const settings = (over: Record<string, unknown> = {}) =>
  parseConfig(
    {
      data_dir: mkdtempSync(join(tmpdir(), 'slmia-fuzz-')),
      log_level: 'silent',
      device_id: 'fuzz-hub',
      spool: { enabled: false },
      queue: { max_pending: 10_000 },
      microphone: { max_utterances: 3, max_seconds: 3 },
      mqtt: { embedded: { port: 0 }, reconnect_period_ms: 200 },
      ...over,
    },
    '<bench>',
    projectRoot,
    {},
  );
const print = (r: FuzzReport): void =>
  console.log(JSON.stringify({ ...r, maxMs: Number(r.maxMs.toFixed(1)) }));
const t0 = performance.now();
console.error(`fuzz-requests: ${n} intake + config cases, ${n / 10} per live campaign, seed ${seed}`);

// Stray promise rejections anywhere count as crashes.
let stray = 0;
process.on('unhandledRejection', () => stray++);

const daemon = await startDaemon(settings(), { log: createLogger('silent') });
print(
  await fuzz({
    name: 'intake',
    seed,
    numRuns: n,
    arbitrary: requestPayload(paths),
    run: intakeTarget(daemon),
    hangMs: 5000,
  }),
);
await daemon.stop();

/** A live campaign: a daemon on `url` (the embedded broker when undefined), a client publishing the cases. */
async function live(name: string, campaignSeed: number, url?: string): Promise<void> {
  const d = await startDaemon(settings(url ? { mqtt: { url, reconnect_period_ms: 200 } } : {}), {
    log: createLogger('silent'),
  });
  const client = await mqtt.connectAsync(url ?? (d.broker?.url as string), { clientId: `fuzz-${name}` });
  await client.subscribeAsync('slmia/bridge/response/audit', { qos: 1 });
  print(
    await fuzz({
      name,
      seed: campaignSeed,
      numRuns: n / 10,
      arbitrary: requestPayload(paths),
      run: liveTarget(client),
      hangMs: 10_000,
    }),
  );
  await client.endAsync();
  await d.stop();
}

await live('live-embedded', seed + 1);
if (mosquittoBin) {
  const broker = await Mosquitto.start();
  await live('live-mosquitto', seed + 2, broker.url);
  await broker.stop();
} else console.error('fuzz-requests: mosquitto not installed, live-mosquitto skipped');

const dir = mkdtempSync(join(tmpdir(), 'slmia-fuzz-config-'));
print(
  await fuzz({
    name: 'config',
    seed: seed + 3,
    numRuns: n,
    arbitrary: configFile,
    run: configTarget(dir),
    hangMs: 2000,
  }),
);
rmSync(dir, { recursive: true, force: true });
console.error(
  `fuzz-requests: ${((performance.now() - t0) / 1000).toFixed(1)} s, stray promise rejections: ${stray}`,
);
