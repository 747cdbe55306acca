/**
 * What a request may read (src/daemon/file-access.ts), on real files, links, FIFOs, device files and sparse
 * files in temp folders: every refusal comes with the right code in bounded time, names the request's own path,
 * and says nothing about content, sizes, or whether something outside the allowed folders exists.
 */
import test from 'ava';
import { execFileSync, spawn } from 'node:child_process';
import {
  closeSync,
  linkSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
  ftruncateSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AudioError } from '../src/errors.js';
import {
  FileAccess,
  FileAccessError,
  readSmallFile,
  type FileAccessPolicy,
} from '../src/daemon/file-access.js';

/** A secret of a recognisable length (7919 bytes), so that a leaked size shows. */
const SECRET = 'root:$6$very-secret-hash:19000:0:99999:7:::'.padEnd(7919, '#');

const sandboxes: string[] = [];
test.after.always(() => {
  for (const d of sandboxes) rmSync(d, { recursive: true, force: true });
});

/** A sandbox: `root/` (allowed, holding one 44-byte WAV-looking file), `outside/` with a secret file. */
function sandbox(over: Partial<FileAccessPolicy> = {}): {
  dir: string;
  root: string;
  outside: string;
  access: FileAccess;
} {
  const dir = mkdtempSync(join(tmpdir(), 'slmia-fa-'));
  sandboxes.push(dir);
  const root = join(dir, 'root');
  const outside = join(dir, 'outside');
  mkdirSync(join(root, 'speaker'), { recursive: true });
  mkdirSync(outside);
  writeFileSync(join(root, 'speaker', 'a.wav'), Buffer.alloc(44, 1));
  writeFileSync(join(outside, 'shadow'), SECRET);
  writeFileSync(join(outside, 'b.wav'), SECRET);
  const access = new FileAccess({
    roots: [root],
    base: root,
    maxFileBytes: 1 << 20,
    maxRequestBytes: 4 << 20,
    maxFiles: 20,
    maxDepth: 2,
    readTimeoutMs: 5000,
    ...over,
  });
  return { dir, root, outside, access };
}

/** The error a promise rejects with, and how long it took. */
async function refusal(p: Promise<unknown>): Promise<{ err: Error & { code?: string }; ms: number }> {
  const t0 = performance.now();
  try {
    await p;
  } catch (err) {
    return { err: err as Error & { code?: string }, ms: performance.now() - t0 };
  }
  throw new Error('expected a refusal, got a result');
}

/** No secret content, size or resolved outside path in a message (beyond the request's own path). */
function assertClean(t: import('ava').ExecutionContext, message: string, outside: string, asked = ''): void {
  const msg = asked ? message.replace(JSON.stringify(asked), '"…"') : message;
  t.false(msg.includes('root:'), `content leaked: ${msg}`);
  t.false(msg.includes('very-secret'), `content leaked: ${msg}`);
  t.false(msg.includes(String(SECRET.length)), `size leaked: ${msg}`);
  t.false(msg.includes(outside), `outside path leaked: ${msg}`);
}

test('allowed: files and folders under the root, relative or absolute, read back byte for byte', async (t) => {
  const { root, access } = sandbox();
  const files = await access.resolve(['speaker', join(root, 'speaker', 'a.wav'), './speaker/a.wav']);
  t.deepEqual(
    files.map((f) => f.label),
    [join('speaker', 'a.wav'), join(root, 'speaker', 'a.wav'), './speaker/a.wav'],
  );
  t.deepEqual(await access.read(files[0]!), Buffer.alloc(44, 1));
});

test('path escapes: ../, absolute paths outside, / and /etc/shadow → forbidden, same text whether they exist', async (t) => {
  const { outside, access } = sandbox();
  for (const p of [
    '../outside/shadow',
    '../outside/nope',
    '/',
    '/etc/shadow',
    '/etc/nope',
    `${outside}/b.wav`,
  ]) {
    const { err, ms } = await refusal(access.resolve([p]));
    t.true(err instanceof FileAccessError, p);
    t.is(err.code, 'request.forbidden-path', p);
    t.is(
      err.message,
      `files[0] ${JSON.stringify(p)}: not under an allowed folder (files.root, files.allowed_dirs, spool.dir)`,
    );
    assertClean(t, err.message, outside, p);
    t.true(ms < 1000, `${p}: ${ms} ms`);
  }
});

test('symlinks: a link out of the root (file, folder, dangling, loop) is refused; a link within is followed', async (t) => {
  const { root, outside, access } = sandbox();
  symlinkSync(join(outside, 'shadow'), join(root, 'shadow.wav'));
  symlinkSync(join(outside, 'nope'), join(root, 'dangling.wav'));
  symlinkSync(outside, join(root, 'elsewhere'));
  symlinkSync('../../outside/shadow', join(root, 'speaker', 'rel.wav'));
  symlinkSync('loop2', join(root, 'loop1'));
  symlinkSync('loop1', join(root, 'loop2'));
  symlinkSync('speaker/a.wav', join(root, 'inside.wav'));
  const messages = new Set<string>();
  for (const p of [
    'shadow.wav',
    'dangling.wav',
    'elsewhere/shadow',
    'elsewhere/nope',
    'elsewhere',
    'speaker/rel.wav',
    'loop1',
  ]) {
    const { err } = await refusal(access.resolve([p]));
    t.is(err.code, 'request.forbidden-path', p);
    assertClean(t, err.message, outside);
    messages.add(err.message.replace(JSON.stringify(p), 'P'));
  }
  t.is(messages.size, 1, 'one fixed reason: existing and missing targets outside read the same');
  const [inside] = await access.resolve(['inside.wav']);
  t.is(inside?.real, join(root, 'speaker', 'a.wav'));
  // Missing under the root is a plain not-found naming the request's path.
  const { err } = await refusal(access.resolve(['speaker/missing.wav']));
  t.true(err instanceof AudioError);
  t.is(err.code, 'audio.not-found');
  t.regex(err.message, /^speaker\/missing\.wav: /);
});

test('folders are expanded without following links, with depth and count caps', async (t) => {
  const { root, outside, access } = sandbox({ maxFiles: 5, maxDepth: 1 });
  symlinkSync(join(outside, 'b.wav'), join(root, 'speaker', 'link.wav'));
  symlinkSync(outside, join(root, 'speaker', 'linkdir'));
  mkdirSync(join(root, 'speaker', 'sub', 'deeper'), { recursive: true });
  writeFileSync(join(root, 'speaker', 'sub', 'c.flac'), 'x');
  writeFileSync(join(root, 'speaker', 'sub', 'deeper', 'd.wav'), 'x');
  writeFileSync(join(root, 'speaker', 'notes.txt'), 'x');
  const files = await access.resolve(['speaker']);
  t.deepEqual(
    files.map((f) => f.label),
    [join('speaker', 'a.wav'), join('speaker', 'sub', 'c.flac')],
    'links skipped, depth 1, audio extensions only',
  );
  const many = join(root, 'many');
  mkdirSync(many);
  for (let i = 0; i < 6; i++) writeFileSync(join(many, `${i}.wav`), 'x');
  const { err } = await refusal(access.resolve(['many']));
  t.is(err.code, 'request.too-many-files');
  t.is(
    err.message,
    'files[0] "many": more than 5 audio files (files.max_files) or folder entries to look at',
  );
  // Many entries that are not audio still bound the walk.
  const junk = join(root, 'junk');
  mkdirSync(junk);
  for (let i = 0; i < 260; i++) writeFileSync(join(junk, `${i}.txt`), 'x');
  t.is((await refusal(access.resolve(['junk']))).err.code, 'request.too-many-files');
  // Listing several paths counts them together.
  t.is(
    (await refusal(access.resolve(Array.from({ length: 6 }, () => 'speaker/a.wav')))).err.code,
    'request.too-many-files',
  );
});

test('device files: /dev/zero and /dev/urandom (direct or via a link in the root) are refused at once', async (t) => {
  const { root, outside, access } = sandbox();
  symlinkSync('/dev/zero', join(root, 'zero.wav'));
  symlinkSync('/dev/urandom', join(root, 'speaker', 'urandom.wav'));
  const rss0 = process.memoryUsage().rss;
  for (const p of ['/dev/zero', '/dev/urandom', 'zero.wav', 'speaker/urandom.wav']) {
    const { err, ms } = await refusal(access.resolve([p]));
    t.is(err.code, 'request.forbidden-path', p);
    assertClean(t, err.message, outside);
    t.true(ms < 1000, `${p}: ${ms} ms`);
  }
  t.deepEqual(
    (await access.resolve(['speaker'])).map((f) => f.label),
    [join('speaker', 'a.wav')],
  );
  t.true(process.memoryUsage().rss - rss0 < 64 * 2 ** 20, 'nothing read');
});

test('FIFOs: in the root → not-a-file at once; a file swapped for a FIFO after the check never blocks the read', async (t) => {
  const { root, outside, access } = sandbox();
  execFileSync('mkfifo', [join(root, 'speaker', 'pipe.wav')]);
  const { err, ms } = await refusal(access.resolve(['speaker/pipe.wav']));
  t.is(err.code, 'request.not-a-file');
  t.is(err.message, 'files[0] "speaker/pipe.wav": not a regular file or folder');
  t.true(ms < 1000);
  t.deepEqual(
    (await access.resolve(['speaker'])).map((f) => f.label),
    [join('speaker', 'a.wav')],
    'a FIFO inside a requested folder is not listed',
  );
  // Time-of-check/time-of-use: resolved as a regular file, then replaced by a FIFO with no writer.
  const [file] = await access.resolve(['speaker/a.wav']);
  rmSync(join(root, 'speaker', 'a.wav'));
  execFileSync('mkfifo', [join(root, 'speaker', 'a.wav')]);
  const swapped = await refusal(access.read(file!));
  t.is(swapped.err.code, 'request.not-a-file');
  t.true(swapped.ms < 1000, `${swapped.ms} ms`);
  assertClean(t, swapped.err.message, outside);
});

test('/proc/self/fd pipes: a pipe held by this process is outside every root (direct or via a link)', async (t) => {
  const { root, access } = sandbox();
  const child = spawn('sleep', ['30'], { stdio: ['pipe', 'ignore', 'ignore'] });
  try {
    const fd = (child.stdin as unknown as { _handle: { fd: number } })._handle.fd;
    const p = `/proc/self/fd/${fd}`;
    symlinkSync(p, join(root, 'fd.wav'));
    for (const q of [p, 'fd.wav']) {
      const { err, ms } = await refusal(access.resolve([q]));
      t.is(err.code, 'request.forbidden-path', q);
      t.true(ms < 1000);
    }
  } finally {
    child.kill();
  }
});

test('huge files: a 3 GB sparse file starting with RIFF is refused by its size before any byte is read', async (t) => {
  const { root, outside, access } = sandbox();
  const big = join(root, 'speaker', 'huge.wav');
  const fd = openSync(big, 'w');
  writeSync(fd, Buffer.from('RIFF\xff\xff\xff\xffWAVEfmt ', 'latin1'));
  ftruncateSync(fd, 3 * 2 ** 30);
  closeSync(fd);
  const rss0 = process.memoryUsage().rss;
  const [file] = await access.resolve(['speaker/huge.wav']);
  const { err, ms } = await refusal(access.read(file!));
  t.is(err.code, 'request.too-large');
  t.is(err.message, `file "speaker/huge.wav": larger than files.max_file_bytes (${1 << 20} bytes)`);
  assertClean(t, err.message, outside);
  t.false(err.message.includes(String(3 * 2 ** 30)), 'the size is not echoed');
  t.true(ms < 1000);
  t.true(process.memoryUsage().rss - rss0 < 64 * 2 ** 20, 'nothing read');
  rmSync(big);
});

test('request byte budget and read deadline', async (t) => {
  const { root, access } = sandbox({ maxRequestBytes: 100 });
  const files = await access.resolve(['speaker/a.wav', 'speaker/a.wav', 'speaker/a.wav']);
  const budget = { bytes: 100 };
  await access.read(files[0]!, budget);
  await access.read(files[1]!, budget);
  t.is((await refusal(access.read(files[2]!, budget))).err.code, 'request.too-large');
  // 512 MiB (sparse) cannot be read within 1 ms: the deadline answers, the read does not run on.
  const hasty = new FileAccess({ ...access.policy, maxFileBytes: 600 << 20, readTimeoutMs: 1 });
  const big = join(root, 'speaker', 'slow.wav');
  const fd = openSync(big, 'w');
  ftruncateSync(fd, 512 * 2 ** 20);
  closeSync(fd);
  const [slow] = await hasty.resolve(['speaker/slow.wav']);
  const { err, ms } = await refusal(hasty.read(slow!));
  t.is(err.code, 'request.read-timeout');
  t.is(err.message, 'file "speaker/slow.wav": not read within files.read_timeout_ms (1 ms)');
  t.true(ms < 2000, `${ms} ms`);
  rmSync(big);
});

test('a folder swapped for a link after the check: the opened file is re-checked against the roots', async (t) => {
  const { root, outside, access } = sandbox();
  const [file] = await access.resolve(['speaker/a.wav']);
  // The same inode outside the root (a hard link), reached through a link where the folder was.
  linkSync(join(root, 'speaker', 'a.wav'), join(outside, 'a.wav'));
  renameSync(join(root, 'speaker'), join(root, 'moved'));
  symlinkSync(outside, join(root, 'speaker'));
  const { err } = await refusal(access.read(file!));
  t.is(err.code, 'request.forbidden-path');
  t.is(
    err.message,
    'file "speaker/a.wav": not under an allowed folder (files.root, files.allowed_dirs, spool.dir)',
  );
});

test('small control files (spool markers): regular files only, never a FIFO or a link, size-capped', async (t) => {
  const { root, outside } = sandbox();
  writeFileSync(join(root, 'ready'), '{"transaction":"t1"}');
  symlinkSync(join(outside, 'shadow'), join(root, 'link'));
  execFileSync('mkfifo', [join(root, 'fifo')]);
  writeFileSync(join(root, 'big'), Buffer.alloc(5000, 0x20));
  t.is(await readSmallFile(join(root, 'ready')), '{"transaction":"t1"}');
  const t0 = performance.now();
  t.is(await readSmallFile(join(root, 'fifo')), undefined);
  t.true(performance.now() - t0 < 1000);
  t.is(await readSmallFile(join(root, 'link')), undefined);
  t.is(await readSmallFile(join(root, 'big')), undefined);
  t.is(await readSmallFile(join(root, 'missing')), undefined);
  t.is(readFileSync(join(outside, 'shadow'), 'utf8'), SECRET);
});
