/**
 * The requests table (migration 004): every accepted audit request, stored BEFORE it is acknowledged to the
 * broker, keyed by its transaction id. A request is `pending` until its answer is committed (in the same
 * transaction as its audit row and outbox messages), then `answered` with the response text kept, so a
 * repeated transaction id is answered from the store instead of being audited again. The worker takes
 * pending requests in arrival order, so requests survive kill -9 and restarts whatever the queue bound.
 */
import type { Sql } from './db.js';

/** Where a request sits: waiting for its audit, or answered (response stored). */
export type RequestState = 'pending' | 'answered';

/** A stored request as read back. */
export interface StoredRequest {
  /** Arrival order. */
  seq: number;
  /** The transaction id as text (the table key). */
  key: string;
  /** The transaction id exactly as the request gave it (string or number), or null when it had none. */
  transaction: string | number | null;
  source: string;
  speaker: string | null;
  /** The request's input as stored (JSON value; the daemon's job input). */
  input: unknown;
  state: RequestState;
  audit_id: number | null;
  /** The JSON text of the answer (answered requests). */
  response: string | null;
  received_at: string;
  answered_at: string | null;
}

interface Row extends Omit<StoredRequest, 'key' | 'transaction' | 'input'> {
  transaction_id: string;
  transaction_json: string;
  input: string;
  payload_sha256: string | null;
}

function fromRow(r: Row): StoredRequest {
  const { transaction_id, transaction_json, input, payload_sha256: _digest, ...rest } = r;
  return {
    ...rest,
    key: transaction_id,
    transaction: JSON.parse(transaction_json) as string | number | null,
    input: JSON.parse(input) as unknown,
  };
}

/** A request to store. */
export interface RequestInsert {
  key: string;
  transaction: string | number | null;
  source: string;
  speaker: string | null;
  input: unknown;
  receivedAt: string;
  /** SHA-256 (hex) of the payload of a request without a transaction id (see {@link findByDigest}). */
  payloadSha256?: string;
}

/**
 * Store a pending request.
 * @returns its arrival sequence number
 * @throws StoreError (`store.failed` on a duplicate key: look it up first with {@link findRequest})
 */
export async function insertRequest(db: Sql, r: RequestInsert): Promise<number> {
  const { lastID } = await db.run(
    `INSERT INTO requests (transaction_id, transaction_json, source, speaker, input, state, received_at,
       payload_sha256)
     VALUES (?, ?, ?, ?, ?, 'pending', ?, ?)`,
    [
      r.key,
      JSON.stringify(r.transaction),
      r.source,
      r.speaker,
      JSON.stringify(r.input),
      r.receivedAt,
      r.payloadSha256 ?? null,
    ],
  );
  return lastID;
}

/**
 * Mark a request answered with its audit row and response text; a request that was never stored pending
 * (rejected at intake) is inserted answered.
 */
export async function answerRequest(
  db: Sql,
  r: RequestInsert & { auditId: number; response: string; answeredAt: string },
): Promise<void> {
  await db.run(
    `INSERT INTO requests (transaction_id, transaction_json, source, speaker, input, state, audit_id, response,
       received_at, answered_at)
     VALUES (?, ?, ?, ?, ?, 'answered', ?, ?, ?, ?)
     ON CONFLICT (transaction_id) DO UPDATE SET state = 'answered', audit_id = excluded.audit_id,
       response = excluded.response, answered_at = excluded.answered_at`,
    [
      r.key,
      JSON.stringify(r.transaction),
      r.source,
      r.speaker,
      JSON.stringify(r.input),
      r.auditId,
      r.response,
      r.receivedAt,
      r.answeredAt,
    ],
  );
}

/** The request with this transaction key, if any. */
export async function findRequest(db: Sql, key: string): Promise<StoredRequest | undefined> {
  const row = await db.get<Row>('SELECT * FROM requests WHERE transaction_id = ?', [key]);
  return row && fromRow(row);
}

/** The latest request stored without a transaction id whose payload had this SHA-256 (hex), if any. */
export async function findByDigest(db: Sql, payloadSha256: string): Promise<StoredRequest | undefined> {
  const row = await db.get<Row>('SELECT * FROM requests WHERE payload_sha256 = ? ORDER BY seq DESC LIMIT 1', [
    payloadSha256,
  ]);
  return row && fromRow(row);
}

/** The oldest pending request whose seq is not in `skip`. */
export async function nextPending(db: Sql, skip: Iterable<number> = []): Promise<StoredRequest | undefined> {
  const ids = [...skip];
  const row = await db.get<Row>(
    `SELECT * FROM requests WHERE state = 'pending'${ids.length ? ` AND seq NOT IN (${ids.map(() => '?').join(', ')})` : ''} ORDER BY seq LIMIT 1`,
    ids,
  );
  return row && fromRow(row);
}

/** Number of pending requests. */
export async function pendingCount(db: Sql): Promise<number> {
  return (await db.get<{ n: number }>("SELECT COUNT(*) AS n FROM requests WHERE state = 'pending'"))?.n ?? 0;
}

/** Write a probe row (the daemon's check that the store takes writes again after a fault). */
export async function probeWrite(db: Sql, at = new Date().toISOString()): Promise<void> {
  await db.run('INSERT OR REPLACE INTO store_probe (id, at) VALUES (1, ?)', [at]);
}
