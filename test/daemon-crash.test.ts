/**
 * Crash safety with the daemon as a child process (`slmia daemon`): it is SIGKILLed after committing a
 * verdict but before the broker's PUBACK (test hook SLMIA_TEST_HOLD_OUTBOX=1 keeps the outbox unpublished),
 * then restarted: the verdict is delivered with the same transaction id and the audit is not run twice.
 * Also checks the Last Will (offline) and a clean SIGTERM shutdown.
 */
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { GroupSpeaker } from '../src/dataset/index.js';
import type { AuditResponse } from '../src/publish/topics.js';
import { listAudits } from '../src/store/audits.js';
import { Db } from '../src/store/db.js';
import { spawnDaemon, type DaemonProcess } from './helpers/daemon-process.js';
import { pendingOutbox } from '../src/store/outbox.js';
import { groupSpeakers, labCachePath, pipelinePaths, pipelineTest } from './helpers/daemon.js';
import { Mosquitto, mosquittoBin, NO_MOSQUITTO } from './helpers/mosquitto.js';
import { Observer } from './helpers/mqtt-observer.js';
import { withTool } from './helpers/tools.js';

const crashTest = withTool(Boolean(mosquittoBin), NO_MOSQUITTO, pipelineTest);

crashTest(
  'SIGKILL between commit and PUBACK → delivered after restart with the same transaction id',
  async (t) => {
    const broker = await Mosquitto.start();
    const dir = mkdtempSync(join(tmpdir(), 'slmia-crash-'));
    const dataDir = join(dir, 'data');
    const config = join(dir, 'config.yaml');
    writeFileSync(
      config,
      stringify({
        data_dir: dataDir,
        model: pipelinePaths.model,
        attack: pipelinePaths.attack,
        device_id: 'crash-hub',
        spool: { enabled: false },
        mqtt: { url: broker.url, reconnect_period_ms: 200 },
      }),
    );
    // Reference embeddings come from the lab cache so each start is quick (the daemon reads its own DB).
    mkdirSync(dataDir, { recursive: true });
    if (existsSync(labCachePath)) copyFileSync(labCachePath, join(dataDir, 'slmia.db'));
    const obs = await Observer.connect(broker.url, ['slmia/bridge/state', 'slmia/bridge/response/audit'], {
      clientId: 'crash-dashboard',
      clean: false,
    });
    const member = (await groupSpeakers('target-member')).find(
      (s) => s.speaker === 'SPEAKER0461',
    ) as GroupSpeaker;
    let first: DaemonProcess | undefined;
    let second: DaemonProcess | undefined;
    try {
      first = spawnDaemon(config, { SLMIA_TEST_HOLD_OUTBOX: '1' });
      await first.waitLog(/"msg":"daemon started"/);
      await obs.publish('slmia/bridge/request/audit', {
        transaction: 'crash-7',
        speaker: member.speaker,
        files: member.train.map((u) => u.path),
      });
      const committed = JSON.parse(
        await first.waitLog(/"transaction":"crash-7".*"msg":"audit committed"/),
      ) as { status: string };
      t.is(committed.status, 'ok');
      const exited = new Promise((r) => first?.proc.once('exit', (code, sig) => r(sig)));
      first.proc.kill('SIGKILL');
      t.is(await exited, 'SIGKILL');
      // The Last Will tells the world the bridge is offline; nothing was delivered yet.
      await obs.waitFor(
        (m) => m.topic === 'slmia/bridge/state' && (m.payload as { state: string }).state === 'offline',
        20_000,
        'LWT offline',
      );
      t.is(obs.on('slmia/bridge/response/audit').length, 0);
      const db = await Db.open(join(dataDir, 'slmia.db'));
      const pending = await pendingOutbox(db);
      t.deepEqual([...new Set(pending.map((m) => m.transaction))], ['crash-7']);
      t.true(pending.some((m) => m.topic === 'slmia/bridge/response/audit'));
      await db.close();

      second = spawnDaemon(config, {});
      const r = (await obs.response('slmia', 'crash-7', 120_000)).payload as AuditResponse;
      t.is(r.status, 'ok');
      t.is(r.transaction, 'crash-7');
      if (r.status === 'ok') t.is(r.data.speaker, member.speaker);
      await second.waitLog(/"msg":"daemon started"/);
      const stopped = new Promise<number | null>((res) => second?.proc.once('exit', (code) => res(code)));
      second.proc.kill('SIGTERM');
      t.is(await stopped, 0);
      t.truthy(second.lines.find((l) => l.includes('"msg":"stopped"')));
      const db2 = await Db.open(join(dataDir, 'slmia.db'));
      t.is(
        (await listAudits(db2, { transaction: 'crash-7' })).length,
        1,
        'audited once, delivered after restart',
      );
      t.is((await pendingOutbox(db2)).length, 0);
      await db2.close();
      const states = obs.on('slmia/bridge/state').map((m) => (m.payload as { state: string }).state);
      t.is(states.at(-1), 'offline', 'graceful stop publishes offline');
    } finally {
      for (const d of [first, second])
        if (d && d.proc.exitCode === null && d.proc.signalCode === null) d.proc.kill('SIGKILL');
      await obs.close();
      await broker.stop();
    }
  },
);
