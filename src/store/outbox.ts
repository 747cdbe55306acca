/**
 * The MQTT outbox (migration 003): messages that must reach the broker at least once. A verdict and its
 * outbox rows are committed in one transaction; a row is deleted only after the broker's PUBACK (QoS 1), so
 * broker outages and daemon crashes lose nothing. A redelivered message is byte-identical (same transaction id).
 */
import type { Sql } from './db.js';

/** One message waiting for the broker's acknowledgement. `payload` is the JSON text. */
export interface OutboxMessage {
  id: number;
  audit_id: number | null;
  transaction: string | null;
  topic: string;
  payload: string;
  retain: boolean;
  created_at: string;
}

/** A message to enqueue. */
export interface OutboxInsert {
  auditId?: number | null;
  transaction?: string | null;
  topic: string;
  payload: unknown;
  retain?: boolean;
}

/**
 * Add a message (call inside a `Db.transaction` (its `tx` handle) with the audit row it belongs to).
 * @returns the outbox row id
 */
export async function enqueueOutbox(
  db: Sql,
  m: OutboxInsert,
  now = new Date().toISOString(),
): Promise<number> {
  const { lastID } = await db.run(
    'INSERT INTO outbox (audit_id, transaction_id, topic, payload, retain, created_at) VALUES (?, ?, ?, ?, ?, ?)',
    [m.auditId ?? null, m.transaction ?? null, m.topic, JSON.stringify(m.payload), m.retain ? 1 : 0, now],
  );
  return lastID;
}

interface OutboxRow extends Omit<OutboxMessage, 'retain' | 'transaction'> {
  retain: number;
  transaction_id: string | null;
}

/** Pending messages in commit order (oldest first). */
export async function pendingOutbox(db: Sql, limit = 1000): Promise<OutboxMessage[]> {
  const rows = await db.all<OutboxRow>('SELECT * FROM outbox ORDER BY id LIMIT ?', [limit]);
  return rows.map(({ retain, transaction_id, ...r }) => ({
    ...r,
    transaction: transaction_id,
    retain: retain === 1,
  }));
}

/** Delete a delivered message (after PUBACK). Resolves with whether a row was removed. */
export async function ackOutbox(db: Sql, id: number): Promise<boolean> {
  return (await db.run('DELETE FROM outbox WHERE id = ?', [id])).changes > 0;
}

/** Number of messages still waiting for the broker. */
export async function outboxSize(db: Sql): Promise<number> {
  return (await db.get<{ n: number }>('SELECT COUNT(*) AS n FROM outbox'))?.n ?? 0;
}

/** Delete several delivered messages in one statement. Resolves with the number removed. */
export async function ackOutboxMany(db: Sql, ids: number[]): Promise<number> {
  if (ids.length === 0) return 0;
  return (await db.run(`DELETE FROM outbox WHERE id IN (${ids.map(() => '?').join(', ')})`, ids)).changes;
}
