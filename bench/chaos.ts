/**
 * The long chaos run (test/daemon-chaos.test.ts is its CI-sized form): `slmia daemon` as a child process under
 * random kill -9 (during audits and right after answers, i.e. during outbox flushes), broker restarts, a full disk
 * and a read-only database (a tmpfs made here; needs root), fed over MQTT and through the spool folder — once on
 * an external Mosquitto and once on the embedded aedes broker. Prints one JSON line per scenario: requests sent,
 * answered, lost (must be 0), duplicated (bounded by the outbox window: ≤ 8 per kill, plus client re-sends),
 * audits run twice, faults injected.
 *
 *   node --import=tsx bench/chaos.ts [requests] [seed] [mosquitto|embedded|both]
 */
import { resolve } from 'node:path';
import { DEFAULT_ATTACK, DEFAULT_MODEL } from '../src/daemon/config.js';
import { projectRoot } from '../src/paths.js';
import { benchMember } from './lib/clips.js';
import { runChaos, type ChaosOptions } from '../test/helpers/chaos.js';

const requests = Number(process.argv[2] ?? 200);
const seed = Number(process.argv[3] ?? 20261130);
const which = process.argv[4] ?? 'both';
const member = await benchMember('bench/chaos');
const base: Omit<ChaosOptions, 'broker' | 'seed'> = {
  model: resolve(projectRoot, DEFAULT_MODEL),
  attack: resolve(projectRoot, DEFAULT_ATTACK),
  requests,
  spoolEvery: 4,
  kills: Math.max(3, Math.round(requests / 10)),
  brokerRestarts: Math.max(1, Math.round(requests / 40)),
  diskFull: Math.max(1, Math.round(requests / 50)),
  readOnly: Math.max(1, Math.round(requests / 100)),
  speaker: member.speaker,
  files: member.train.slice(0, 4).map((u) => u.path),
  gapMs: 250,
  settleMs: 180_000,
  log: (l) => console.error(`${new Date().toISOString().slice(11, 23)} ${l}`),
};
const scenarios: ChaosOptions[] = [
  ...(which !== 'embedded' ? [{ ...base, broker: 'mosquitto' as const, seed }] : []),
  ...(which !== 'mosquitto'
    ? [{ ...base, broker: 'embedded' as const, seed: seed + 1, retryUnansweredMs: 5000 }]
    : []),
];
for (const s of scenarios) {
  console.error(`chaos: ${s.broker}, ${s.requests} requests, seed ${s.seed}`);
  const r = await runChaos(s);
  console.log(JSON.stringify(r));
}
