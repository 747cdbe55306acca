/**
 * Shared option parsing and plumbing of the lab commands (calibrate, evaluate, audit): number lists, the
 * embedding-cache database, and a cli-progress bar per phase on stderr.
 */
import { resolve } from 'node:path';
import cliProgress from 'cli-progress';
import { SlmiaError } from '../errors.js';
import { projectRoot } from '../paths.js';
import { SqliteEmbeddingCache } from '../store/embedding-cache.js';

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

/** Open the SQLite embedding cache (or none with `--no-cache`). */
export async function openCache(path: string | false | undefined): Promise<SqliteEmbeddingCache | undefined> {
  if (path === false) return undefined;
  return SqliteEmbeddingCache.open(path ?? defaultCachePath());
}

/** A progress reporter `(phase, done, total)` drawing one bar per phase on stderr (silent when not a TTY unless forced). */
export function progressBar(enabled: boolean): {
  update: (phase: string, done: number, total: number) => void;
  stop: () => void;
} {
  if (!enabled) return { update: () => undefined, stop: () => undefined };
  let bar: cliProgress.SingleBar | undefined;
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
