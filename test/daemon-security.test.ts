/**
 * The security suite: the daemon as a hostile MQTT client or local user would try it, with the real audit
 * pipeline on real speech. Path escapes, links, device files, FIFOs and /proc pipes, a 3 GB sparse RIFF file,
 * `/`, undecodable files and odd sample rates over MQTT and through the spool; anonymous, forging and
 * session-stealing clients on the embedded broker and on a real Mosquitto with the shipped ACL
 * (deploy/mosquitto/); and the service as a process: state permissions under umask 022, JSON-only log,
 * typed exit 2 for bad settings, SIGTERM within seconds. Each attack must be answered with the right error
 * code within its bound, the daemon must serve a real audit afterwards, and no answer may leak content, sizes
 * or the existence of anything outside the allowed folders.
 */
import test from 'ava';
import { execFileSync, spawn } from 'node:child_process';
import {
  closeSync,
  copyFileSync,
  ftruncateSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import mqtt from 'mqtt';
import { pino } from 'pino';
import { stringify } from 'yaml';
import { startDaemon } from '../src/daemon/controller.js';
import type { Auditor } from '../src/daemon/auditor.js';
import type { DaemonConfigInput } from '../src/daemon/config.js';
import { captureConsole } from '../src/daemon/logger.js';
import type { GroupSpeaker } from '../src/dataset/index.js';
import { projectRoot } from '../src/paths.js';
import type { AuditResponse } from '../src/publish/topics.js';
import { Db } from '../src/store/db.js';
import {
  groupSpeakers,
  NO_PIPELINE,
  openTestAuditor,
  pipelinePaths,
  pipelineTest,
  testConfig,
} from './helpers/daemon.js';
import { Mosquitto, mosquittoBin, NO_MOSQUITTO } from './helpers/mosquitto.js';
import { Observer } from './helpers/mqtt-observer.js';
import { withTool } from './helpers/tools.js';

const MEMBER = process.env.SLMIA_TEST_MEMBER ?? 'SPEAKER0111';
/** A secret of a recognisable length (7919 bytes), so that a leaked size shows. */
const SECRET = 'root:$6$very-secret-hash:19000:0:99999:7:::'.padEnd(7919, '#');
/** Bound on an error answer (the refusals themselves take milliseconds; this leaves room for a loaded CI box). */
const ANSWER_MS = 10_000;

interface Ctx {
  auditor: Auditor;
  close: () => Promise<void>;
  member: GroupSpeaker;
  /** Temp folders: audio root (allowed), outside (not allowed, holds a secret), spool. */
  dir: { audio: string; outside: string; spool: string; top: string };
  /** Verdict the pipeline gives the member's training utterances directly. */
  verdict: 'member' | 'non-member' | 'inconclusive';
}

type ErrorResponse = Extract<AuditResponse, { status: 'error' }>;

/** A 16-bit mono WAV of `n` samples (a tone) at `rate` Hz (the header's rate field is 32-bit). */
function wav(rate: number, n = 32000): Buffer {
  const b = Buffer.alloc(44 + n * 2);
  b.write('RIFF', 0);
  b.writeUInt32LE(36 + n * 2, 4);
  b.write('WAVEfmt ', 8);
  b.writeUInt32LE(16, 16);
  b.writeUInt16LE(1, 20);
  b.writeUInt16LE(1, 22);
  b.writeUInt32LE(rate >>> 0, 24);
  b.writeUInt32LE((rate * 2) >>> 0, 28);
  b.writeUInt16LE(2, 32);
  b.writeUInt16LE(16, 34);
  b.write('data', 36);
  b.writeUInt32LE(n * 2, 40);
  for (let i = 0; i < n; i++) b.writeInt16LE(Math.round(8000 * Math.sin(i / 5)), 44 + 2 * i);
  return b;
}

test.serial.before(async (t) => {
  if (NO_PIPELINE) return;
  const { auditor, close } = await openTestAuditor();
  const member = (await groupSpeakers('target-member')).find((s) => s.speaker === MEMBER) as GroupSpeaker;
  const top = mkdtempSync(join(tmpdir(), 'slmia-sec-'));
  const dir = { top, audio: join(top, 'audio'), outside: join(top, 'outside'), spool: join(top, 'spool') };
  mkdirSync(join(dir.audio, MEMBER), { recursive: true });
  mkdirSync(join(dir.audio, 'links'));
  mkdirSync(dir.outside);
  for (const u of member.train) copyFileSync(u.path, join(dir.audio, MEMBER, basename(u.path)));
  writeFileSync(join(dir.outside, 'shadow'), SECRET);
  writeFileSync(join(dir.outside, 'voice.wav'), wav(16000));
  // Links out of the allowed folder, and a folder that holds only such links.
  symlinkSync(join(dir.outside, 'shadow'), join(dir.audio, 'shadow.wav'));
  symlinkSync('/dev/zero', join(dir.audio, 'zero.wav'));
  symlinkSync(join(dir.outside, 'voice.wav'), join(dir.audio, 'links', 'voice.wav'));
  symlinkSync(dir.outside, join(dir.audio, 'links', 'outside'));
  execFileSync('mkfifo', [join(dir.audio, 'fifo.wav')]);
  // 3 GB, sparse, starting like a WAV file.
  const fd = openSync(join(dir.audio, 'huge.wav'), 'w');
  writeSync(fd, Buffer.from('RIFF\xff\xff\xff\xffWAVEfmt ', 'latin1'));
  ftruncateSync(fd, 3 * 2 ** 30);
  closeSync(fd);
  writeFileSync(join(dir.audio, 'secret.wav'), SECRET);
  writeFileSync(join(dir.audio, 'rate3.wav'), wav(3));
  writeFileSync(join(dir.audio, 'rate2e31.wav'), wav(2 ** 31));
  const verdict = (
    await auditor.auditFiles(
      MEMBER,
      member.train.map((u) => u.path),
    )
  ).verdict;
  t.context = { auditor, close, member, dir, verdict } satisfies Ctx;
});

test.after.always(async (t) => {
  const c = t.context as Partial<Ctx>;
  await c.close?.();
  if (c.dir) rmSync(c.dir.top, { recursive: true, force: true });
});

/** No secret content, its size, or the outside folder in a text (the request's own path aside). */
function assertClean(t: import('ava').ExecutionContext, text: string, c: Ctx, asked?: string): void {
  const s = asked ? text.split(JSON.stringify(asked)).join('"…"') : text;
  for (const bad of ['root:', 'very-secret', String(SECRET.length), c.dir.outside, String(3 * 2 ** 30)])
    t.false(s.includes(bad), `leak of ${JSON.stringify(bad)} in ${text}`);
}

function daemonConfig(c: Ctx, over: DaemonConfigInput = {}): ReturnType<typeof testConfig> {
  return testConfig({ files: { root: c.dir.audio }, ...over });
}

pipelineTest(
  'file attacks over MQTT: each refused with its code in bounded time, no leak, daemon serves after',
  async (t) => {
    const c = t.context as Ctx;
    const daemon = await startDaemon(daemonConfig(c, { queue: { max_pending: 64 } }), { auditor: c.auditor });
    const obs = await Observer.connect(daemon.broker?.url as string, 'slmia/bridge/response/audit');
    const rss0 = process.memoryUsage().rss;
    try {
      const cases: [string, string][] = [
        ['../outside/shadow', 'request.forbidden-path'],
        ['../outside/nope', 'request.forbidden-path'],
        [join(c.dir.outside, 'voice.wav'), 'request.forbidden-path'],
        ['/etc/shadow', 'request.forbidden-path'],
        ['/etc/passwd', 'request.forbidden-path'],
        ['/', 'request.forbidden-path'],
        ['/dev/zero', 'request.forbidden-path'],
        ['/dev/urandom', 'request.forbidden-path'],
        ['/proc/self/fd/0', 'request.forbidden-path'],
        ['/proc/self/environ', 'request.forbidden-path'],
        ['shadow.wav', 'request.forbidden-path'],
        ['zero.wav', 'request.forbidden-path'],
        ['links/outside', 'request.forbidden-path'],
        ['links', 'audio.not-found'],
        ['fifo.wav', 'request.not-a-file'],
        ['huge.wav', 'request.too-large'],
        ['secret.wav', 'audio.unsupported-encoding'],
        ['rate3.wav', 'audio.unsupported-encoding'],
        ['rate2e31.wav', 'audio.unsupported-encoding'],
      ];
      const sent = new Map<string, number>();
      for (const [i, [path]] of cases.entries()) {
        sent.set(`atk-${i}`, Date.now());
        await obs.publish('slmia/bridge/request/audit', {
          transaction: `atk-${i}`,
          speaker: 'S1',
          files: [path],
        });
      }
      for (const [i, [path, code]] of cases.entries()) {
        const m = await obs.response('slmia', `atk-${i}`, ANSWER_MS * cases.length);
        const r = m.payload as ErrorResponse;
        t.is(r.status, 'error', path);
        t.is(r.code, code, `${path}: ${r.error}`);
        t.true(
          r.error.includes(JSON.stringify(path).slice(1, -1)),
          `${path}: the answer names the request's path: ${r.error}`,
        );
        assertClean(t, r.error, c, path);
        t.true(
          m.at - (sent.get(`atk-${i}`) as number) < ANSWER_MS * (i + 1),
          `${path}: answered in bounded time`,
        );
      }
      const last = Math.max(...obs.messages.map((m) => m.at)) - Math.min(...sent.values());
      t.log(`${cases.length} attack requests sent back to back, all answered within ${last} ms`);
      // Same answer whether the outside target exists (no existence oracle).
      const texts = [0, 1].map((i) =>
        (
          (
            obs.messages.find((m) => (m.payload as ErrorResponse).transaction === `atk-${i}`)
              ?.payload as ErrorResponse
          ).error ?? ''
        ).replace(/"[^"]*"/, 'P'),
      );
      t.is(texts[0], texts[1]);
      // A transaction that JSON cannot carry back (1e999 → Infinity) is refused as such, not echoed as null data.
      await obs.publish(
        'slmia/bridge/request/audit',
        `{"transaction":1e999,"speaker":"S1","files":["${MEMBER}"]}`,
      );
      const inf = (
        await obs.waitFor(
          (m) =>
            (m.payload as ErrorResponse).transaction === null &&
            /transaction/.test((m.payload as ErrorResponse).error),
          ANSWER_MS,
          'transaction 1e999',
        )
      ).payload as ErrorResponse;
      t.is(inf.code, 'request.invalid');
      t.true(process.memoryUsage().rss - rss0 < 256 * 2 ** 20, 'nothing large was read');
      // Alive: a real audit of the member's utterances in the allowed folder.
      await obs.publish('slmia/bridge/request/audit', {
        transaction: 'ok-after',
        speaker: MEMBER,
        files: [MEMBER],
      });
      const ok = (await obs.response('slmia', 'ok-after')).payload as AuditResponse;
      t.is(ok.status, 'ok', JSON.stringify(ok));
      if (ok.status === 'ok') t.is(ok.data.verdict, c.verdict);
    } finally {
      await obs.close();
      await daemon.stop();
    }
  },
);

pipelineTest(
  'spool attacks: links out, a FIFO marker, a FIFO among the audio, a linked speaker folder, a bad name',
  async (t) => {
    const c = t.context as Ctx;
    const spool = join(c.dir.top, 'spool-attacks');
    const config = daemonConfig(c, { spool: { enabled: true, dir: spool, poll_ms: 100 } });
    const put = (
      name: string,
      files: Record<string, string | 'fifo' | 'member'>,
      ready: string | 'fifo',
    ): void => {
      mkdirSync(join(spool, name), { recursive: true });
      for (const [f, what] of Object.entries(files)) {
        const p = join(spool, name, f);
        if (what === 'fifo') execFileSync('mkfifo', [p]);
        else if (what === 'member') copyFileSync(c.member.train[Number(f.split('.')[0])]?.path as string, p);
        else symlinkSync(what, p);
      }
      if (ready === 'fifo') execFileSync('mkfifo', [join(spool, name, '.ready')]);
      else writeFileSync(join(spool, name, '.ready'), ready);
    };
    const members = Object.fromEntries(c.member.train.map((_, i) => [`${i}.flac`, 'member' as const]));
    put(
      'LINKS',
      { 'a.wav': join(c.dir.outside, 'voice.wav'), 'b.wav': '/dev/zero' },
      '{"transaction":"sp-links"}',
    );
    put('FIFOAUDIO', { ...members, 'pipe.wav': 'fifo' }, '{"transaction":"sp-fifo"}');
    put('FIFOREADY', members, 'fifo');
    symlinkSync(c.dir.outside, join(spool, 'LINKED'));
    writeFileSync(join(c.dir.outside, '.ready'), '{"transaction":"sp-linked"}');
    put('Jörg', members, '{"transaction":"sp-name"}');
    const daemon = await startDaemon(config, { auditor: c.auditor });
    const obs = await Observer.connect(daemon.broker?.url as string, 'slmia/bridge/response/audit');
    try {
      const links = (await obs.response('slmia', 'sp-links', 60_000)).payload as ErrorResponse;
      t.is(links.code, 'audio.not-found', links.error);
      assertClean(t, links.error, c);
      const fifo = (await obs.response('slmia', 'sp-fifo', 120_000)).payload as AuditResponse;
      t.is(fifo.status, 'ok', 'the FIFO is skipped, the real utterances are audited');
      // The FIFO marker carries no transaction: the folder is audited under a generated one, without blocking.
      const auto = await obs.waitFor(
        (m) => String((m.payload as AuditResponse).transaction).startsWith('spool-FIFOREADY-'),
        120_000,
        'FIFOREADY audited',
      );
      t.is((auto.payload as AuditResponse).status, 'ok');
      await new Promise((r) => setTimeout(r, 500));
      t.false(
        obs.messages.some((m) => (m.payload as AuditResponse).transaction === 'sp-linked'),
        'a linked speaker folder is not claimed',
      );
      t.true(statSync(join(c.dir.outside, '.ready')).isFile(), 'nothing outside was moved');
      t.throws(() => statSync(join(spool, 'Jörg')), undefined, 'the badly named folder is gone');
      t.throws(() => statSync(join(spool, '.rejected')), undefined, 'and not kept (retain_audio: false)');
    } finally {
      await obs.close();
      await daemon.stop();
    }
  },
);

pipelineTest(
  'embedded broker with logins: anonymous refused, forging client disconnected, verdicts intact',
  async (t) => {
    const c = t.context as Ctx;
    const daemon = await startDaemon(
      daemonConfig(c, {
        mqtt: { embedded: { port: 0, users: [{ username: 'dash', password: 'dash-secret' }] } },
      }),
      { auditor: c.auditor },
    );
    const url = daemon.broker?.url as string;
    try {
      const anon = await mqtt.connectAsync(url, { reconnectPeriod: 0 }).catch((e: Error) => e);
      t.regex((anon as Error).message, /Not authorized/i);
      const thief = await mqtt
        .connectAsync(url, {
          reconnectPeriod: 0,
          clientId: 'slmia-test-hub',
          username: 'dash',
          password: 'dash-secret',
        })
        .catch((e: Error) => e);
      t.regex((thief as Error).message, /Identifier rejected/i, "the daemon's client id is reserved");
      const dash = await Observer.connect(url, ['slmia/bridge/response/audit', `slmia/${MEMBER}`], {
        username: 'dash',
        password: 'dash-secret',
      });
      await dash.publish('slmia/bridge/request/audit', {
        transaction: 'dash-1',
        speaker: MEMBER,
        files: [MEMBER],
      });
      const r = (await dash.response('slmia', 'dash-1')).payload as AuditResponse;
      t.is(r.status, 'ok');
      const forger = await mqtt.connectAsync(url, {
        reconnectPeriod: 0,
        username: 'dash',
        password: 'dash-secret',
      });
      const closed = new Promise<void>((res) => forger.once('close', () => res()));
      forger.publish(`slmia/${MEMBER}`, '{"verdict":"non-member","probability":0}', { qos: 1, retain: true });
      forger.publish('slmia/bridge/response/audit', '{"status":"ok","transaction":"dash-2"}', { qos: 1 });
      await closed;
      const late = await Observer.connect(url, `slmia/${MEMBER}`, {
        username: 'dash',
        password: 'dash-secret',
      });
      const state = await late.waitFor(() => true, 5000, 'retained verdict');
      t.is((state.payload as { verdict: string }).verdict, c.verdict, 'the retained verdict is the daemon’s');
      t.false(dash.messages.some((m) => (m.payload as AuditResponse).transaction === 'dash-2'));
      await Promise.all([late.close(), dash.close(), forger.endAsync(true)]);
    } finally {
      await daemon.stop();
    }
  },
);

/** mosquitto.conf lines of deploy/mosquitto/slmia.conf with this checkout's ACL (listener/passwords: helper). */
function deployedMosquittoLines(): string[] {
  const conf = readFileSync(join(projectRoot, 'deploy', 'mosquitto', 'slmia.conf'), 'utf8');
  return conf
    .split('\n')
    .filter((l) => l.trim() !== '' && !l.startsWith('#'))
    .filter((l) => !/^(listener|allow_anonymous|password_file)\b/.test(l))
    .map((l) =>
      l.startsWith('acl_file ') ? `acl_file ${join(projectRoot, 'deploy', 'mosquitto', 'acl')}` : l,
    );
}

const mosqTest = withTool(Boolean(mosquittoBin), NO_MOSQUITTO, pipelineTest);

mosqTest(
  'Mosquitto with the shipped password file + ACL: clients request and read, never forge or steal',
  async (t) => {
    const c = t.context as Ctx;
    const extra = deployedMosquittoLines();
    t.true(extra.includes('use_username_as_clientid true'));
    const broker = await Mosquitto.start({
      users: { slmia: 'daemon-secret', dash: 'dash-secret', eve: 'eve-secret' },
      extra,
    });
    const daemon = await startDaemon(
      daemonConfig(c, { mqtt: { url: broker.url, username: 'slmia', password: 'daemon-secret' } }),
      { auditor: c.auditor },
    );
    const v5 = { protocolVersion: 5 as const, reconnectPeriod: 0 };
    try {
      const anon = await mqtt.connectAsync(broker.url, v5).catch((e: Error) => e);
      t.true(anon instanceof Error, 'anonymous refused');
      const dash = await Observer.connect(broker.url, 'slmia/#', {
        ...v5,
        username: 'dash',
        password: 'dash-secret',
      });
      await dash.waitFor((m) => m.topic === 'slmia/bridge/state', 10_000, 'bridge state readable');
      // Forging: MQTT 5 PUBACK "Not authorized" (135) and nothing delivered.
      for (const topic of [
        `slmia/${MEMBER}`,
        'slmia/bridge/state',
        'slmia/bridge/response/audit',
        'homeassistant/sensor/x/config',
      ]) {
        const err = await dash.client.publishAsync(topic, '"FORGED"', { qos: 1, retain: true }).then(
          () => undefined,
          (e: { code?: number; message: string }) => e,
        );
        t.is(err?.code, 135, `${topic}: ${err?.message}`);
      }
      // A client that takes the daemon's client id gets its own user name as client id: the daemon stays on.
      const thief = await mqtt.connectAsync(broker.url, {
        ...v5,
        clientId: 'slmia-test-hub',
        username: 'eve',
        password: 'eve-secret',
      });
      await dash.publish('slmia/bridge/request/audit', {
        transaction: 'mq-1',
        speaker: MEMBER,
        files: [MEMBER],
      });
      const r = (await dash.response('slmia', 'mq-1')).payload as AuditResponse;
      t.is(r.status, 'ok', JSON.stringify(r));
      t.true(daemon.link.connected);
      t.deepEqual(dash.on('slmia/bridge/request/audit'), [], 'requests are not readable by clients');
      t.false(dash.messages.some((m) => m.payload === 'FORGED'));
      await thief.endAsync(true);
      await dash.close();
    } finally {
      await daemon.stop();
      await broker.stop();
    }
  },
);

/** Run the CLI (`tsx src/cli.ts …`) to its end; resolves exit code, stdout, stderr. */
function cli(args: string[], ms = 60_000): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((res) => {
    const p = spawn(process.execPath, ['--import=tsx', join(projectRoot, 'src', 'cli.ts'), ...args], {
      cwd: projectRoot,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    p.stdout.on('data', (b: Buffer) => (out += b.toString()));
    p.stderr.on('data', (b: Buffer) => (err += b.toString()));
    const timer = setTimeout(() => p.kill('SIGKILL'), ms);
    p.on('exit', (code) => {
      clearTimeout(timer);
      res({ code, out, err });
    });
  });
}

test('bad settings exit 2 with one typed line, no stack trace', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'slmia-exit-'));
  writeFileSync(join(dir, 'a-file'), '');
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ mqtt: { url: 'mqtts://h:8883', ca: 'missing-ca.pem' } }, /key "mqtt\.ca": cannot read/],
    [{ mqtt: { url: 'file:///etc/passwd' } }, /key "mqtt\.url": broker URL scheme/],
    [{ mqtt: { url: 'mqtt//nohost' } }, /key "mqtt\.url": not a URL/],
    [{ files: { allowed: ['/srv'] } }, /key "files\.allowed": unknown key/],
    [{ health_interval_s: 3e9 }, /key "health_interval_s"/],
    [{ mqtt: { keepalive: 70000 } }, /key "mqtt\.keepalive"/],
    [{ data_dir: join(dir, 'a-file') }, /data_dir .*a-file: exists and is not a folder/],
    [{ data_dir: '/proc/slmia-nope' }, /data_dir \/proc\/slmia-nope: cannot create the folder/],
  ];
  for (const [settings, want] of cases) {
    const file = join(dir, 'c.yaml');
    writeFileSync(file, stringify({ mqtt: { embedded: { port: 0 } }, ...settings }));
    const r = await cli(['daemon', '-c', file]);
    t.is(r.code, 2, `${JSON.stringify(settings)}: ${r.err}`);
    t.regex(r.err, want);
    t.false(/\n\s+at /.test(r.err), `no stack trace: ${r.err}`);
    t.is(r.err.trim().split('\n').length, 1);
  }
});

pipelineTest(
  'the service process: state 0700/0600 under umask 022, JSON-only log, open bind refused, SIGTERM in seconds',
  async (t) => {
    const c = t.context as Ctx;
    const dir = mkdtempSync(join(tmpdir(), 'slmia-proc-'));
    const data = join(dir, 'state');
    const cfg = {
      data_dir: data,
      model: pipelinePaths.model,
      attack: pipelinePaths.attack,
      device_id: 'proc-hub',
      files: { root: c.dir.audio },
      spool: { enabled: false },
      mqtt: { embedded: { port: 0 } },
    };
    // An open bind without logins is refused (exit 2) before anything listens.
    writeFileSync(
      join(dir, 'open.yaml'),
      stringify({ ...cfg, mqtt: { embedded: { host: '0.0.0.0', port: 0 } } }),
    );
    const open = await cli(['daemon', '-c', join(dir, 'open.yaml')], 120_000);
    t.is(open.code, 2, open.err);
    t.regex(open.err, /beyond this machine, without logins/);
    writeFileSync(join(dir, 'c.yaml'), stringify(cfg));
    const p = spawn(
      'sh',
      [
        '-c',
        `umask 022; exec "${process.execPath}" --import=tsx "${join(projectRoot, 'src', 'cli.ts')}" daemon -c "${join(dir, 'c.yaml')}"`,
      ],
      { cwd: projectRoot, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    let err = '';
    p.stdout.on('data', (b: Buffer) => (out += b.toString()));
    p.stderr.on('data', (b: Buffer) => (err += b.toString()));
    const exited = new Promise<number | null>((r) => p.on('exit', (code) => r(code)));
    try {
      const until = async (re: RegExp, ms: number): Promise<string> => {
        const end = Date.now() + ms;
        while (Date.now() < end) {
          const m = re.exec(out);
          if (m) return m[0];
          await new Promise((r) => setTimeout(r, 100));
        }
        throw new Error(`no ${re} in the log within ${ms} ms:\n${out}\n${err}`);
      };
      const url = JSON.parse(
        await until(/\{[^\n]*"msg":"embedded MQTT broker \(aedes\) listening"[^\n]*\}/, 120_000),
      ).url as string;
      await until(/"msg":"daemon started"/, 120_000);
      t.is(statSync(data).mode & 0o777, 0o700);
      for (const f of ['slmia.db', 'slmia.db-wal']) t.is(statSync(join(data, f)).mode & 0o777, 0o600, f);
      const obs = await Observer.connect(url, 'slmia/bridge/response/audit');
      writeFileSync(
        join(c.dir.audio, 'garbage.flac'),
        Buffer.concat([Buffer.from('fLaC'), Buffer.alloc(4000, 0x5a)]),
      );
      await obs.publish('slmia/bridge/request/audit', {
        transaction: 'p-fifo',
        speaker: 'S1',
        files: ['fifo.wav'],
      });
      await obs.publish('slmia/bridge/request/audit', {
        transaction: 'p-flac',
        speaker: 'S1',
        files: ['garbage.flac'],
      });
      t.is(
        ((await obs.response('slmia', 'p-fifo', ANSWER_MS)).payload as ErrorResponse).code,
        'request.not-a-file',
      );
      t.regex(((await obs.response('slmia', 'p-flac', ANSWER_MS)).payload as ErrorResponse).code, /^audio\./);
      // A request in flight when SIGTERM comes: the service still stops within seconds (systemd allows 30).
      await obs.publish('slmia/bridge/request/audit', {
        transaction: 'p-last',
        speaker: 'S1',
        files: ['fifo.wav'],
      });
      const t0 = Date.now();
      p.kill('SIGTERM');
      const code = await exited;
      t.is(code, 0);
      t.true(Date.now() - t0 < 20_000, `stopped in ${Date.now() - t0} ms`);
      t.log(`SIGTERM with a FIFO request in flight: exited 0 after ${Date.now() - t0} ms`);
      await obs.close();
      const lines = out.split('\n').filter((l) => l !== '');
      t.true(lines.length > 5);
      for (const l of lines) t.notThrows(() => JSON.parse(l), `not JSON: ${l}`);
      t.regex(out, /"msg":"stopped"/);
      t.deepEqual(
        err.split('\n').filter((l) => l !== '' && l !== 'slmia: SIGTERM, stopping'),
        [],
        'nothing else on stderr',
      );
    } finally {
      if (p.exitCode === null) p.kill('SIGKILL');
    }
  },
);

test('library console output (e.g. the FLAC decoder’s console.error) becomes JSON log lines', (t) => {
  const lines: string[] = [];
  const log = pino({ level: 'debug' }, { write: (s: string) => void lines.push(s) });
  const restore = captureConsole(log);
  try {
    console.error('@wasm-audio-decoders/flac: \n\tError: FLAC__STREAM_DECODER_ERROR_STATUS_LOST_SYNC');
    console.log('stray %d', 42);
  } finally {
    restore();
  }
  t.is(lines.length, 2);
  const [err, out] = lines.map((l) => JSON.parse(l) as { level: number; msg: string; source: string });
  t.like(err, {
    level: 40,
    source: 'console',
    msg: '@wasm-audio-decoders/flac: \n\tError: FLAC__STREAM_DECODER_ERROR_STATUS_LOST_SYNC',
  });
  t.like(out, { level: 20, source: 'console', msg: 'stray 42' });
});

pipelineTest(
  'a damaged database: a corrupt row does not stop the daemon; a file that is no database exits 2',
  async (t) => {
    const c = t.context as Ctx;
    const config = daemonConfig(c);
    mkdirSync(config.data_dir, { recursive: true });
    const db = await Db.open(join(config.data_dir, 'slmia.db'));
    await db.run(
      `INSERT INTO audits (transaction_id, source, speaker, status, verdict, probability, threshold, target_fpr, voices,
       queries, model_sha256, attack_id, timings, requested_at, audited_at)
     VALUES ('old', 'mqtt', 'S9', 'ok', 'member', 0.9, 0.5, 0.01, 3, 1, 'x', 'y', '{not json', 'then', 'then')`,
    );
    await db.close();
    const daemon = await startDaemon(config, { auditor: c.auditor });
    try {
      const late = await Observer.connect(daemon.broker?.url as string, 'slmia/S9');
      t.like((await late.waitFor(() => true, 5000, 'restored state')).payload, { verdict: 'member' });
      await late.close();
    } finally {
      await daemon.stop();
    }
    const dir = mkdtempSync(join(tmpdir(), 'slmia-notdb-'));
    writeFileSync(join(dir, 'slmia.db'), Buffer.alloc(8192, 0x42));
    writeFileSync(join(dir, 'c.yaml'), stringify({ data_dir: dir, mqtt: { embedded: { port: 0 } } }));
    const r = await cli(['daemon', '-c', join(dir, 'c.yaml')]);
    t.is(r.code, 2, r.err);
    t.regex(r.err, /slmia\.db/);
    t.false(/\n\s+at /.test(r.err), r.err);
  },
);
