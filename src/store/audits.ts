/**
 * The audits table (migrations 002, 006): one row per audit request, successful or not. Rows hold the verdict
 * (member / non-member / inconclusive with its reason and p-value),
 * quantized SLMIA-SR features (120 bytes), query count, stage timings and the model/attack identity — never
 * audio, embeddings or float features.
 */
import type { AuditVerdict } from '../audit/index.js';
import type { Sql } from './db.js';

/** Where an audit request came from. */
export type AuditSource = 'mqtt' | 'spool' | 'microphone' | 'cli';

/** Stage wall times of one audit, milliseconds. */
export interface AuditTimings {
  decodeMs?: number;
  frontendMs?: number;
  inferenceMs?: number;
  featuresMs?: number;
  attackMs?: number;
  storeMs?: number;
  publishMs?: number;
  totalMs?: number;
}

/** A successful audit's outcome, as stored: the pipeline's verdict (less the speaker, a column of its own),
 * the `[120] uint8` quantized features and the stage timings. */
export type AuditOutcome = Omit<AuditVerdict, 'speaker'> & { quantized: Uint8Array; timings: AuditTimings };

/** One row to insert: either `outcome` (status ok) or `error` (status error). */
export interface AuditInsert {
  transaction: string;
  source: AuditSource;
  speaker: string | null;
  requestedAt: string;
  auditedAt: string;
  outcome?: AuditOutcome;
  error?: { code: string; message: string };
}

/** A stored audit as read back. */
export interface AuditRecord {
  id: number;
  transaction: string;
  source: AuditSource;
  speaker: string | null;
  status: 'ok' | 'error';
  error_code: string | null;
  error: string | null;
  verdict: 'member' | 'non-member' | 'inconclusive' | null;
  probability: number | null;
  /** p-value on the target-side null (null for failed audits and rows written before migration 006). */
  p_value: number | null;
  /** Why the verdict is inconclusive (null otherwise). */
  reason: string | null;
  threshold: number | null;
  target_fpr: number | null;
  voices: number | null;
  queries: number | null;
  /** `[120] uint8`, or null for a failed audit. */
  quantized: Uint8Array | null;
  model_sha256: string | null;
  attack_id: string | null;
  timings: AuditTimings | null;
  requested_at: string;
  audited_at: string;
}

interface AuditRow extends Omit<AuditRecord, 'transaction' | 'quantized' | 'timings'> {
  transaction_id: string;
  quantized_features: Buffer | null;
  timings: string | null;
}

/**
 * Insert one audit row (call inside a `Db.transaction` (its `tx` handle) together with its outbox rows).
 * @returns the new row id
 * @throws StoreError when the insert fails
 */
export async function insertAudit(db: Sql, a: AuditInsert): Promise<number> {
  const o = a.outcome;
  const { lastID } = await db.run(
    `INSERT INTO audits (transaction_id, source, speaker, status, error_code, error, verdict, probability, p_value,
       reason, threshold, target_fpr, voices, queries, quantized_features, model_sha256, attack_id, timings,
       requested_at, audited_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    [
      a.transaction,
      a.source,
      a.speaker,
      o ? 'ok' : 'error',
      a.error?.code ?? null,
      a.error?.message ?? null,
      o?.verdict ?? null,
      o?.probability ?? null,
      o?.p_value ?? null,
      o?.reason ?? null,
      o?.threshold ?? null,
      o?.target_fpr ?? null,
      o?.voices ?? null,
      o?.queries ?? null,
      o ? Buffer.from(o.quantized.buffer, o.quantized.byteOffset, o.quantized.byteLength) : null,
      o?.model_sha256 ?? null,
      o?.attack_id ?? null,
      o ? JSON.stringify(o.timings) : null,
      a.requestedAt,
      a.auditedAt,
    ],
  );
  return lastID;
}

/** Update the stored timings of an audit (store/publish stages are known only after commit). */
export async function updateAuditTimings(db: Sql, id: number, timings: AuditTimings): Promise<void> {
  await db.run('UPDATE audits SET timings = ? WHERE id = ?', [JSON.stringify(timings), id]);
}

function fromRow(r: AuditRow): AuditRecord {
  const { transaction_id, quantized_features, timings, ...rest } = r;
  return {
    ...rest,
    transaction: transaction_id,
    quantized: quantized_features ? new Uint8Array(quantized_features) : null,
    timings: parseTimings(timings),
  };
}

/** Stored timings, or null when the column is empty or damaged (a corrupt row must not stop the daemon). */
function parseTimings(text: string | null): AuditTimings | null {
  if (!text) return null;
  try {
    const t = JSON.parse(text) as unknown;
    return t && typeof t === 'object' && !Array.isArray(t) ? (t as AuditTimings) : null;
  } catch {
    return null;
  }
}

/** Filters of {@link listAudits}. */
export interface AuditQuery {
  speaker?: string;
  transaction?: string;
  status?: 'ok' | 'error';
  /** Most recent first, at most this many (default 100). */
  limit?: number;
}

/**
 * Past audits, newest first.
 * @throws StoreError when the query fails
 */
export async function listAudits(db: Sql, q: AuditQuery = {}): Promise<AuditRecord[]> {
  const where: string[] = [];
  const params: (string | number)[] = [];
  const filters: [string, string | undefined][] = [
    ['speaker', q.speaker],
    ['transaction_id', q.transaction],
    ['status', q.status],
  ];
  for (const [column, value] of filters) {
    if (value === undefined) continue;
    where.push(`${column} = ?`);
    params.push(value);
  }
  params.push(q.limit ?? 100);
  const rows = await db.all<AuditRow>(
    `SELECT * FROM audits ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT ?`,
    params,
  );
  return rows.map(fromRow);
}

/** The most recent audit (any status), or undefined. */
export async function lastAudit(db: Sql): Promise<AuditRecord | undefined> {
  return (await listAudits(db, { limit: 1 }))[0];
}

/** The latest successful audit of every speaker (to restore retained states on a fresh broker). */
export async function latestVerdicts(db: Sql): Promise<AuditRecord[]> {
  const rows = await db.all<AuditRow>(
    `SELECT a.* FROM audits a
       JOIN (SELECT speaker, MAX(id) AS id FROM audits WHERE status = 'ok' AND speaker IS NOT NULL GROUP BY speaker) l
         ON a.id = l.id
     ORDER BY a.speaker`,
  );
  return rows.map(fromRow);
}
