/**
 * The daemon's state on disk, made private whatever the umask: the state folder (`data_dir`) 0700, the SQLite
 * database 0600 (SQLite gives its -wal/-shm/-journal files the database's mode), and the spool folder created
 * if missing. Anything unusable (a file in the way, no permission, a read-only or pseudo file system) is a
 * typed {@link StateDirError} naming the setting and the folder, so the CLI exits 2 without a stack trace.
 */
import { constants } from 'node:fs';
import { access, chmod, lstat, mkdir, open, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { SlmiaError } from '../errors.js';

/** A state or spool folder the daemon cannot use; the message names the setting and the path. */
export class StateDirError extends SlmiaError {
  readonly key: string;
  constructor(key: string, path: string, detail: string, options?: { cause?: unknown }) {
    super('config.data-dir', `${key} ${path}: ${detail}`, options);
    this.key = key;
  }
}

const code = (err: unknown): string => (err as NodeJS.ErrnoException).code ?? 'error';

/**
 * Create a folder and its missing parents one level at a time (Node's `mkdir -p` loops forever under
 * `/proc`), new folders with `mode`.
 * @throws StateDirError when a level cannot be created or is not a folder
 */
async function ensureDir(key: string, dir: string, mode: number, depth = 0): Promise<boolean> {
  try {
    await mkdir(dir, { mode });
    return true;
  } catch (err) {
    if (code(err) === 'EEXIST') {
      if (!(await stat(dir)).isDirectory()) throw new StateDirError(key, dir, 'exists and is not a folder');
      return false;
    }
    const parent = dirname(dir);
    if (code(err) !== 'ENOENT' || parent === dir || depth > 64)
      throw new StateDirError(key, dir, `cannot create the folder (${code(err)})`, { cause: err });
    await ensureDir(key, parent, mode, depth + 1);
    try {
      await mkdir(dir, { mode });
      return true;
    } catch (err2) {
      throw new StateDirError(key, dir, `cannot create the folder (${code(err2)})`, { cause: err2 });
    }
  }
}

/**
 * Prepare the state folder (0700) and the database file (0600), and make sure the spool folder exists.
 * @param dataDir `data_dir`
 * @param spoolDir `spool.dir` when the spool is enabled
 * @returns the database path (`<data_dir>/slmia.db`)
 * @throws StateDirError (`config.data-dir`) naming `data_dir` or `spool.dir`
 */
export async function prepareStateDir(dataDir: string, spoolDir?: string): Promise<string> {
  await ensureDir('data_dir', dataDir, 0o700);
  try {
    // Also when the folder existed (an older install made it 0755): only our own folder is changed.
    if ((await lstat(dataDir)).uid === process.getuid?.()) await chmod(dataDir, 0o700);
    await access(dataDir, constants.W_OK | constants.X_OK);
  } catch (err) {
    throw new StateDirError('data_dir', dataDir, `not writable (${code(err)})`, { cause: err });
  }
  const db = join(dataDir, 'slmia.db');
  try {
    const fh = await open(db, constants.O_RDWR | constants.O_CREAT | constants.O_NOFOLLOW, 0o600);
    try {
      if (!(await fh.stat()).isFile()) throw new StateDirError('data_dir', db, 'is not a regular file');
      await fh.chmod(0o600);
    } finally {
      await fh.close();
    }
    for (const side of ['-wal', '-shm', '-journal'])
      await chmod(db + side, 0o600).catch((err: unknown) => {
        if (code(err) !== 'ENOENT') throw err;
      });
  } catch (err) {
    if (err instanceof StateDirError) throw err;
    throw new StateDirError('data_dir', db, `cannot create or protect the database file (${code(err)})`, {
      cause: err,
    });
  }
  if (spoolDir !== undefined) await ensureDir('spool.dir', spoolDir, 0o700);
  return db;
}
