/**
 * Durable requests and exactly-one answers, with the real pipeline on real speakers, the embedded aedes
 * broker and a real Mosquitto: one serialised database path, typed store faults (a real full disk on a
 * tmpfs mount, a read-only mount), requests sent while the daemon is down, repeated and retained requests,
 * bounded requests, spool folders rejected for their name, and the unhandled-rejection guard.
 */
import test from 'ava';
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { startDaemon } from '../src/daemon/controller.js';
import type { AuditResponse, BridgeHealth, BridgeInfo } from '../src/publish/topics.js';
import { listAudits } from '../src/store/audits.js';
import { Db, StoreError } from '../src/store/db.js';
import { pipelineTest, testConfig, usePipelineContext, type PipelineContext } from './helpers/daemon.js';
import { Mosquitto, mosquittoBin } from './helpers/mosquitto.js';
import { Observer } from './helpers/mqtt-observer.js';

const tmp = (): string => mkdtempSync(join(tmpdir(), 'slmia-durable-'));

type Ctx = PipelineContext;

usePipelineContext();

/** Mount a tmpfs of `size` at a fresh folder; undefined when this machine does not allow mounting. */
function mountTmpfs(size: string): { dir: string; umount: () => void } | undefined {
  const dir = tmp();
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir]);
  if (r.status !== 0) {
    if (process.env.CI) throw new Error(`mount tmpfs failed in CI: ${r.stderr?.toString()}`);
    return undefined;
  }
  return { dir, umount: () => void spawnSync('umount', ['-l', dir]) };
}

test('Db: one serialised path — a plain statement never joins (or is rolled back with) another caller’s transaction', async (t) => {
  const db = await Db.open(join(tmp(), 'slmia.db'));
  await db.exec('CREATE TABLE t (v TEXT)');
  let inside!: () => void;
  const entered = new Promise<void>((r) => (inside = r));
  const failing = db.transaction(async (tx) => {
    await tx.run("INSERT INTO t VALUES ('tx')");
    inside();
    await new Promise((r) => setTimeout(r, 50));
    throw new Error('rolled back');
  });
  await entered;
  // Issued while the transaction is open: it waits, and is not part of it.
  const plain = db.run("INSERT INTO t VALUES ('plain')");
  const seen = db.all<{ v: string }>('SELECT v FROM t');
  await t.throwsAsync(failing, { message: 'rolled back' });
  await plain;
  t.deepEqual(
    (await seen).map((r) => r.v),
    ['plain'],
    'no uncommitted row read, the plain insert kept',
  );
  // Using the Db (not the tx handle) inside a transaction is a clear error, not a deadlock.
  const misuse = await t.throwsAsync(db.transaction(async () => db.run("INSERT INTO t VALUES ('x')")));
  t.regex(misuse?.message ?? '', /inside its own transaction/);
  await db.close();
});

test('Db: a full database is a typed store.full fault, emitted once; the next successful write recovers', async (t) => {
  const db = await Db.open(join(tmp(), 'slmia.db'));
  await db.exec('CREATE TABLE big (b BLOB)');
  const faults: string[] = [];
  let recovered = 0;
  db.on('fault', (e) => faults.push(e.code));
  db.on('recovered', () => recovered++);
  const pages = (await db.get<{ page_count: number }>('PRAGMA page_count'))?.page_count ?? 0;
  // A page limit on this connection stands in for a full disk here (the daemon test below fills a real tmpfs).
  await db.exec(`PRAGMA max_page_count = ${pages + 4}`);
  const err = await t.throwsAsync(db.run('INSERT INTO big VALUES (?)', [Buffer.alloc(64 * 1024)]), {
    instanceOf: StoreError,
  });
  t.is(err?.code, 'store.full');
  t.true(err?.storageFault);
  t.deepEqual(faults, ['store.full']);
  t.is(db.fault?.code, 'store.full');
  await db.run('INSERT INTO big VALUES (?)', [Buffer.alloc(10)]);
  t.is(recovered, 1);
  t.is(db.fault, undefined);
  await db.close();
});

pipelineTest(
  'embedded broker: repeated transaction answered from the store, retained request refused, bounds, limits in bridge/info',
  async (t) => {
    const c = t.context as Ctx;
    const config = testConfig({ files: { max_files: 12 } });
    const daemon = await startDaemon(config, { auditor: c.auditor });
    const url = daemon.broker?.url as string;
    const obs = await Observer.connect(url, 'slmia/bridge/#');
    try {
      const info = (await obs.waitFor((m) => m.topic === 'slmia/bridge/info', 10_000, 'info'))
        .payload as BridgeInfo;
      t.like(info.limits, {
        max_files: 12,
        max_seconds: 600,
        max_pending: 8,
        max_payload_bytes: 262144,
        max_field_chars: 128,
      });
      const req = 'slmia/bridge/request/audit';
      const files = c.member.train.map((u) => u.path);
      await obs.publish(req, { transaction: 'rep-1', speaker: c.member.speaker, files });
      const first = (await obs.response('slmia', 'rep-1')).payload as AuditResponse;
      t.is(first.status, 'ok');
      await obs.publish(req, { transaction: 'rep-1', speaker: c.member.speaker, files });
      await obs.waitFor(
        (m) =>
          m.topic === 'slmia/bridge/response/audit' &&
          obs.on(m.topic).filter((x) => (x.payload as AuditResponse).transaction === 'rep-1').length === 2,
        20_000,
        'second answer to rep-1',
      );
      const answers = obs
        .on('slmia/bridge/response/audit')
        .filter((m) => (m.payload as AuditResponse).transaction === 'rep-1');
      t.deepEqual(answers[1]?.payload, first, 'the stored answer, byte for byte');
      t.is((await listAudits(daemon.db, { transaction: 'rep-1' })).length, 1, 'audited once');
      // Retained: refused with a clear error, and the broker does not keep it.
      const raw = await mqtt.connectAsync(url);
      await raw.publishAsync(
        req,
        JSON.stringify({ transaction: 'ret-1', speaker: c.member.speaker, files }),
        { qos: 1, retain: true },
      );
      const ret = (await obs.response('slmia', 'ret-1')).payload as AuditResponse;
      t.like(ret, { status: 'error', code: 'request.retained' });
      const late = await Observer.connect(url, req);
      await new Promise((r) => setTimeout(r, 300));
      t.is(late.messages.length, 0, 'no retained request left on the broker');
      await late.close();
      await raw.endAsync();
      // Bounds: too many files, a 300 kB speaker and transaction are answered with cut texts.
      await obs.publish(req, {
        transaction: 'many',
        speaker: 'S1',
        files: Array.from({ length: 13 }, (_, i) => `f${i}.wav`),
      });
      t.regex(
        ((await obs.response('slmia', 'many')).payload as { error: string }).error,
        /13 entries; at most 12 per request/,
      );
      const huge = 'x'.repeat(300_000);
      await obs.publish(req, { transaction: 'big-speaker', speaker: huge, files: ['a.wav'] });
      const big = (await obs.response('slmia', 'big-speaker')).payload as { error: string };
      t.true(big.error.length < 400, `error text cut (${big.error.length} chars)`);
      await obs.publish(req, { transaction: huge, speaker: 'S1', files: ['a.wav'] });
      const bigTx = await obs.waitFor(
        (m) =>
          m.topic === 'slmia/bridge/response/audit' &&
          typeof (m.payload as AuditResponse).transaction === 'string' &&
          ((m.payload as AuditResponse).transaction as string).startsWith('xxxx'),
        20_000,
        'big transaction answer',
      );
      t.is(((bigTx.payload as AuditResponse).transaction as string).length, 128);
      await obs.publish(req, '{"transaction": 1e999, "speaker": "S1", "files": ["a.wav"]}');
      const inf = await obs.waitFor(
        (m) => m.topic === 'slmia/bridge/response/audit' && (m.payload as AuditResponse).transaction === null,
        20_000,
        '1e999 answer',
      );
      t.regex((inf.payload as { error: string }).error, /field "transaction"/);
      const stored = await listAudits(daemon.db, { limit: 20 });
      t.true(
        stored.every((r) => (r.error?.length ?? 0) < 1100 && r.transaction.length <= 128),
        'nothing long stored',
      );
    } finally {
      await obs.close();
      await daemon.stop();
    }
  },
);

pipelineTest(
  'a request without a transaction id redelivered with the MQTT DUP flag is the same request (audited once); the same payload without DUP is a new one',
  async (t) => {
    const c = t.context as Ctx;
    const daemon = await startDaemon(testConfig(), { auditor: c.auditor });
    try {
      const payload = Buffer.from(
        JSON.stringify({ speaker: c.member.speaker, files: c.member.train.map((u) => u.path) }),
      );
      t.is(await daemon.handler.intake(payload), 'queued');
      // A broker re-sending it after a crash (the daemon stored it but died before its PUBACK).
      t.true(['duplicate-pending', 'replayed'].includes(await daemon.handler.intake(payload, { dup: true })));
      await daemon.queue.idle();
      t.is(await daemon.handler.intake(payload, { dup: true }), 'replayed', 'answered again from the store');
      t.is(
        await daemon.handler.intake(payload),
        'queued',
        'a fresh publish of the same payload: a new request',
      );
      await daemon.queue.idle();
      const audits = await listAudits(daemon.db, { speaker: c.member.speaker });
      t.is(audits.length, 2, 'two requests, two audits — not three');
      t.not(audits[0]?.transaction, audits[1]?.transaction);
    } finally {
      await daemon.stop();
    }
  },
);

pipelineTest(
  'spool folder rejected for its name (Jörg/ with {"transaction":"s2"}) → error response with s2 and a failed audit row',
  async (t) => {
    const config = testConfig({ spool: { enabled: true, poll_ms: 100 } });
    const daemon = await startDaemon(config, { auditor: (t.context as Ctx).auditor });
    const obs = await Observer.connect(daemon.broker?.url as string, 'slmia/bridge/response/audit');
    try {
      const folder = join(config.spool.dir, 'Jörg');
      mkdirSync(folder, { recursive: true });
      writeFileSync(join(folder, 'a.wav'), 'RIFF');
      writeFileSync(join(folder, '.ready'), '{"transaction":"s2"}');
      const r = (await obs.response('slmia', 's2', 20_000)).payload as AuditResponse;
      t.like(r, { status: 'error', code: 'spool.rejected', transaction: 's2' });
      t.regex((r as { error: string }).error, /Jörg/);
      const [row] = await listAudits(daemon.db, { transaction: 's2' });
      t.like(row, { status: 'error', source: 'spool', error_code: 'spool.rejected' });
    } finally {
      await obs.close();
      await daemon.stop();
    }
  },
);

const mosqTest = mosquittoBin ? pipelineTest : test.skip;

mosqTest(
  'Mosquitto: requests sent while the daemon is down are answered after it starts; a retained request is refused once over restarts',
  async (t) => {
    const c = t.context as Ctx;
    const broker = await Mosquitto.start();
    const config = testConfig({ mqtt: { url: broker.url, client_id: 'slmia-durable' } });
    const obs = await Observer.connect(broker.url, 'slmia/bridge/response/audit', {
      clientId: 'dash',
      clean: false,
    });
    const files = c.member.train.map((u) => u.path);
    const req = 'slmia/bridge/request/audit';
    // Left retained on the broker before the daemon ever subscribed: delivered with the retain flag.
    await obs.client.publishAsync(
      req,
      JSON.stringify({ transaction: 'ret-m', speaker: c.member.speaker, files }),
      {
        qos: 1,
        retain: true,
      },
    );
    let daemon = await startDaemon(config, { auditor: c.auditor });
    try {
      t.like((await obs.response('slmia', 'ret-m')).payload, { code: 'request.retained' });
      await daemon.stop();
      for (const tx of ['down-1', 'down-2', 'down-3'])
        await obs.publish(req, { transaction: tx, speaker: c.member.speaker, files });
      daemon = await startDaemon(config, { auditor: c.auditor });
      for (const tx of ['down-1', 'down-2', 'down-3'])
        t.like((await obs.response('slmia', tx, 60_000)).payload, { status: 'ok', transaction: tx });
      await daemon.queue.idle();
      const retained = obs
        .on('slmia/bridge/response/audit')
        .filter((m) => (m.payload as AuditResponse).transaction === 'ret-m');
      t.is(
        retained.length,
        1,
        'the retained request, delivered again at the next subscribe, is not answered twice',
      );
      t.is((await listAudits(daemon.db, { transaction: 'ret-m' })).length, 1);
    } finally {
      await obs.client.publishAsync(req, '', { qos: 1, retain: true }).catch(() => undefined);
      await obs.close();
      await daemon.stop();
      await broker.stop();
    }
  },
);

mosqTest(
  'Mosquitto, MQTT 5 (retain-as-published): a retained request published while the daemon is subscribed is refused once; with protocol_version 4 it counts as a plain one',
  async (t) => {
    const c = t.context as Ctx;
    const broker = await Mosquitto.start();
    const files = c.member.train.map((u) => u.path);
    const req = 'slmia/bridge/request/audit';
    const obs = await Observer.connect(broker.url, 'slmia/bridge/response/audit');
    const config = testConfig({ mqtt: { url: broker.url, client_id: 'slmia-rap' } });
    let daemon = await startDaemon(config, { auditor: c.auditor });
    try {
      t.is(daemon.link.protocolVersion, 5);
      await obs.client.publishAsync(
        req,
        JSON.stringify({ transaction: 'rap-1', speaker: c.member.speaker, files }),
        {
          qos: 1,
          retain: true,
        },
      );
      t.like((await obs.response('slmia', 'rap-1')).payload, { status: 'error', code: 'request.retained' });
      await daemon.stop();
      daemon = await startDaemon(config, { auditor: c.auditor }); // the broker delivers the retained one again
      await new Promise((r) => setTimeout(r, 1000));
      await daemon.queue.idle();
      const answers = obs
        .on('slmia/bridge/response/audit')
        .filter((m) => (m.payload as AuditResponse).transaction === 'rap-1');
      t.is(answers.length, 1, 'refused once, its redelivery at the next subscribe dropped');
      t.is(
        (await listAudits(daemon.db, { transaction: 'rap-1' })).length,
        1,
        'one failed audit row, no verdict',
      );
      await obs.client.publishAsync(req, '', { qos: 1, retain: true });
      await daemon.stop();
      // MQTT 3.1.1: the broker clears the flag on live delivery — the request is audited.
      daemon = await startDaemon(
        testConfig({ mqtt: { url: broker.url, client_id: 'slmia-v4', protocol_version: 4 } }),
        {
          auditor: c.auditor,
        },
      );
      t.is(daemon.link.protocolVersion, 4);
      await obs.client.publishAsync(
        req,
        JSON.stringify({ transaction: 'v4-1', speaker: c.member.speaker, files }),
        {
          qos: 1,
          retain: true,
        },
      );
      t.like((await obs.response('slmia', 'v4-1', 60_000)).payload, { status: 'ok' });
    } finally {
      await obs.client.publishAsync(req, '', { qos: 1, retain: true }).catch(() => undefined);
      await obs.close();
      await daemon.stop();
      await broker.stop();
    }
  },
);

pipelineTest(
  'full disk (real tmpfs) → typed store.full answers and degraded health; space freed → healthy, parked request answered',
  async (t) => {
    const m = mountTmpfs('3m');
    if (!m)
      return t.pass(
        'mount not permitted on this machine: full-disk part skipped (the Db test above covers SQLITE_FULL)',
      );
    const c = t.context as Ctx;
    try {
      const config = testConfig({ data_dir: join(m.dir, 'data'), health_interval_s: 600 });
      const daemon = await startDaemon(config, { auditor: c.auditor });
      const obs = await Observer.connect(daemon.broker?.url as string, 'slmia/bridge/#');
      try {
        const files = c.member.train.map((u) => u.path);
        const filler = join(m.dir, 'filler');
        const fill = (): unknown => spawnSync('dd', ['if=/dev/zero', `of=${filler}`, 'bs=64k', 'count=100']);
        const req = 'slmia/bridge/request/audit';
        const answer = async (tx: string, status: string): Promise<{ code?: string; error?: string }> =>
          (
            await obs.waitFor(
              (x) =>
                x.topic === 'slmia/bridge/response/audit' &&
                (x.payload as AuditResponse).transaction === tx &&
                (x.payload as AuditResponse).status === status,
              60_000,
              `${status} answer to ${tx}`,
            )
          ).payload as { code?: string; error?: string };
        const health = (status: string): Promise<unknown> =>
          obs.waitFor(
            (x) =>
              x.topic === 'slmia/bridge/health' &&
              (x.payload as BridgeHealth).status === status &&
              x.at > mark,
            20_000,
            `${status} health`,
          );
        let mark = Date.now();
        // 1. The disk is full before the request arrives: it cannot be stored → typed answer, id not consumed.
        fill();
        await obs.publish(req, { transaction: 'full-1', speaker: c.member.speaker, files });
        const r = await answer('full-1', 'error');
        t.is(r.code, 'store.full');
        t.regex(r.error ?? '', /request not stored/);
        const degraded = (await health('degraded')) as { payload: BridgeHealth };
        t.like(degraded.payload.problems?.[0], { code: 'store.full' });
        rmSync(filler);
        mark = Date.now();
        await health('ok');
        await obs.publish(req, { transaction: 'full-1', speaker: c.member.speaker, files });
        await answer('full-1', 'ok');
        // 2. The disk fills while the audit runs: the answer cannot be committed → typed answer at once; the
        // request stays stored and is audited and answered once the space is back.
        const many = Array.from({ length: 6 }, () => files).flat();
        await obs.publish(req, { transaction: 'full-2', speaker: c.member.speaker, files: many });
        await obs.waitFor(
          (x) =>
            x.topic === 'slmia/bridge/event' &&
            (x.payload as { type: string; transaction: string }).type === 'embedding' &&
            (x.payload as { transaction: string }).transaction === 'full-2',
          60_000,
          'full-2 embedding',
        );
        fill();
        const provisional = await answer('full-2', 'error');
        t.is(provisional.code, 'store.full');
        t.regex(provisional.error ?? '', /audit not stored/);
        rmSync(filler);
        await answer('full-2', 'ok');
        t.is((await listAudits(daemon.db, { transaction: 'full-2' })).length, 1);
      } finally {
        await obs.close();
        await daemon.stop();
      }
    } finally {
      m.umount();
    }
  },
);

pipelineTest(
  'spool folder claimed while the disk is full → store.full answer, then audited once the space is back (no restart)',
  async (t) => {
    const m = mountTmpfs('3m');
    if (!m) return t.pass('mount not permitted on this machine: full-disk spool part skipped');
    const c = t.context as Ctx;
    try {
      const config = testConfig({
        data_dir: join(m.dir, 'data'),
        spool: { enabled: true, dir: join(tmp(), 'spool'), poll_ms: 100 },
      });
      const daemon = await startDaemon(config, { auditor: c.auditor });
      const obs = await Observer.connect(daemon.broker?.url as string, 'slmia/bridge/response/audit');
      try {
        const filler = join(m.dir, 'filler');
        spawnSync('dd', ['if=/dev/zero', `of=${filler}`, 'bs=64k', 'count=100']);
        const folder = join(tmp(), c.member.speaker);
        mkdirSync(folder);
        for (const [i, u] of c.member.train.entries()) copyFileSync(u.path, join(folder, `u${i}.flac`));
        writeFileSync(join(folder, '.ready'), '{"transaction":"spool-full"}');
        renameSync(folder, join(config.spool.dir, c.member.speaker));
        const first = (await obs.response('slmia', 'spool-full', 20_000)).payload as AuditResponse;
        t.like(first, { status: 'error', code: 'store.full' });
        rmSync(filler);
        const ok = await obs.waitFor(
          (x) =>
            (x.payload as AuditResponse).transaction === 'spool-full' &&
            (x.payload as AuditResponse).status === 'ok',
          60_000,
          'verdict for the spool folder after the store recovered',
        );
        t.like(ok.payload, { status: 'ok', data: { speaker: c.member.speaker } });
        t.is((await listAudits(daemon.db, { transaction: 'spool-full' })).length, 1);
      } finally {
        await obs.close();
        await daemon.stop();
      }
    } finally {
      m.umount();
    }
  },
);

pipelineTest(
  'read-only database at start-up → the daemon starts degraded and answers store.read-only; remounted rw → audits',
  async (t) => {
    const m = mountTmpfs('16m');
    if (!m) return t.pass('mount not permitted on this machine: read-only part skipped');
    const c = t.context as Ctx;
    try {
      const config = testConfig({ data_dir: join(m.dir, 'data') });
      let daemon = await startDaemon(config, { auditor: c.auditor });
      await daemon.stop();
      execFileSync('mount', ['-o', 'remount,ro', m.dir]);
      daemon = await startDaemon(config, { auditor: c.auditor });
      const obs = await Observer.connect(daemon.broker?.url as string, 'slmia/bridge/#');
      try {
        t.is(daemon.health.status, 'degraded');
        const files = c.member.train.map((u) => u.path);
        await obs.publish('slmia/bridge/request/audit', {
          transaction: 'ro-1',
          speaker: c.member.speaker,
          files,
        });
        t.like((await obs.response('slmia', 'ro-1', 20_000)).payload, {
          status: 'error',
          code: 'store.read-only',
        });
        execFileSync('mount', ['-o', 'remount,rw', m.dir]);
        await obs.waitFor(
          (x) => x.topic === 'slmia/bridge/health' && (x.payload as BridgeHealth).status === 'ok',
          20_000,
          'healthy after remount',
        );
        await obs.publish('slmia/bridge/request/audit', {
          transaction: 'ro-2',
          speaker: c.member.speaker,
          files,
        });
        t.like((await obs.response('slmia', 'ro-2', 60_000)).payload, { status: 'ok' });
      } finally {
        await obs.close();
        await daemon.stop();
      }
    } finally {
      m.umount();
    }
  },
);

pipelineTest(
  'the daemon guards against stray promise rejections while it runs (and removes the guard on stop)',
  async (t) => {
    const before = process.listenerCount('unhandledRejection');
    const daemon = await startDaemon(testConfig(), { auditor: (t.context as Ctx).auditor });
    t.is(process.listenerCount('unhandledRejection'), before + 1);
    await daemon.stop();
    t.is(process.listenerCount('unhandledRejection'), before);
  },
);
