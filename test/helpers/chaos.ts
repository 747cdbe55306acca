/**
 * Chaos harness (shared by test/daemon-chaos.test.ts and bench/chaos.ts): `slmia daemon` as a child process fed
 * with audit requests over MQTT (QoS 1, persistent publisher session) and through the spool folder, while faults
 * are injected at random moments (seeded):
 * - kill -9 of the daemon, alternately at a random moment while audits run and right after an answer arrived
 *   (the outbox is flushing that audit's messages and the next ones), then a restart;
 * - broker restarts (external Mosquitto; with the embedded aedes broker every daemon kill is one);
 * - a full disk: the daemon's data folder lives on a small tmpfs made by the harness, filled for a while;
 * - a read-only database: the daemon is stopped, the tmpfs remounted read-only, the daemon started on it and
 *   sent requests, then the file system is remounted read-write under the running daemon.
 * A client answered with a typed store error (`store.*`: "request not stored") re-sends that request with the
 * same transaction id, as the README asks; with `retryUnansweredMs` it also re-sends a request left without any
 * answer that long (the embedded broker keeps no sessions across a daemon restart, so an answer published while
 * the client was reconnecting is not queued for it; the repeat is answered from the store).
 * Counts requests sent, answered (a final, non-`store.*` answer), lost (never answered), duplicated (more than one
 * final answer message), re-sends, and audits run twice for one transaction (from the daemon's database).
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { stringify } from 'yaml';
import { seededRng } from '../../src/attack/rng.js';
import type { AuditResponse } from '../../src/publish/topics.js';
import { Db } from '../../src/store/db.js';
import { spawnDaemon, type DaemonProcess } from './daemon-process.js';
import { freePort, Mosquitto } from './mosquitto.js';

/** What to do. */
export interface ChaosOptions {
  broker: 'mosquitto' | 'embedded';
  /** Target model manifest and attack bundle of the daemon. */
  model: string;
  attack: string;
  requests: number;
  /** Every k-th request goes through the spool folder (0: none). */
  spoolEvery: number;
  kills: number;
  /** Mosquitto restarts (ignored with the embedded broker). */
  brokerRestarts: number;
  /** Times the data folder's tmpfs is filled for `faultMs` (needs mount; see `mount`). */
  diskFull: number;
  /** Times the daemon is restarted on a read-only remount for `faultMs` (needs mount). */
  readOnly: number;
  seed: number;
  speaker: string;
  files: string[];
  /** Mean gap between requests, ms. */
  gapMs: number;
  /** How long a disk-full or read-only spell lasts, ms (default 2000). */
  faultMs?: number;
  /** How long to wait for the last answers, ms. */
  settleMs: number;
  /** Re-send a request without any answer after this long (embedded broker); 0/undefined: never. */
  retryUnansweredMs?: number;
  /** Called with progress lines. */
  log?: (line: string) => void;
}

/** What happened. */
export interface ChaosResult {
  broker: string;
  sent: number;
  viaSpool: number;
  answered: number;
  lost: number;
  /** Transactions with more than one final answer message. */
  duplicated: number;
  /** Final answer messages beyond the first, all transactions together. */
  extraAnswers: number;
  ok: number;
  /** First final answers by error code. */
  errors: Record<string, number>;
  /** Typed store-error answers (`store.*`) received, all transactions. */
  storeErrorAnswers: number;
  /** Requests re-sent after a store error / after `retryUnansweredMs` without an answer. */
  resentAfterStoreError: number;
  resentUnanswered: number;
  /** Transactions with more than one audit row (audited twice). */
  auditedTwice: number;
  kills: number;
  killsAfterAnswer: number;
  brokerRestarts: number;
  diskFull: number;
  readOnly: number;
  /** Whether disk faults ran (the harness could mount a tmpfs). */
  mounted: boolean;
  seconds: number;
  lostIds: string[];
  /** Last daemon log lines when something was lost (for the test's message). */
  logTail?: string[];
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Mount a tmpfs at `dir` (root only); false when not permitted (then disk faults are skipped). */
function mountTmpfs(dir: string, size: string): boolean {
  mkdirSync(dir, { recursive: true });
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir]);
  if (r.status !== 0 && process.env.CI)
    throw new Error(`chaos: mount tmpfs failed in CI: ${r.stderr?.toString()}`);
  return r.status === 0;
}

/** Run the chaos scenario; everything it starts is stopped (and unmounted) before it resolves. */
export async function runChaos(o: ChaosOptions): Promise<ChaosResult> {
  const rand = seededRng(o.seed);
  const say = o.log ?? (() => undefined);
  const t0 = Date.now();
  const faultMs = o.faultMs ?? 2000;
  const dir = mkdtempSync(join(tmpdir(), 'slmia-chaos-'));
  const mnt = join(dir, 'mnt');
  const mounted = (o.diskFull > 0 || o.readOnly > 0) && mountTmpfs(mnt, '8m');
  const dataDir = join(mounted ? mnt : dir, 'data');
  const spoolDir = join(dir, 'spool');
  const staging = join(dir, 'staging');
  mkdirSync(staging, { recursive: true });
  const mosquitto = o.broker === 'mosquitto' ? await Mosquitto.start() : undefined;
  const port = mosquitto ? mosquitto.port : await freePort();
  const url = mosquitto ? mosquitto.url : `mqtt://127.0.0.1:${port}`;
  const config = join(dir, 'config.yaml');
  writeFileSync(
    config,
    stringify({
      data_dir: dataDir,
      model: o.model,
      attack: o.attack,
      device_id: 'chaos-hub',
      log_level: 'info',
      queue: { max_pending: 10_000 },
      spool: { enabled: o.spoolEvery > 0, dir: spoolDir, poll_ms: 200 },
      mqtt: mosquitto
        ? { url, reconnect_period_ms: 200, client_id: 'slmia-chaos' }
        : { embedded: { port }, reconnect_period_ms: 200 },
    }),
  );
  const r: ChaosResult = {
    broker: o.broker,
    sent: 0,
    viaSpool: 0,
    answered: 0,
    lost: 0,
    duplicated: 0,
    extraAnswers: 0,
    ok: 0,
    errors: {},
    storeErrorAnswers: 0,
    resentAfterStoreError: 0,
    resentUnanswered: 0,
    auditedTwice: 0,
    kills: 0,
    killsAfterAnswer: 0,
    brokerRestarts: 0,
    diskFull: 0,
    readOnly: 0,
    mounted,
    seconds: 0,
    lostIds: [],
  };

  let daemon: DaemonProcess | undefined;
  const logTail: string[] = [];
  const start = async (): Promise<void> => {
    daemon = spawnDaemon(config, {}, 400);
    await daemon.waitLog(/"msg":"daemon started"/, 120_000);
  };
  const kill = async (): Promise<void> => {
    if (!daemon) return;
    logTail.push(...daemon.lines.slice(-40));
    await daemon.kill();
  };
  const alive = (): boolean => daemon?.alive ?? false;

  // Answers by transaction (final ones, and store errors), as the consumer sees them.
  const finals = new Map<string, AuditResponse[]>();
  const storeErrors = new Map<string, number>();
  const lastSent = new Map<string, number>();
  /** The daemon to SIGKILL as soon as the next answer arrives (an outbox-flush kill). */
  let killOnAnswer: DaemonProcess | undefined;
  const onAnswer = (_topic: string, buf: Buffer): void => {
    let a: AuditResponse;
    try {
      a = JSON.parse(buf.toString()) as AuditResponse;
    } catch {
      return;
    }
    const k = String(a.transaction);
    if (killOnAnswer?.alive) {
      killOnAnswer.proc.kill('SIGKILL');
      killOnAnswer = undefined;
    }
    if (a.status === 'error' && a.code.startsWith('store.')) {
      storeErrors.set(k, (storeErrors.get(k) ?? 0) + 1);
      r.storeErrorAnswers++;
      return;
    }
    finals.set(k, [...(finals.get(k) ?? []), a]);
  };

  if (!mosquitto) await start(); // the embedded broker lives in the daemon
  const connect = (clientId: string): Promise<MqttClient> =>
    mqtt.connectAsync(url, { clientId, clean: false, reconnectPeriod: 200 });
  const obs = await connect(`chaos-observer-${o.seed}`);
  obs.on('message', onAnswer);
  await obs.subscribeAsync('slmia/bridge/response/audit', { qos: 1 });
  const pub = await connect(`chaos-publisher-${o.seed}`);
  if (mosquitto) await start();

  const requests = new Map<string, { spool: boolean }>();
  const publish = (tx: string): void => {
    lastSent.set(tx, Date.now());
    // Not awaited: while the broker is down mqtt.js keeps the message and sends it after reconnecting.
    pub
      .publishAsync(
        'slmia/bridge/request/audit',
        JSON.stringify({ transaction: tx, speaker: o.speaker, files: o.files }),
        {
          qos: 1,
        },
      )
      .catch(() => undefined);
  };
  const writeSpool = (tx: string, i: number): void => {
    lastSent.set(tx, Date.now());
    const tmp = join(staging, `${i}-${Date.now()}`);
    mkdirSync(tmp, { recursive: true });
    for (const [k, f] of o.files.entries()) copyFileSync(f, join(tmp, `u${k}${f.slice(f.lastIndexOf('.'))}`));
    writeFileSync(join(tmp, '.ready'), JSON.stringify({ transaction: tx }));
    renameSync(tmp, join(spoolDir, `${o.speaker}_${i}`));
  };
  /** Re-send what the consumer must re-send: store-error answers with no final answer; unanswered ones. */
  const resend = (): void => {
    const now = Date.now();
    for (const [tx, req] of requests) {
      if (finals.has(tx)) continue;
      const since = now - (lastSent.get(tx) ?? now);
      if (storeErrors.has(tx) && !req.spool && since > 1000) {
        r.resentAfterStoreError++;
        storeErrors.delete(tx);
        publish(tx);
      } else if (o.retryUnansweredMs && !req.spool && since > o.retryUnansweredMs) {
        r.resentUnanswered++;
        publish(tx);
      }
    }
  };

  // Fault schedule: the request index after which each fault happens.
  const at = (n: number): number[] =>
    Array.from({ length: n }, () => 1 + Math.floor(rand() * Math.max(1, o.requests - 2))).sort(
      (a, b) => a - b,
    );
  const kills = at(o.kills);
  const restarts = mosquitto ? at(o.brokerRestarts) : [];
  const fulls = mounted ? at(o.diskFull) : [];
  const readOnlys = mounted ? at(o.readOnly) : [];
  try {
    /** Send request `i` (over MQTT, or every `spoolEvery`-th through the spool folder). */
    const send = (i: number, viaSpool = o.spoolEvery > 0 && i % o.spoolEvery === o.spoolEvery - 1): void => {
      const tx = `chaos-${o.seed}-${i}`;
      requests.set(tx, { spool: viaSpool });
      if (viaSpool) {
        writeSpool(tx, i);
        r.viaSpool++;
      } else publish(tx);
    };
    for (let i = 0; i < o.requests; i++) {
      send(i);
      await sleep(o.gapMs * (0.5 + rand()));
      resend();
      while (kills[0] !== undefined && kills[0] <= i) {
        kills.shift();
        if (r.kills % 2 === 1) {
          // During an outbox flush (every other kill): SIGKILL from the answer handler, the moment an answer
          // arrives (the daemon is publishing the rest of that audit's messages). When every request is
          // answered already, the next one is sent so that an answer comes.
          killOnAnswer = daemon;
          const end = Date.now() + 20_000;
          while (killOnAnswer && Date.now() < end) {
            if (i + 1 < o.requests && [...requests.keys()].every((tx) => finals.has(tx))) send(++i, false);
            await sleep(50);
          }
          if (!killOnAnswer) r.killsAfterAnswer++;
          killOnAnswer = undefined;
        } else await sleep(rand() * 800);
        await kill();
        r.kills++;
        say(`kill -9 #${r.kills} after request ${i}`);
        await sleep(rand() * 1500);
        await start();
      }
      while (restarts[0] !== undefined && restarts[0] <= i && mosquitto) {
        restarts.shift();
        await mosquitto.pause();
        await sleep(300 + rand() * 1500);
        await mosquitto.resume();
        r.brokerRestarts++;
        say(`broker restart #${r.brokerRestarts} after request ${i}`);
      }
      while (fulls[0] !== undefined && fulls[0] <= i) {
        fulls.shift();
        const filler = join(mnt, 'filler');
        spawnSync('dd', ['if=/dev/zero', `of=${filler}`, 'bs=64k', 'count=1000']);
        say(`disk full #${r.diskFull + 1} after request ${i}`);
        await sleep(faultMs / 2);
        if (i + 1 < o.requests) send(++i, false); // a request arrives while the disk is full
        await sleep(faultMs / 2);
        rmSync(filler, { force: true });
        r.diskFull++;
      }
      while (readOnlys[0] !== undefined && readOnlys[0] <= i) {
        readOnlys.shift();
        await daemon?.stop();
        const ro = spawnSync('mount', ['-o', 'remount,ro', mnt]);
        if (ro.status !== 0) throw new Error(`chaos: remount ro failed: ${ro.stderr?.toString()}`);
        await start();
        say(`read-only store #${r.readOnly + 1} after request ${i}`);
        if (i + 1 < o.requests) send(++i, false); // a request to the read-only store
        await sleep(faultMs);
        const rw = spawnSync('mount', ['-o', 'remount,rw', mnt]);
        if (rw.status !== 0) throw new Error(`chaos: remount rw failed: ${rw.stderr?.toString()}`);
        r.readOnly++;
      }
    }
    // Let everything be answered (a daemon must be running).
    if (!alive()) await start();
    const end = Date.now() + o.settleMs;
    const done = (): boolean => [...requests.keys()].every((tx) => finals.has(tx));
    while (!done() && Date.now() < end) {
      await sleep(200);
      resend();
    }
    await sleep(1500); // late duplicates
  } finally {
    await kill();
    await pub.endAsync(true);
    await obs.endAsync(true);
    await mosquitto?.stop();
  }
  const db = await Db.open(join(dataDir, 'slmia.db'));
  const twice = await db.all<{ n: number }>(
    "SELECT COUNT(*) AS n FROM audits WHERE transaction_id LIKE 'chaos-%' GROUP BY transaction_id HAVING n > 1",
  );
  await db.close();
  if (mounted) spawnSync('umount', ['-l', mnt]);
  rmSync(dir, { recursive: true, force: true });
  r.sent = requests.size;
  for (const tx of requests.keys()) {
    const a = finals.get(tx) ?? [];
    if (a.length === 0) {
      r.lost++;
      r.lostIds.push(tx);
      continue;
    }
    r.answered++;
    if (a.length > 1) r.duplicated++;
    r.extraAnswers += a.length - 1;
    const first = a[0] as AuditResponse;
    if (first.status === 'ok') r.ok++;
    else r.errors[first.code] = (r.errors[first.code] ?? 0) + 1;
  }
  r.auditedTwice = twice.length;
  r.seconds = Math.round((Date.now() - t0) / 100) / 10;
  if (r.lost > 0) r.logTail = logTail.slice(-60);
  return r;
}
