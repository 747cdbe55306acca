/** The audits + outbox tables on a real SQLite file: round trips, atomic commit, PUBACK-driven delete. */
import test from 'ava';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { insertAudit, lastAudit, listAudits } from '../src/store/audits.js';
import { Db, MIGRATIONS } from '../src/store/db.js';
import { ackOutbox, enqueueOutbox, outboxSize, pendingOutbox } from '../src/store/outbox.js';

const tmpDb = (): string => join(mkdtempSync(join(tmpdir(), 'slmia-store-')), 'slmia.db');

const outcome = {
  verdict: 'member' as const,
  probability: 0.8125,
  p_value: 0.00390625,
  reason: null,
  threshold: 0.5,
  target_fpr: 0.05,
  voices: 20,
  queries: 1,
  model_sha256: 'ab'.repeat(32),
  attack_id: '0123456789abcdef',
  quantized: Uint8Array.from({ length: 120 }, (_, i) => (i * 7) % 256),
  timings: { frontendMs: 12.5, inferenceMs: 30, featuresMs: 1, attackMs: 0.5 },
};

test('migrations create audits and outbox; user_version counts them', async (t) => {
  const db = await Db.open(tmpDb());
  const v = await db.get<{ user_version: number }>('PRAGMA user_version');
  t.is(v?.user_version, MIGRATIONS.length);
  const tables = (
    await db.all<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
  ).map((r) => r.name);
  t.true(tables.includes('audits') && tables.includes('outbox') && tables.includes('embedding_cache'));
  await db.close();
});

test('an audit round-trips with its quantized features, timings and identity', async (t) => {
  const path = tmpDb();
  let db = await Db.open(path);
  const id = await insertAudit(db, {
    transaction: 'tx-1',
    source: 'mqtt',
    speaker: 'SPEAKER0042',
    requestedAt: '2026-01-01T00:00:00.000Z',
    auditedAt: '2026-01-01T00:00:01.000Z',
    outcome,
  });
  await insertAudit(db, {
    transaction: 'tx-2',
    source: 'spool',
    speaker: 'SPEAKER0043',
    requestedAt: '2026-01-01T00:00:02.000Z',
    auditedAt: '2026-01-01T00:00:03.000Z',
    error: { code: 'audio.not-found', message: 'x.wav: no such file' },
  });
  await db.close();
  db = await Db.open(path); // reopen: data is on disk
  const [a] = await listAudits(db, { speaker: 'SPEAKER0042' });
  t.is(a?.id, id);
  t.is(a?.transaction, 'tx-1');
  t.is(a?.status, 'ok');
  t.is(a?.verdict, 'member');
  t.is(a?.probability, 0.8125);
  t.is(a?.p_value, 0.00390625);
  t.is(a?.reason, null);
  t.deepEqual(a?.quantized, outcome.quantized);
  t.deepEqual(a?.timings, outcome.timings);
  const last = await lastAudit(db);
  t.is(last?.status, 'error');
  t.is(last?.error_code, 'audio.not-found');
  t.is(last?.quantized, null);
  t.is((await listAudits(db, { status: 'error' })).length, 1);
  await db.close();
});

test('audit + outbox commit atomically: a failure inside the transaction leaves neither', async (t) => {
  const db = await Db.open(tmpDb());
  await t.throwsAsync(
    db.transaction(async (tx) => {
      const id = await insertAudit(tx, {
        transaction: 'tx-3',
        source: 'mqtt',
        speaker: 'S',
        requestedAt: 'r',
        auditedAt: 'a',
        outcome,
      });
      await enqueueOutbox(tx, {
        auditId: id,
        transaction: 'tx-3',
        topic: 'slmia/bridge/response/audit',
        payload: { status: 'ok' },
      });
      throw new Error('crash before commit');
    }),
    { message: 'crash before commit' },
  );
  t.is((await listAudits(db)).length, 0);
  t.is(await outboxSize(db), 0);
  await db.close();
});

test('outbox rows keep order and payload until acknowledged, then are deleted once', async (t) => {
  const db = await Db.open(tmpDb());
  const a = await enqueueOutbox(db, {
    transaction: 't',
    topic: 'slmia/bridge/response/audit',
    payload: { status: 'ok', transaction: 't' },
  });
  const b = await enqueueOutbox(db, {
    transaction: 't',
    topic: 'slmia/S1',
    payload: { verdict: 'member' },
    retain: true,
  });
  const rows = await pendingOutbox(db);
  t.deepEqual(
    rows.map((r) => [r.id, r.topic, r.retain, JSON.parse(r.payload)]),
    [
      [a, 'slmia/bridge/response/audit', false, { status: 'ok', transaction: 't' }],
      [b, 'slmia/S1', true, { verdict: 'member' }],
    ],
  );
  t.true(await ackOutbox(db, a));
  t.false(await ackOutbox(db, a));
  t.is(await outboxSize(db), 1);
  await db.close();
});

test('migration 006: audits may be inconclusive with a reason; older rows and their outbox / request links survive', async (t) => {
  const path = tmpDb();
  let db = await Db.open(
    path,
    MIGRATIONS.slice(
      0,
      MIGRATIONS.findIndex((m) => m.name === '006-audits-inconclusive'),
    ),
  );
  const old = await db.run(
    `INSERT INTO audits (transaction_id, source, speaker, status, verdict, probability, threshold, target_fpr, voices,
       queries, requested_at, audited_at) VALUES ('old', 'mqtt', 'S1', 'ok', 'member', 0.9, 0.5, 0.01, 10, 1, 'r', 'a')`,
  );
  await db.run(
    `INSERT INTO outbox (audit_id, transaction_id, topic, payload, created_at) VALUES (?, 'old', 't', '{}', 'c')`,
    [old.lastID],
  );
  await db.run(
    `INSERT INTO requests (transaction_id, transaction_json, source, input, state, audit_id, received_at)
       VALUES ('old', '"old"', 'mqtt', '{}', 'answered', ?, 'r')`,
    [old.lastID],
  );
  await t.throwsAsync(
    db.run(`UPDATE audits SET verdict = 'inconclusive' WHERE id = ?`, [old.lastID]),
    undefined,
    'the old CHECK refuses inconclusive',
  );
  await db.close();
  db = await Db.open(path);
  const [a] = await listAudits(db, { transaction: 'old' });
  t.is(a.verdict, 'member');
  t.is(a.p_value, null, 'no p-value for an audit stored before 006');
  t.is((await db.get<{ audit_id: number }>('SELECT audit_id FROM outbox'))?.audit_id, old.lastID);
  t.is((await db.get<{ audit_id: number }>('SELECT audit_id FROM requests'))?.audit_id, old.lastID);
  const id = await insertAudit(db, {
    transaction: 'new',
    source: 'cli',
    speaker: 'S2',
    requestedAt: 'r',
    auditedAt: 'a',
    outcome: { ...outcome, verdict: 'inconclusive', reason: 'voices-too-short', p_value: 0.5 },
  });
  const [b] = await listAudits(db, { transaction: 'new' });
  t.is(b.id, id);
  t.is(b.verdict, 'inconclusive');
  t.is(b.reason, 'voices-too-short');
  t.is(b.p_value, 0.5);
  await t.throwsAsync(db.run(`UPDATE audits SET verdict = 'maybe' WHERE id = ?`, [id]));
  await db.close();
});
