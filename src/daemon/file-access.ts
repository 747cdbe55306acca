/**
 * What the daemon may read on behalf of a request (MQTT `files`, spool folders): only regular files under a
 * few explicit allowed folders ("roots": `files.root`, `files.allowed_dirs`, the spool folder), whatever the
 * request names. Paths are resolved here component by component, following a symbolic link only when its
 * target lies under a root too (so nothing outside the roots is ever stat'ed, opened or listed, and an answer
 * never tells whether something outside exists); folders are expanded without following links, with a depth
 * and a file-count cap; files are opened non-blocking (a FIFO cannot block), checked to be regular files of at
 * most `max_file_bytes` after opening, re-checked to lie under a root (`/proc/self/fd`), and read with a
 * deadline. Errors name the request's own path and a fixed reason, never content, sizes or the real path.
 */
import { constants, type Stats } from 'node:fs';
import { lstat, open, readdir, readlink, realpath, type FileHandle } from 'node:fs/promises';
import { extname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { AUDIO_EXTENSIONS } from '../audio/index.js';
import { AudioError, SlmiaError } from '../errors.js';
import type { DaemonConfig } from './config.js';

/** Why a requested path was refused (`code` of the error response). */
export type FileAccessCode =
  | 'request.forbidden-path'
  | 'request.not-a-file'
  | 'request.too-large'
  | 'request.too-many-files'
  | 'request.read-timeout'
  | 'request.unreadable';

/**
 * A requested path the daemon will not read. The message is `<label> "<request path>": <fixed reason>`; it
 * never carries file content, sizes, the resolved path, or anything about paths outside the roots.
 */
export class FileAccessError extends SlmiaError {
  /** The path as the request wrote it (truncated to 256 characters). */
  readonly path: string;
  constructor(code: FileAccessCode, label: string, path: string, reason: string) {
    super(code, `${label} ${quote(path)}: ${reason}`);
    this.path = clip(path);
  }
}

/** The limits and roots of {@link FileAccess}. */
export interface FileAccessPolicy {
  /** Allowed folders (absolute); a root that does not exist (yet) allows nothing. */
  roots: string[];
  /** Folder that relative request paths resolve against (should be one of the roots). */
  base: string;
  /** Largest file read, bytes. */
  maxFileBytes: number;
  /** Most bytes read for one request (all files together). */
  maxRequestBytes: number;
  /** Most audio files one request may name or expand to. */
  maxFiles: number;
  /** Folder levels expanded below a requested folder (0 = its own files only). */
  maxDepth: number;
  /** Deadline for reading one file, ms. */
  readTimeoutMs: number;
}

/** An allowed file, ready to be read with {@link FileAccess.read}. */
export interface AllowedFile {
  /** Resolved path (under a root, no symbolic links). */
  real: string;
  /** The request's name for it (the requested path, plus the sub-path for files found in a folder). */
  label: string;
  dev: number;
  ino: number;
}

const MAX_LINK_HOPS = 40;
/** Directory entries looked at per request while expanding folders (bounds the walk, not only the result). */
const MAX_ENTRIES_FACTOR = 50;
const PATH_ECHO = 256;

function clip(p: string): string {
  return p.length > PATH_ECHO ? `${p.slice(0, PATH_ECHO)}…` : p;
}

function quote(p: string): string {
  return JSON.stringify(clip(p));
}

function inside(root: string, p: string): boolean {
  const r = relative(root, p);
  return r === '' || (!r.startsWith(`..${sep}`) && r !== '..' && !isAbsolute(r));
}

/** A root as configured and as resolved (the OS's real path), so both spellings of a request match. */
interface Root {
  alias: string;
  real: string;
}

const errno = (err: unknown): string | undefined => (err as NodeJS.ErrnoException).code;

/** Enforces a {@link FileAccessPolicy}. */
export class FileAccess {
  constructor(readonly policy: FileAccessPolicy) {}

  /** The roots that exist now, with their real paths. */
  private async roots(): Promise<Root[]> {
    const out: Root[] = [];
    for (const alias of this.policy.roots) {
      const real = await realpath(alias).catch(() => undefined);
      if (real) out.push({ alias: resolve(alias), real });
    }
    return out;
  }

  /**
   * Resolve a path under the roots without ever touching anything outside them: each component is lstat'ed
   * from its root down; a symbolic link is followed only when its (lexical) target lies under a root.
   * @returns the real path and its lstat, `outside` (the path or a link target leaves the roots, or links
   *   loop) or `missing` (a component under a root does not exist)
   */
  private async resolveBeneath(
    abs: string,
    roots: Root[],
  ): Promise<{ real: string; st: Stats } | 'outside' | 'missing'> {
    const rootOf = (p: string): Root | undefined =>
      roots.find((r) => inside(r.real, p)) ?? roots.find((r) => inside(r.alias, p));
    let root = rootOf(abs);
    if (!root) return 'outside';
    let from = inside(root.real, abs) ? root.real : root.alias;
    let todo = relative(from, abs).split(sep).filter(Boolean);
    let cur = root.real;
    let st = await lstat(cur);
    let hops = 0;
    while (todo.length > 0) {
      const next = join(cur, todo.shift() as string);
      try {
        st = await lstat(next);
      } catch (err) {
        if (errno(err) === 'ENOENT' || errno(err) === 'ENOTDIR') return 'missing';
        return 'outside';
      }
      if (!st.isSymbolicLink()) {
        cur = next;
        continue;
      }
      if (++hops > MAX_LINK_HOPS) return 'outside';
      const target = resolve(cur, await readlink(next)); // `cur` has no links: lexical `..` is exact here
      root = rootOf(target);
      if (!root) return 'outside';
      from = inside(root.real, target) ? root.real : root.alias;
      todo = [...relative(from, target).split(sep).filter(Boolean), ...todo];
      cur = root.real;
      st = await lstat(cur);
    }
    return { real: cur, st };
  }

  /**
   * Check the paths a request names and expand folders (sorted, `.wav`/`.flac` only, links skipped).
   * @param paths as the request wrote them (relative ones resolve against `policy.base`)
   * @param label how errors name the list, e.g. `files` → `files[2] "x.wav": …`
   * @throws FileAccessError `request.forbidden-path` (outside the roots, also via links), `request.not-a-file`
   *   (device, FIFO, socket), `request.too-many-files`; AudioError `not-found` (missing under a root, or a
   *   folder without audio files)
   */
  async resolve(paths: string[], label = 'files'): Promise<AllowedFile[]> {
    const roots = await this.roots();
    const out: AllowedFile[] = [];
    const budget = { entries: this.policy.maxFiles * MAX_ENTRIES_FACTOR };
    for (const [i, p] of paths.entries()) {
      const name = paths.length === 1 && label !== 'files' ? label : `${label}[${i}]`;
      const abs = isAbsolute(p) ? resolve(p) : resolve(this.policy.base, p);
      const r = await this.resolveBeneath(abs, roots);
      if (r === 'outside')
        throw new FileAccessError(
          'request.forbidden-path',
          name,
          p,
          'not under an allowed folder (files.root, files.allowed_dirs, spool.dir)',
        );
      if (r === 'missing') throw new AudioError(clip(p), 'not-found', 'no such file or folder');
      if (r.st.isDirectory()) {
        const found = await this.expand(r.real, p, name, 0, out.length, budget);
        if (found.length === 0)
          throw new AudioError(clip(p), 'not-found', `folder holds no ${AUDIO_EXTENSIONS.join('/')} files`);
        out.push(...found);
      } else if (r.st.isFile()) {
        out.push({ real: r.real, label: p, dev: r.st.dev, ino: r.st.ino });
      } else {
        throw new FileAccessError('request.not-a-file', name, p, 'not a regular file or folder');
      }
      if (out.length > this.policy.maxFiles) throw this.tooMany(name, p);
    }
    return out;
  }

  private tooMany(name: string, p: string): FileAccessError {
    return new FileAccessError(
      'request.too-many-files',
      name,
      p,
      `more than ${this.policy.maxFiles} audio files (files.max_files) or folder entries to look at`,
    );
  }

  /** Audio files of a folder (no links followed), depth-first in byte order of names. */
  private async expand(
    dir: string,
    shown: string,
    name: string,
    depth: number,
    have: number,
    budget: { entries: number },
  ): Promise<AllowedFile[]> {
    const entries = await readdir(dir, { withFileTypes: true }).catch((err: unknown) => {
      throw new FileAccessError('request.unreadable', name, shown, `folder not readable (${errno(err)})`);
    });
    budget.entries -= entries.length;
    if (budget.entries < 0) throw this.tooMany(name, shown);
    const names = entries.map((e) => e.name).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    const kind = new Map(entries.map((e) => [e.name, e]));
    const files: AllowedFile[] = [];
    for (const n of names) {
      const e = kind.get(n);
      if (!e) continue;
      const real = join(dir, n);
      const label = join(shown, n);
      if (e.isDirectory() && depth < this.policy.maxDepth) {
        files.push(...(await this.expand(real, label, name, depth + 1, have + files.length, budget)));
      } else if (e.isFile() && AUDIO_EXTENSIONS.includes(extname(n).toLowerCase())) {
        const st = await lstat(real).catch(() => undefined);
        if (st?.isFile()) files.push({ real, label, dev: st.dev, ino: st.ino });
      }
      if (have + files.length > this.policy.maxFiles) throw this.tooMany(name, shown);
    }
    return files;
  }

  /**
   * Read one allowed file: opened with O_NONBLOCK | O_NOFOLLOW | O_NOCTTY, then fstat'ed (must be the same
   * regular file that was resolved, at most `maxFileBytes`) and, where `/proc/self/fd` exists, checked to lie
   * under a root (a folder swapped for a link after {@link resolve} is caught here), then read with a
   * deadline of `readTimeoutMs`.
   * @param budget bytes this request may still read; decreased by the file's size
   * @throws FileAccessError `request.not-a-file` | `request.forbidden-path` | `request.too-large` |
   *   `request.read-timeout` | `request.unreadable`; AudioError `not-found` when it vanished
   */
  async read(file: AllowedFile, budget: { bytes: number } = { bytes: Infinity }): Promise<Buffer> {
    const p = file.label;
    const flags = constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW | constants.O_NOCTTY;
    let fh: FileHandle;
    try {
      fh = await open(file.real, flags);
    } catch (err) {
      if (errno(err) === 'ENOENT') throw new AudioError(clip(p), 'not-found', 'no such file or folder');
      if (errno(err) === 'ELOOP')
        throw new FileAccessError('request.not-a-file', 'file', p, 'changed into a link while being read');
      throw new FileAccessError('request.unreadable', 'file', p, `cannot open (${errno(err) ?? 'error'})`);
    }
    try {
      const st = await fh.stat();
      if (!st.isFile())
        throw new FileAccessError('request.not-a-file', 'file', p, 'not a regular file or folder');
      if (st.dev !== file.dev || st.ino !== file.ino)
        throw new FileAccessError('request.not-a-file', 'file', p, 'replaced while being read');
      const opened = await readlink(`/proc/self/fd/${fh.fd}`).catch(() => undefined);
      if (opened !== undefined) {
        const roots = await this.roots();
        if (!roots.some((r) => inside(r.real, opened)))
          throw new FileAccessError(
            'request.forbidden-path',
            'file',
            p,
            'not under an allowed folder (files.root, files.allowed_dirs, spool.dir)',
          );
      }
      if (st.size > this.policy.maxFileBytes)
        throw new FileAccessError(
          'request.too-large',
          'file',
          p,
          `larger than files.max_file_bytes (${this.policy.maxFileBytes} bytes)`,
        );
      if (st.size > budget.bytes)
        throw new FileAccessError(
          'request.too-large',
          'file',
          p,
          `the request's files together exceed files.max_request_bytes (${this.policy.maxRequestBytes} bytes)`,
        );
      budget.bytes -= st.size;
      return await this.readAll(fh, st.size, p);
    } finally {
      // Not awaited: FileHandle.close waits for pending reads, and a read that hit the deadline may never end.
      void fh.close().catch(() => undefined);
    }
  }

  /** Read exactly the size fstat gave (a file that grows meanwhile is cut there), by deadline. */
  private async readAll(fh: FileHandle, size: number, p: string): Promise<Buffer> {
    const buf = Buffer.allocUnsafe(size);
    const deadline = Date.now() + this.policy.readTimeoutMs;
    const timeout = (): FileAccessError =>
      new FileAccessError(
        'request.read-timeout',
        'file',
        p,
        `not read within files.read_timeout_ms (${this.policy.readTimeoutMs} ms)`,
      );
    let off = 0;
    while (off < size) {
      const left = deadline - Date.now();
      if (left <= 0) throw timeout();
      let timer: NodeJS.Timeout | undefined;
      const chunk = Math.min(size - off, 1 << 20);
      const n = await Promise.race([
        fh.read(buf, off, chunk, off).then((r) => r.bytesRead),
        new Promise<never>((_, rej) => {
          timer = setTimeout(() => rej(timeout()), left);
        }),
      ]).finally(() => clearTimeout(timer));
      if (n === 0) break; // shrank meanwhile: what is there is decoded (and judged) as is
      off += n;
    }
    return off === size ? buf : buf.subarray(0, off);
  }
}

/**
 * Read a small control file (e.g. a spool `.ready` marker) that must be a regular file of at most `maxBytes`,
 * without following a final symbolic link and without blocking on a FIFO.
 * @returns its text, or undefined when it is missing, not a regular file, too large or unreadable
 */
export async function readSmallFile(path: string, maxBytes = 4096): Promise<string | undefined> {
  const flags = constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW | constants.O_NOCTTY;
  const fh = await open(path, flags).catch(() => undefined);
  if (!fh) return undefined;
  try {
    const st = await fh.stat();
    if (!st.isFile() || st.size > maxBytes) return undefined;
    const buf = Buffer.alloc(st.size);
    const { bytesRead } = await fh.read(buf, 0, st.size, 0);
    return buf.subarray(0, bytesRead).toString('utf8');
  } catch {
    return undefined;
  } finally {
    await fh.close().catch(() => undefined);
  }
}

/**
 * The daemon's policy from its settings: roots `files.root`, `files.allowed_dirs` and (when enabled) the spool
 * folder; relative request paths resolve against `files.root`.
 */
export function fileAccessOf(c: DaemonConfig): FileAccess {
  const f = c.files;
  const base = f.root as string;
  return new FileAccess({
    roots: [base, ...f.allowed_dirs, ...(c.spool.enabled ? [c.spool.dir] : [])],
    base,
    maxFileBytes: f.max_file_bytes,
    maxRequestBytes: f.max_request_bytes,
    maxFiles: f.max_files,
    maxDepth: f.max_depth,
    readTimeoutMs: f.read_timeout_ms,
  });
}
