/**
 * The fleet store (SQLite through src/store/db.ts, its own file `fleet.db` and migrations): hubs, verdict
 * history, health samples and tracked audits, with retention. Rows hold verdicts, counts, identities and
 * timings only — never audio, embeddings or features (the payload schemas drop anything else).
 *
 * Writes are queued and committed in one transaction every {@link FLUSH_MS} (or at {@link FLUSH_ROWS} queued
 * writes), so a flood of retained messages at start-up costs one commit per batch, not one per message.
 */
import { join } from 'node:path';
import { Db, type Migration, type Sql } from '../store/db.js';
import type { HubHealth, HubInfo, VerdictPayload } from './payloads.js';

/** Commit queued writes after this many ms… */
export const FLUSH_MS = 100;
/** …or as soon as this many are queued. */
export const FLUSH_ROWS = 2000;

/** Schema history of fleet.db. Append only. */
export const FLEET_MIGRATIONS: Migration[] = [
  {
    name: 'fleet-001',
    sql: `CREATE TABLE hubs (
            base TEXT PRIMARY KEY,
            device_id TEXT,
            state TEXT CHECK (state IS NULL OR state IN ('online', 'offline')),
            state_at TEXT,
            info TEXT,
            health TEXT,
            health_at TEXT,
            first_seen TEXT NOT NULL,
            last_seen TEXT NOT NULL
          );
          CREATE TABLE verdicts (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            base TEXT NOT NULL,
            speaker TEXT NOT NULL,
            verdict TEXT NOT NULL,
            probability REAL,
            threshold REAL,
            target_fpr REAL,
            p_value REAL,
            reason TEXT,
            voices INTEGER,
            queries INTEGER,
            model_sha256 TEXT,
            attack_id TEXT,
            transaction_id TEXT,
            audited_at TEXT NOT NULL,
            received_at TEXT NOT NULL,
            UNIQUE (base, speaker, audited_at)
          );
          CREATE TABLE health (
            base TEXT NOT NULL,
            at TEXT NOT NULL,
            state TEXT,
            uptime_s REAL,
            queue_depth INTEGER,
            outbox_size INTEGER,
            rss_mb REAL,
            busy INTEGER
          );
          CREATE INDEX health_hub ON health (base, at);
          CREATE TABLE audits (
            base TEXT NOT NULL,
            transaction_id TEXT NOT NULL,
            speaker TEXT,
            source TEXT,
            from_fleet INTEGER NOT NULL DEFAULT 0,
            stage TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('pending', 'ok', 'error', 'unanswered')),
            verdict TEXT,
            probability REAL,
            p_value REAL,
            error_code TEXT,
            error TEXT,
            queued_at TEXT,
            done_at TEXT,
            requested_at TEXT,
            updated_at TEXT NOT NULL,
            PRIMARY KEY (base, transaction_id)
          ) WITHOUT ROWID;
          CREATE INDEX audits_updated ON audits (base, updated_at);`,
  },
];

/** A hub as stored. */
export interface HubRow {
  base: string;
  device_id: string | null;
  state: 'online' | 'offline' | null;
  /** When the fleet saw the state change (null: it was already so when the fleet first saw it). */
  state_at: string | null;
  info: HubInfo | null;
  health: HubHealth | null;
  health_at: string | null;
  first_seen: string;
  last_seen: string;
}

/** One stored verdict. */
export interface VerdictRow {
  id: number;
  base: string;
  speaker: string;
  verdict: string;
  probability: number | null;
  threshold: number | null;
  target_fpr: number | null;
  p_value: number | null;
  reason: string | null;
  voices: number | null;
  queries: number | null;
  model_sha256: string | null;
  attack_id: string | null;
  transaction_id: string | null;
  audited_at: string;
  received_at: string;
}

/** One tracked audit (from a request, progress events and the response). */
export interface AuditRow {
  base: string;
  transaction_id: string;
  speaker: string | null;
  source: string | null;
  from_fleet: number;
  /** Last thing seen: requested, queued, recording, embedding, scoring, done, failed, answered. */
  stage: string;
  status: 'pending' | 'ok' | 'error' | 'unanswered';
  verdict: string | null;
  probability: number | null;
  p_value: number | null;
  error_code: string | null;
  error: string | null;
  /** Hub clock of the `queued` event. */
  queued_at: string | null;
  /** Hub clock of the `done`/`failed` event. */
  done_at: string | null;
  requested_at: string | null;
  updated_at: string;
}

/** A partial audit update; absent fields keep their stored value. */
export type AuditUpdate = Pick<AuditRow, 'base' | 'transaction_id' | 'stage' | 'updated_at'> &
  Partial<Omit<AuditRow, 'base' | 'transaction_id' | 'stage' | 'updated_at'>>;

/** One health sample. */
export interface HealthSample {
  at: string;
  state: string | null;
  uptime_s: number | null;
  queue_depth: number | null;
  outbox_size: number | null;
  rss_mb: number | null;
  busy: number | null;
}

type Op = (db: Sql) => Promise<unknown>;

const AUDIT_COLUMNS = [
  'speaker',
  'source',
  'from_fleet',
  'verdict',
  'probability',
  'p_value',
  'error_code',
  'error',
  'queued_at',
  'done_at',
  'requested_at',
] as const;

/** The fleet store: queued writes; every read first commits what is queued (reads see every message handled). */
export class FleetStore {
  private queue: Op[] = [];
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();

  private constructor(readonly db: Db) {}

  /**
   * Open (or create) `<dataDir>/fleet.db`.
   * @throws StoreError when the file cannot be opened or migrated
   */
  static async open(dataDir: string): Promise<FleetStore> {
    return new FleetStore(await Db.open(join(dataDir, 'fleet.db'), FLEET_MIGRATIONS));
  }

  /** Queue a write for the next batch. */
  private enqueue(op: Op): void {
    this.queue.push(op);
    if (this.queue.length >= FLUSH_ROWS) void this.flush();
    else this.timer ??= setTimeout(() => void this.flush(), FLUSH_MS);
  }

  /**
   * Commit everything queued so far (one transaction); resolves when it is on disk. Reads that must see the
   * latest messages call this first. A failing batch is dropped and its error rethrown.
   */
  flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const ops = this.queue;
    this.queue = [];
    const next = this.flushing.then(async () => {
      if (ops.length === 0) return;
      await this.db.transaction(async (tx) => {
        for (const op of ops) await op(tx);
      });
    });
    this.flushing = next.catch(() => undefined);
    return next;
  }

  /** Insert or replace a hub row. */
  saveHub(h: HubRow): void {
    this.enqueue((db) =>
      db.run(
        `INSERT INTO hubs (base, device_id, state, state_at, info, health, health_at, first_seen, last_seen)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (base) DO UPDATE SET device_id = excluded.device_id, state = excluded.state,
           state_at = excluded.state_at, info = excluded.info, health = excluded.health,
           health_at = excluded.health_at, last_seen = excluded.last_seen`,
        [
          h.base,
          h.device_id,
          h.state,
          h.state_at,
          h.info ? JSON.stringify(h.info) : null,
          h.health ? JSON.stringify(h.health) : null,
          h.health_at,
          h.first_seen,
          h.last_seen,
        ],
      ),
    );
  }

  /** Add a verdict to the history (a repeat of the same `(hub, speaker, audited_at)` only fills in the
   * transaction id: the retained state and the response carry the same verdict). */
  addVerdict(
    base: string,
    speaker: string,
    v: VerdictPayload,
    transaction: string | null,
    receivedAt: string,
  ): void {
    this.enqueue(async (db) => {
      const { changes } = await db.run(
        `INSERT OR IGNORE INTO verdicts (base, speaker, verdict, probability, threshold, target_fpr, p_value,
           reason, voices, queries, model_sha256, attack_id, transaction_id, audited_at, received_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        [
          base,
          speaker,
          v.verdict,
          v.probability ?? null,
          v.threshold ?? null,
          v.target_fpr ?? null,
          v.p_value ?? null,
          v.reason ?? null,
          v.voices ?? null,
          v.queries ?? null,
          v.model_sha256 ?? null,
          v.attack_id ?? null,
          transaction,
          v.audited_at,
          receivedAt,
        ],
      );
      if (changes === 0 && transaction !== null)
        await db.run(
          'UPDATE verdicts SET transaction_id = ? WHERE base = ? AND speaker = ? AND audited_at = ?',
          [transaction, base, speaker, v.audited_at],
        );
    });
  }

  /** Add a health sample. */
  addHealth(base: string, s: HealthSample): void {
    this.enqueue((db) =>
      db.run(
        `INSERT INTO health (base, at, state, uptime_s, queue_depth, outbox_size, rss_mb, busy)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
        [base, s.at, s.state, s.uptime_s, s.queue_depth, s.outbox_size, s.rss_mb, s.busy],
      ),
    );
  }

  /** Create or update a tracked audit. A final status (ok/error) is never turned back into pending, and a
   * request seen late (e.g. echoed through a bridge) never moves the stage back to `requested`. */
  updateAudit(a: AuditUpdate): void {
    const cols = AUDIT_COLUMNS.filter((c) => a[c] !== undefined);
    const status = a.status ?? 'pending';
    this.enqueue((db) =>
      db.run(
        `INSERT INTO audits (base, transaction_id, stage, status, updated_at${cols.map((c) => `, ${c}`).join('')})
         VALUES (?, ?, ?, ?, ?${cols.map(() => ', ?').join('')})
         ON CONFLICT (base, transaction_id) DO UPDATE SET
           stage = CASE WHEN audits.status IN ('ok', 'error') AND excluded.status IN ('pending', 'unanswered')
                        THEN audits.stage
                        WHEN excluded.stage = 'requested' THEN audits.stage
                        ELSE excluded.stage END,
           status = CASE WHEN audits.status IN ('ok', 'error') AND excluded.status IN ('pending', 'unanswered')
                         THEN audits.status ELSE excluded.status END,
           updated_at = excluded.updated_at${cols.map((c) => `, ${c} = excluded.${c}`).join('')}`,
        [a.base, a.transaction_id, a.stage, status, a.updated_at, ...cols.map((c) => a[c] ?? null)],
      ),
    );
  }

  /** Every hub, by base topic. */
  async hubs(): Promise<HubRow[]> {
    await this.flush();
    const rows = await this.db.all<Record<string, string | null>>('SELECT * FROM hubs ORDER BY base');
    return rows.map((r) => ({
      ...(r as unknown as HubRow),
      info: r.info ? (JSON.parse(r.info) as HubInfo) : null,
      health: r.health ? (JSON.parse(r.health) as HubHealth) : null,
    }));
  }

  /** Latest verdict of each speaker of a hub, by speaker id. */
  async speakers(base: string): Promise<VerdictRow[]> {
    await this.flush();
    return this.db.all<VerdictRow>(
      `SELECT v.* FROM verdicts v
         JOIN (SELECT speaker, MAX(audited_at) AS at FROM verdicts WHERE base = ? GROUP BY speaker) l
           ON v.speaker = l.speaker AND v.audited_at = l.at
       WHERE v.base = ? ORDER BY v.speaker`,
      [base, base],
    );
  }

  /** Per hub: number of speakers and the latest verdict (for the overview). */
  /** The last `limit` verdicts of one speaker, oldest first. */
  async history(base: string, speaker: string, limit = 200): Promise<VerdictRow[]> {
    await this.flush();
    const rows = await this.db.all<VerdictRow>(
      'SELECT * FROM verdicts WHERE base = ? AND speaker = ? ORDER BY audited_at DESC LIMIT ?',
      [base, speaker, limit],
    );
    return rows.reverse();
  }

  /** The last `perSpeaker` verdicts of every speaker of a hub, oldest first (chart data). */
  async histories(base: string, perSpeaker = 50): Promise<VerdictRow[]> {
    await this.flush();
    return this.db.all<VerdictRow>(
      `SELECT * FROM (
         SELECT *, ROW_NUMBER() OVER (PARTITION BY speaker ORDER BY audited_at DESC) AS k
           FROM verdicts WHERE base = ?)
       WHERE k <= ? ORDER BY speaker, audited_at`,
      [base, perSpeaker],
    );
  }

  /** Recent tracked audits of a hub, newest first. */
  async audits(base: string, limit = 20): Promise<AuditRow[]> {
    await this.flush();
    return this.db.all<AuditRow>('SELECT * FROM audits WHERE base = ? ORDER BY updated_at DESC LIMIT ?', [
      base,
      limit,
    ]);
  }

  /** One tracked audit. */
  async audit(base: string, transaction: string): Promise<AuditRow | undefined> {
    await this.flush();
    return this.db.get<AuditRow>('SELECT * FROM audits WHERE base = ? AND transaction_id = ?', [
      base,
      transaction,
    ]);
  }

  /** Health samples of a hub since `since` (ISO time), oldest first. */
  async healthSeries(base: string, since: string): Promise<HealthSample[]> {
    await this.flush();
    return this.db.all<HealthSample>(
      'SELECT at, state, uptime_s, queue_depth, outbox_size, rss_mb, busy FROM health WHERE base = ? AND at >= ? ORDER BY at',
      [base, since],
    );
  }

  /** Row counts (for tests and the benchmark). */
  async counts(): Promise<{ hubs: number; verdicts: number; health: number; audits: number }> {
    await this.flush();
    const n = async (t: string): Promise<number> =>
      (await this.db.get<{ n: number }>(`SELECT COUNT(*) AS n FROM ${t}`))?.n ?? 0;
    return {
      hubs: await n('hubs'),
      verdicts: await n('verdicts'),
      health: await n('health'),
      audits: await n('audits'),
    };
  }

  /**
   * Delete health samples, verdicts and tracked audits older than their retention, and mark requests from the
   * page that were not answered within `auditTimeoutS` as `unanswered`.
   * @returns rows deleted per table
   */
  async prune(
    r: { health_days: number; verdict_days: number; audit_days: number },
    auditTimeoutS: number,
    now = Date.now(),
  ): Promise<{ health: number; verdicts: number; audits: number }> {
    await this.flush();
    const before = (days: number): string => new Date(now - days * 86_400_000).toISOString();
    return this.db.transaction(async (tx) => {
      const health = (await tx.run('DELETE FROM health WHERE at < ?', [before(r.health_days)])).changes;
      const verdicts = (await tx.run('DELETE FROM verdicts WHERE audited_at < ?', [before(r.verdict_days)]))
        .changes;
      const audits = (await tx.run('DELETE FROM audits WHERE updated_at < ?', [before(r.audit_days)]))
        .changes;
      await tx.run(
        `UPDATE audits SET status = 'unanswered' WHERE status = 'pending' AND from_fleet = 1 AND updated_at < ?`,
        [new Date(now - auditTimeoutS * 1000).toISOString()],
      );
      return { health, verdicts, audits };
    });
  }

  /** Commit what is queued and close the file. */
  async close(): Promise<void> {
    await this.flush().catch(() => undefined);
    await this.db.close();
  }
}
