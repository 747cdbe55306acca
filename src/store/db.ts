/**
 * SQLite access (sqlite3 package): open in WAL mode, apply schema migrations, and ONE serialised access path.
 * Every statement and every transaction of a {@link Db} runs through a FIFO, so no caller's plain statement can
 * run inside another caller's open transaction (one sqlite3 connection = one transaction scope). Statements of a
 * transaction go through its own handle ({@link Sql}), never through the Db. Each store module (embedding cache,
 * audits, outbox, requests) registers its migrations in {@link MIGRATIONS}; `user_version` counts those run.
 *
 * Failures become a {@link StoreError} whose `code` says what kind of fault the storage has (`store.full`,
 * `store.read-only`, `store.corrupt`, `store.io`, `store.busy`, else `store.failed`); storage faults are also
 * emitted as `fault` and a later successful write as `recovered`, so the daemon can report a degraded health.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { EventEmitter } from 'node:events';
import { accessSync, constants, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import sqlite3 from 'sqlite3';
import { SlmiaError } from '../errors.js';

/** Kinds of storage fault, from SQLite's primary result codes. */
export type StoreFault = 'full' | 'read-only' | 'corrupt' | 'io' | 'busy' | 'failed';

const FAULTS: Record<string, StoreFault> = {
  SQLITE_FULL: 'full',
  SQLITE_READONLY: 'read-only',
  SQLITE_CORRUPT: 'corrupt',
  SQLITE_NOTADB: 'corrupt',
  SQLITE_IOERR: 'io',
  SQLITE_CANTOPEN: 'io',
  SQLITE_BUSY: 'busy',
  SQLITE_LOCKED: 'busy',
};

/** The fault kind of a sqlite3 error (`failed` for constraint violations, misuse and the like). */
export function faultOf(err: unknown): StoreFault {
  const code = (err as { code?: unknown } | undefined)?.code;
  return (typeof code === 'string' && FAULTS[code]) || 'failed';
}

/**
 * A failed SQLite operation; the message names the database file and the statement. `code` is
 * `store.<fault>` (see {@link StoreFault}); `fault` is the bare kind.
 */
export class StoreError extends SlmiaError {
  readonly fault: StoreFault;
  constructor(detail: string, options?: { cause?: unknown; fault?: StoreFault }) {
    const fault = options?.fault ?? (options?.cause ? faultOf(options.cause) : 'failed');
    super(`store.${fault}`, detail, options);
    this.fault = fault;
  }

  /** Whether the storage itself is at fault (full, read-only, damaged, I/O), as opposed to one bad statement. */
  get storageFault(): boolean {
    return this.fault !== 'failed';
  }
}

/** One schema migration: `sql` runs once, in order, inside a transaction. Never edit a released entry. */
export interface Migration {
  name: string;
  sql: string;
}

/** The schema history of the project database. Append only. */
export const MIGRATIONS: Migration[] = [
  {
    name: '001-embedding-cache',
    sql: `CREATE TABLE embedding_cache (
            model_sha256 TEXT NOT NULL,
            audio_sha256 TEXT NOT NULL,
            chunking TEXT NOT NULL,
            dim INTEGER NOT NULL,
            count INTEGER NOT NULL,
            embeddings BLOB NOT NULL,
            created_at TEXT NOT NULL,
            PRIMARY KEY (model_sha256, audio_sha256, chunking)
          ) WITHOUT ROWID;`,
  },
  {
    name: '002-audits',
    sql: `CREATE TABLE audits (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            transaction_id TEXT NOT NULL,
            source TEXT NOT NULL,
            speaker TEXT,
            status TEXT NOT NULL CHECK (status IN ('ok', 'error')),
            error_code TEXT,
            error TEXT,
            verdict TEXT CHECK (verdict IS NULL OR verdict IN ('member', 'non-member')),
            probability REAL,
            threshold REAL,
            target_fpr REAL,
            voices INTEGER,
            queries INTEGER,
            quantized_features BLOB,
            model_sha256 TEXT,
            attack_id TEXT,
            timings TEXT,
            requested_at TEXT NOT NULL,
            audited_at TEXT NOT NULL
          );
          CREATE INDEX audits_speaker ON audits (speaker, id);
          CREATE INDEX audits_transaction ON audits (transaction_id);`,
  },
  {
    name: '003-outbox',
    sql: `CREATE TABLE outbox (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            audit_id INTEGER REFERENCES audits (id) ON DELETE SET NULL,
            transaction_id TEXT,
            topic TEXT NOT NULL,
            payload TEXT NOT NULL,
            retain INTEGER NOT NULL DEFAULT 0,
            created_at TEXT NOT NULL
          );`,
  },
  {
    name: '004-requests',
    sql: `CREATE TABLE requests (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            transaction_id TEXT NOT NULL UNIQUE,
            transaction_json TEXT NOT NULL,
            source TEXT NOT NULL,
            speaker TEXT,
            input TEXT NOT NULL,
            state TEXT NOT NULL CHECK (state IN ('pending', 'answered')),
            audit_id INTEGER REFERENCES audits (id) ON DELETE SET NULL,
            response TEXT,
            received_at TEXT NOT NULL,
            answered_at TEXT
          );
          CREATE INDEX requests_pending ON requests (state, seq);
          CREATE TABLE store_probe (id INTEGER PRIMARY KEY CHECK (id = 1), at TEXT NOT NULL);`,
  },
  {
    // The payload digest of requests that came without a transaction id: a redelivery (MQTT DUP flag) of one
    // is recognised by it (src/daemon/request-handler.ts).
    name: '005-request-digest',
    sql: `ALTER TABLE requests ADD COLUMN payload_sha256 TEXT;
          CREATE INDEX requests_digest ON requests (payload_sha256, seq) WHERE payload_sha256 IS NOT NULL;`,
  },
  {
    // Verdicts may be `inconclusive` (issue 9) and carry a p-value and a reason. SQLite cannot alter a CHECK, so
    // the table is rebuilt; dropping it sets the outbox/requests links to NULL (ON DELETE SET NULL), so they
    // are saved first and restored after the rename (same ids).
    name: '006-audits-inconclusive',
    sql: `CREATE TABLE audits_new (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            transaction_id TEXT NOT NULL,
            source TEXT NOT NULL,
            speaker TEXT,
            status TEXT NOT NULL CHECK (status IN ('ok', 'error')),
            error_code TEXT,
            error TEXT,
            verdict TEXT CHECK (verdict IS NULL OR verdict IN ('member', 'non-member', 'inconclusive')),
            probability REAL,
            p_value REAL,
            reason TEXT,
            threshold REAL,
            target_fpr REAL,
            voices INTEGER,
            queries INTEGER,
            quantized_features BLOB,
            model_sha256 TEXT,
            attack_id TEXT,
            timings TEXT,
            requested_at TEXT NOT NULL,
            audited_at TEXT NOT NULL
          );
          INSERT INTO audits_new (id, transaction_id, source, speaker, status, error_code, error, verdict, probability,
              threshold, target_fpr, voices, queries, quantized_features, model_sha256, attack_id, timings,
              requested_at, audited_at)
            SELECT id, transaction_id, source, speaker, status, error_code, error, verdict, probability, threshold,
              target_fpr, voices, queries, quantized_features, model_sha256, attack_id, timings, requested_at,
              audited_at FROM audits;
          CREATE TEMP TABLE outbox_links AS SELECT id, audit_id FROM outbox WHERE audit_id IS NOT NULL;
          CREATE TEMP TABLE request_links AS SELECT seq, audit_id FROM requests WHERE audit_id IS NOT NULL;
          DROP TABLE audits;
          ALTER TABLE audits_new RENAME TO audits;
          UPDATE outbox SET audit_id = (SELECT l.audit_id FROM outbox_links l WHERE l.id = outbox.id)
            WHERE id IN (SELECT id FROM outbox_links);
          UPDATE requests SET audit_id = (SELECT l.audit_id FROM request_links l WHERE l.seq = requests.seq)
            WHERE seq IN (SELECT seq FROM request_links);
          DROP TABLE outbox_links;
          DROP TABLE request_links;
          CREATE INDEX audits_speaker ON audits (speaker, id);
          CREATE INDEX audits_transaction ON audits (transaction_id);`,
  },
];

type Param = string | number | bigint | Buffer | Uint8Array | null;

/** Statements: a {@link Db} (each one serialised) or the handle of one open transaction. */
export interface Sql {
  /** Run one or more statements without results. */
  exec(sql: string): Promise<void>;
  /** Run one statement; resolves with `lastID` and `changes`. */
  run(sql: string, params?: Param[]): Promise<{ lastID: number; changes: number }>;
  /** First row of a query, or undefined. */
  get<T>(sql: string, params?: Param[]): Promise<T | undefined>;
  /** All rows of a query. */
  all<T>(sql: string, params?: Param[]): Promise<T[]>;
}

/** Events of a {@link Db}: a storage fault, and the first successful write after one. */
export interface DbEvents {
  fault: [StoreError];
  recovered: [];
}

/** A promise-based handle on one SQLite file with one serialised access path. */
export class Db extends EventEmitter<DbEvents> implements Sql {
  private chain: Promise<unknown> = Promise.resolve();
  private readonly inTx = new AsyncLocalStorage<Db>();
  private closed = false;
  /** The storage fault seen last, until a write succeeds again. */
  fault: StoreError | undefined;

  private constructor(
    readonly path: string,
    private db: sqlite3.Database | undefined,
    private readonly migrations: Migration[] = MIGRATIONS,
  ) {
    super();
  }

  /** Whether a connection is open (false for a store opened {@link openOrUnavailable} that is still down). */
  get isOpen(): boolean {
    return this.db !== undefined;
  }

  /**
   * Like {@link open}, but a storage fault at start-up that may pass (read-only file system, full disk, I/O
   * error) gives an UNAVAILABLE store instead of an error: every statement rejects with that fault (so callers
   * answer with typed errors) until {@link reopen} succeeds. A file that is no database (`store.corrupt`) and
   * other errors still throw.
   */
  static async openOrUnavailable(path: string, migrations: Migration[] = MIGRATIONS): Promise<Db> {
    try {
      return await Db.open(path, migrations);
    } catch (err) {
      if (!(err instanceof StoreError) || !['read-only', 'full', 'io'].includes(err.fault)) throw err;
      const db = new Db(path, undefined, migrations);
      db.fault = err;
      return db;
    }
  }

  /**
   * Open the connection of an unavailable store again (no-op when open).
   * @returns whether it is open now
   */
  async reopen(): Promise<boolean> {
    if (this.db || this.closed) return this.db !== undefined;
    try {
      const fresh = await Db.open(this.path, this.migrations);
      this.db = fresh.db;
      return true;
    } catch (err) {
      if (err instanceof StoreError) this.fault = err;
      return false;
    }
  }

  /**
   * Open (creating folders and file as needed), switch to WAL, and run pending migrations.
   * @param path database file, or `:memory:`
   * @throws StoreError when the file cannot be opened or a migration fails (`store.read-only` for a
   *   read-only file system, `store.corrupt` for a damaged file, ...)
   */
  static async open(path: string, migrations: Migration[] = MIGRATIONS): Promise<Db> {
    try {
      if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    } catch (err) {
      throw new StoreError(`${path}: cannot create its folder (${(err as Error).message})`, {
        cause: err,
        fault: folderFault(err),
      });
    }
    const raw = await new Promise<sqlite3.Database>((resolveDb, reject) => {
      const d = new sqlite3.Database(path, (err) =>
        err ? reject(new StoreError(`${path}: cannot open (${err.message})`, { cause: err })) : resolveDb(d),
      );
    });
    raw.configure('busyTimeout', 5000);
    const db = new Db(path, raw, migrations);
    try {
      await db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;');
      await db.migrate(migrations);
    } catch (err) {
      await db.close().catch(() => undefined);
      // SQLite says CANTOPEN for a WAL database on a read-only file system: name the real cause.
      if (err instanceof StoreError && err.fault === 'io' && path !== ':memory:' && !writable(dirname(path)))
        throw new StoreError(`${err.message}; the folder is not writable (read-only file system?)`, {
          cause: err.cause,
          fault: 'read-only',
        });
      throw err;
    }
    return db;
  }

  private async migrate(migrations: Migration[]): Promise<void> {
    const row = await this.get<{ user_version: number }>('PRAGMA user_version');
    const done = row?.user_version ?? 0;
    for (let i = done; i < migrations.length; i++) {
      const m = migrations[i] as Migration;
      await this.transaction(async (tx) => {
        await tx.exec(m.sql);
        await tx.exec(`PRAGMA user_version = ${i + 1}`);
      });
    }
  }

  exec(sql: string): Promise<void> {
    return this.serial(() => this.rawExec(sql), isWrite(sql));
  }

  run(sql: string, params: Param[] = []): Promise<{ lastID: number; changes: number }> {
    return this.serial(() => this.rawRun(sql, params), true);
  }

  get<T>(sql: string, params: Param[] = []): Promise<T | undefined> {
    return this.serial(() => this.rawGet<T>(sql, params), false);
  }

  all<T>(sql: string, params: Param[] = []): Promise<T[]> {
    return this.serial(() => this.rawAll<T>(sql, params), false);
  }

  /**
   * Run `fn` inside BEGIN IMMEDIATE … COMMIT (ROLLBACK on error) with the transaction's own handle. Nothing
   * else runs on this Db meanwhile: other callers' statements and transactions wait in the FIFO.
   * Calling the Db itself (not `tx`) from inside `fn` throws (it would wait for itself).
   * @throws StoreError from any statement or the COMMIT (the transaction is then rolled back)
   */
  transaction<T>(fn: (tx: Sql) => Promise<T>): Promise<T> {
    return this.serial(async () => {
      let open = true;
      const guard = (): void => {
        if (!open) throw new StoreError(`${this.path}: statement on a finished transaction`);
      };
      const tx: Sql = {
        exec: async (sql) => (guard(), this.rawExec(sql)),
        run: async (sql, params = []) => (guard(), this.rawRun(sql, params)),
        get: async <R>(sql: string, params: Param[] = []) => (guard(), this.rawGet<R>(sql, params)),
        all: async <R>(sql: string, params: Param[] = []) => (guard(), this.rawAll<R>(sql, params)),
      };
      await this.rawExec('BEGIN IMMEDIATE');
      try {
        const out = await this.inTx.run(this, () => fn(tx));
        await this.rawExec('COMMIT');
        return out;
      } catch (err) {
        await this.rawExec('ROLLBACK').catch(() => undefined);
        throw err;
      } finally {
        open = false;
      }
    }, true);
  }

  /** Close the database (waits for queued statements). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.chain.catch(() => undefined);
    const raw = this.db;
    if (!raw) return;
    await new Promise<void>((res, rej) => raw.close((err) => (err ? rej(this.fail('close', err)) : res())));
  }

  /** The open connection, or the fault that keeps it closed. */
  private conn(): sqlite3.Database {
    if (this.db) return this.db;
    const f = this.fault;
    throw new StoreError(f?.message ?? `${this.path}: database not open`, {
      fault: f?.fault ?? 'io',
      cause: f,
    });
  }

  /** FIFO: `op` starts when everything queued before it has settled. */
  private serial<T>(op: () => Promise<T>, write: boolean): Promise<T> {
    if (this.inTx.getStore() === this)
      return Promise.reject(
        new StoreError(`${this.path}: statement on the Db inside its own transaction (use the tx handle)`),
      );
    const next = this.chain
      .then(() => (this.conn(), op()))
      .then(
        (out) => {
          if (write && this.fault) {
            this.fault = undefined;
            this.emit('recovered');
          }
          return out;
        },
        (err: unknown) => {
          if (err instanceof StoreError && err.storageFault && err.fault !== 'busy') {
            this.fault = err;
            this.emit('fault', err);
          }
          throw err;
        },
      );
    this.chain = next.catch(() => undefined);
    return next;
  }

  private rawExec(sql: string): Promise<void> {
    return new Promise((res, rej) =>
      this.conn().exec(sql, (err) => (err ? rej(this.fail(sql, err)) : res())),
    );
  }

  private rawRun(sql: string, params: Param[]): Promise<{ lastID: number; changes: number }> {
    return new Promise((res, rej) => {
      const fail = (err: Error): StoreError => this.fail(sql, err);
      this.conn().run(sql, params, function (this: sqlite3.RunResult, err: Error | null) {
        if (err) rej(fail(err));
        else res({ lastID: this.lastID, changes: this.changes });
      });
    });
  }

  private rawGet<T>(sql: string, params: Param[]): Promise<T | undefined> {
    return new Promise((res, rej) =>
      this.conn().get(sql, params, (err, row) =>
        err ? rej(this.fail(sql, err)) : res(row as T | undefined),
      ),
    );
  }

  private rawAll<T>(sql: string, params: Param[]): Promise<T[]> {
    return new Promise((res, rej) =>
      this.conn().all(sql, params, (err, rows) => (err ? rej(this.fail(sql, err)) : res(rows as T[]))),
    );
  }

  private fail(sql: string, err: Error): StoreError {
    return new StoreError(`${this.path}: ${err.message} (in: ${sql.trim().split('\n')[0]?.slice(0, 80)})`, {
      cause: err,
    });
  }
}

/** The fault kind of a failed mkdir. */
function folderFault(err: unknown): StoreFault {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'EROFS' || code === 'EACCES' || code === 'EPERM'
    ? 'read-only'
    : code === 'ENOSPC'
      ? 'full'
      : 'io';
}

/** Whether the process may write in `dir`. */
function writable(dir: string): boolean {
  try {
    accessSync(dir, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/** Whether a statement text writes (for the `recovered` signal; PRAGMA reads and SELECTs do not). */
function isWrite(sql: string): boolean {
  return !/^\s*(SELECT|PRAGMA\s+\w+\s*;?\s*$)/i.test(sql);
}
