/**
 * SQLite access (sqlite3 package): open in WAL mode, apply schema migrations, promise helpers, and
 * serialized transactions. Each store module (embedding cache, audits, outbox) registers its migrations in
 * {@link MIGRATIONS}; `user_version` records how many have run.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import sqlite3 from 'sqlite3';
import { SlmiaError } from '../errors.js';

/** A failed SQLite operation; the message names the database file and the statement. */
export class StoreError extends SlmiaError {
  constructor(detail: string, options?: { cause?: unknown }) {
    super('store.failed', detail, options);
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
];

type Param = string | number | bigint | Buffer | Uint8Array | null;

/** A promise-based handle on one SQLite file. */
export class Db {
  private chain: Promise<unknown> = Promise.resolve();
  private constructor(
    readonly path: string,
    private readonly db: sqlite3.Database,
  ) {}

  /**
   * Open (creating folders and file as needed), switch to WAL, and run pending migrations.
   * @param path database file, or `:memory:`
   * @throws StoreError when the file cannot be opened or a migration fails
   */
  static async open(path: string, migrations: Migration[] = MIGRATIONS): Promise<Db> {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    const raw = await new Promise<sqlite3.Database>((resolveDb, reject) => {
      const d = new sqlite3.Database(path, (err) =>
        err ? reject(new StoreError(`${path}: cannot open (${err.message})`, { cause: err })) : resolveDb(d),
      );
    });
    raw.configure('busyTimeout', 5000);
    const db = new Db(path, raw);
    await db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;');
    await db.migrate(migrations);
    return db;
  }

  private async migrate(migrations: Migration[]): Promise<void> {
    const row = await this.get<{ user_version: number }>('PRAGMA user_version');
    const done = row?.user_version ?? 0;
    for (let i = done; i < migrations.length; i++) {
      const m = migrations[i] as Migration;
      await this.transaction(async () => {
        await this.exec(m.sql);
        await this.exec(`PRAGMA user_version = ${i + 1}`);
      });
    }
  }

  /** Run one or more statements without results. */
  exec(sql: string): Promise<void> {
    return new Promise((res, rej) => this.db.exec(sql, (err) => (err ? rej(this.fail(sql, err)) : res())));
  }

  /** Run one statement; resolves with `lastID` and `changes`. */
  run(sql: string, params: Param[] = []): Promise<{ lastID: number; changes: number }> {
    return new Promise((res, rej) => {
      const fail = (err: Error) => this.fail(sql, err);
      this.db.run(sql, params, function (this: sqlite3.RunResult, err: Error | null) {
        if (err) rej(fail(err));
        else res({ lastID: this.lastID, changes: this.changes });
      });
    });
  }

  /** First row of a query, or undefined. */
  get<T>(sql: string, params: Param[] = []): Promise<T | undefined> {
    return new Promise((res, rej) =>
      this.db.get(sql, params, (err, row) => (err ? rej(this.fail(sql, err)) : res(row as T | undefined))),
    );
  }

  /** All rows of a query. */
  all<T>(sql: string, params: Param[] = []): Promise<T[]> {
    return new Promise((res, rej) =>
      this.db.all(sql, params, (err, rows) => (err ? rej(this.fail(sql, err)) : res(rows as T[]))),
    );
  }

  /**
   * Run `fn` inside BEGIN IMMEDIATE … COMMIT (ROLLBACK on error). Transactions on one Db are serialized, so
   * statements of concurrent callers never interleave inside one.
   */
  transaction<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.chain.then(async () => {
      await this.exec('BEGIN IMMEDIATE');
      try {
        const out = await fn();
        await this.exec('COMMIT');
        return out;
      } catch (err) {
        await this.exec('ROLLBACK').catch(() => undefined);
        throw err;
      }
    });
    this.chain = next.catch(() => undefined);
    return next;
  }

  /** Close the database (waits for queued transactions). */
  async close(): Promise<void> {
    await this.chain;
    await new Promise<void>((res, rej) =>
      this.db.close((err) => (err ? rej(this.fail('close', err)) : res())),
    );
  }

  private fail(sql: string, err: Error): StoreError {
    return new StoreError(`${this.path}: ${err.message} (in: ${sql.trim().split('\n')[0]?.slice(0, 80)})`, {
      cause: err,
    });
  }
}
