/**
 * Shared option parsing and plumbing of the lab commands (calibrate, evaluate, audit): number lists, the
 * embedding-cache database, and a cli-progress bar per phase on stderr. Every command module imports this
 * file at start-up, so it loads nothing heavy itself: SQLite and cli-progress are imported when used.
 */
import { resolve } from 'node:path';
import type { SingleBar } from 'cli-progress';
import { SlmiaError } from '../errors.js';
import { projectRoot } from '../paths.js';
import type { EmbeddingCache } from '../features/embedding-cache.js';
import type { SqliteEmbeddingCache } from '../store/embedding-cache.js';

/** A command-line option with a bad value. */
export class OptionError extends SlmiaError {
  constructor(option: string, detail: string) {
    super('cli.option', `${option}: ${detail}`);
  }
}

/** Parse `2,3,5,10` into numbers, each checked by `ok`. */
export function parseNumberList(
  option: string,
  text: string,
  ok: (v: number) => boolean,
  what: string,
): number[] {
  const out = text.split(',').map((s) => Number(s.trim()));
  if (!out.length || out.some((v) => !Number.isFinite(v) || !ok(v))) {
    throw new OptionError(option, `expected a comma-separated list of ${what}, got "${text}"`);
  }
  return out;
}

/** Parse a positive number option. */
export function parsePositive(option: string, text: string): number {
  const v = Number(text);
  if (!(v > 0)) throw new OptionError(option, `expected a positive number, got "${text}"`);
  return v;
}

/** Default embedding-cache database: `$SLMIA_CACHE_DB`, else `<project>/.work/embedding-cache.sqlite`. */
export function defaultCachePath(): string {
  return resolve(process.env.SLMIA_CACHE_DB ?? resolve(projectRoot, '.work', 'embedding-cache.sqlite'));
}

/** An embedding cache that opens its SQLite file on first use (see {@link openCache}). */
export interface LazyEmbeddingCache extends EmbeddingCache {
  /** Close the database if it was opened. */
  close(): Promise<void>;
}

/**
 * The SQLite embedding cache (or none with `--no-cache`). The database (and the sqlite3 addon) is opened on the
 * first `get`/`put`, so a command that never needs it (an audit with a shipped reference bank) does not pay
 * for loading SQLite.
 */
export async function openCache(path: string | false | undefined): Promise<LazyEmbeddingCache | undefined> {
  if (path === false) return undefined;
  const file = path ?? defaultCachePath();
  let db: Promise<SqliteEmbeddingCache> | undefined;
  const open = (): Promise<SqliteEmbeddingCache> =>
    (db ??= import('../store/embedding-cache.js').then((m) => m.SqliteEmbeddingCache.open(file)));
  return {
    get: async (key) => (await open()).get(key),
    put: async (key, embeddings) => (await open()).put(key, embeddings),
    close: async () => {
      // A database that failed to open already reported its error to the get/put that opened it.
      await (await db?.catch(() => undefined))?.close();
    },
  };
}

/** A progress reporter `(phase, done, total)` drawing one bar per phase on stderr (silent when not a TTY unless forced). */
export async function progressBar(enabled: boolean): Promise<{
  update: (phase: string, done: number, total: number) => void;
  stop: () => void;
}> {
  if (!enabled) return { update: () => undefined, stop: () => undefined };
  const { default: cliProgress } = await import('cli-progress');
  let bar: SingleBar | undefined;
  let current = '';
  return {
    update(phase, done, total) {
      if (phase !== current) {
        bar?.stop();
        current = phase;
        bar = new cliProgress.SingleBar(
          {
            format: `${phase.padEnd(26)} [{bar}] {value}/{total} {percentage}% | ETA {eta_formatted}`,
            stream: process.stderr,
            noTTYOutput: true,
            notTTYSchedule: 10000,
          },
          cliProgress.Presets.shades_classic,
        );
        bar.start(total, 0);
      }
      bar?.update(done);
    },
    stop() {
      bar?.stop();
    },
  };
}
