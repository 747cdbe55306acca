/**
 * Spool-directory input: a producer writes `<spool>/<speaker>/*.wav|*.flac`, then creates `<speaker>/.ready`
 * (optionally JSON `{"transaction": "..."}`). The watcher claims a ready folder by renaming it atomically into
 * `<spool>/.processing/<speaker>@<transaction>`, so a folder is never half-read nor taken twice; after the
 * audit the folder is deleted (or moved to `.done/` when audio is retained). Folders left in `.processing/`
 * by a crash are picked up again at start-up. Speaker folders and markers are never followed through symbolic
 * links; the audio inside is read through the daemon's file access rules (src/daemon/file-access.ts).
 *
 * A `.ready` marker is seen at once through file-system events (chokidar: inotify on Linux), and the folder is
 * also scanned every `pollMs` as a fallback for file systems that deliver no events (NFS, some FUSE mounts).
 */
import { lstat, mkdir, readdir, rename, rm } from 'node:fs/promises';
import { basename, join, relative, sep } from 'node:path';
import { watch, type FSWatcher } from 'chokidar';
import { SPEAKER_ID } from './config.js';
import { readSmallFile } from './file-access.js';

/** A claimed spool folder. */
export interface SpoolBatch {
  speaker: string;
  transaction: string;
  /** The claimed folder (under `.processing/`). */
  dir: string;
}

/** Options of {@link SpoolWatcher}. */
export interface SpoolOptions {
  dir: string;
  /** Fallback scan interval, ms. */
  pollMs: number;
  /** Watch the folder for file-system events (default true); false = scan every `pollMs` only. */
  watch?: boolean;
  /** Called when the file-system watcher fails (the periodic scan goes on). */
  onWatchError?: (err: Error) => void;
  /** Whether a batch can be taken now (queue not full). */
  canAccept: () => boolean;
  /** Called with each claimed batch. */
  onBatch: (batch: SpoolBatch) => void;
  /**
   * Called for folders that cannot be used (bad speaker id) with the transaction id of their `.ready` marker
   * (or a generated one), so they can be answered like a bad request. They are deleted, or moved to
   * `.rejected/` when `retain` (the daemon's `retain_audio`).
   */
  onReject?: (name: string, why: string, transaction: string) => void;
  /** Keep rejected folders under `.rejected/` instead of deleting them. */
  retain?: boolean;
}

const READY = '.ready';

function safeId(s: string): string {
  return s.replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 100);
}

/** The transaction id of a folder's `.ready` marker (`{"transaction": ...}`), else `fallback`. */
async function markerTransaction(folder: string, fallback: string): Promise<string> {
  try {
    const marker = ((await readSmallFile(join(folder, READY))) ?? '').trim();
    if (marker.startsWith('{')) {
      const t = (JSON.parse(marker) as { transaction?: unknown }).transaction;
      if ((typeof t === 'string' && t.length > 0) || (typeof t === 'number' && Number.isFinite(t)))
        return safeId(String(t));
    }
  } catch {
    // an empty or non-JSON marker is fine
  }
  return fallback;
}

/** Watches (and polls) a spool folder for ready speaker folders. */
export class SpoolWatcher {
  private timer: NodeJS.Timeout | undefined;
  private watcher: FSWatcher | undefined;
  private scanning: Promise<void> | undefined;
  private rescan = false;

  constructor(private readonly o: SpoolOptions) {}

  get processingDir(): string {
    return join(this.o.dir, '.processing');
  }

  /**
   * Create the folders, hand back batches left in `.processing/` by a previous run (to queue first), and
   * start watching and polling (the first scan comes with the first event or after `pollMs`, or call
   * {@link scan}).
   */
  async start(): Promise<SpoolBatch[]> {
    await mkdir(this.processingDir, { recursive: true });
    const recovered: SpoolBatch[] = [];
    for (const name of (await readdir(this.processingDir)).sort()) {
      const at = name.indexOf('@');
      if (at <= 0) continue;
      recovered.push({
        speaker: name.slice(0, at),
        transaction: name.slice(at + 1),
        dir: join(this.processingDir, name),
      });
    }
    this.timer = setInterval(() => void this.scan(), this.o.pollMs);
    this.timer.unref();
    if (this.o.watch ?? true) await this.startWatching();
    return recovered;
  }

  /** Scan whenever a `.ready` marker appears in a speaker folder (`<dir>/<speaker>/.ready`). */
  private async startWatching(): Promise<void> {
    const dir = this.o.dir;
    const watcher = watch(dir, {
      ignoreInitial: true,
      depth: 1,
      // Events only trigger a scan, which looks at folders and markers without following links.
      followSymlinks: false,
      // The daemon's own folders (.processing, .done, .rejected) are not watched.
      ignored: (p: string) => relative(dir, p).split(sep)[0]?.startsWith('.') === true,
    });
    watcher.on('add', (p) => {
      if (basename(p) === READY) void this.scan();
    });
    watcher.on('error', (err) => this.o.onWatchError?.(err as Error));
    await new Promise<void>((res) => watcher.once('ready', () => res()));
    this.watcher = watcher;
  }

  /**
   * Claim every ready folder the queue can take now. A call during a running scan makes that scan run once
   * more when it ends (a marker it already walked past is not missed).
   */
  scan(): Promise<void> {
    if (this.scanning) {
      this.rescan = true;
      return this.scanning;
    }
    this.scanning = (async () => {
      do {
        this.rescan = false;
        await this.scanOnce();
      } while (this.rescan);
    })().finally(() => (this.scanning = undefined));
    return this.scanning;
  }

  private async scanOnce(): Promise<void> {
    const entries = await readdir(this.o.dir, { withFileTypes: true }).catch(() => []);
    for (const e of entries.sort((a, b) => a.name.localeCompare(b.name))) {
      if (!e.isDirectory() || e.name.startsWith('.')) continue;
      const folder = join(this.o.dir, e.name);
      // The marker is looked at, never followed (a link or FIFO counts as present but carries no transaction).
      if (!(await lstat(join(folder, READY)).catch(() => undefined))) continue;
      if (!SPEAKER_ID.test(e.name)) {
        const transaction = await markerTransaction(folder, `spool-rejected-${safeId(e.name)}-${Date.now()}`);
        if (this.o.retain) {
          await mkdir(join(this.o.dir, '.rejected'), { recursive: true });
          await rename(folder, join(this.o.dir, '.rejected', `${safeId(e.name)}-${Date.now()}`)).catch(
            () => undefined,
          );
        } else {
          await rm(folder, { recursive: true, force: true }).catch(() => undefined);
        }
        this.o.onReject?.(
          e.name,
          'speaker folder name must be 1-64 letters, digits, _ . - (not "bridge")',
          transaction,
        );
        continue;
      }
      if (!this.o.canAccept()) break;
      const transaction = await markerTransaction(folder, `spool-${e.name}-${Date.now()}`);
      const claimed = join(this.processingDir, `${e.name}@${transaction}`);
      try {
        await rename(folder, claimed);
      } catch {
        continue; // taken by someone else or vanished
      }
      this.o.onBatch({ speaker: e.name, transaction, dir: claimed });
    }
  }

  /** Remove a finished batch, or move it to `<spool>/.done/` when `retain`. */
  async finish(batch: SpoolBatch, retain: boolean): Promise<void> {
    if (retain) {
      await mkdir(join(this.o.dir, '.done'), { recursive: true });
      await rename(batch.dir, join(this.o.dir, '.done', `${batch.speaker}@${batch.transaction}`)).catch(
        () => undefined,
      );
    } else {
      await rm(batch.dir, { recursive: true, force: true });
    }
  }

  /** Stop watching and polling. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.watcher?.close();
    this.watcher = undefined;
  }
}
