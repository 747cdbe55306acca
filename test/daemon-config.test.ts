/** Daemon settings, the bounded queue and the spool folder (no model needed). */
import test from 'ava';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ConfigError, DEFAULT_ATTACK, DEFAULT_MODEL, loadConfig, parseConfig } from '../src/daemon/config.js';
import { RequestQueue } from '../src/daemon/queue.js';
import { insertAudit } from '../src/store/audits.js';
import { Db } from '../src/store/db.js';
import { answerRequest, insertRequest, pendingCount } from '../src/store/requests.js';
import { SpoolWatcher, type SpoolBatch } from '../src/daemon/spool.js';
import { projectRoot } from '../src/paths.js';

const tmp = (): string => mkdtempSync(join(tmpdir(), 'slmia-cfg-'));

test('defaults: embedded broker on 127.0.0.1:1883, models from models/, base topic slmia, HA off', (t) => {
  const c = parseConfig({}, '<defaults>', projectRoot, {});
  t.is(c.mqtt.url, undefined);
  t.deepEqual(c.mqtt.embedded, { host: '127.0.0.1', port: 1883, users: [] });
  t.is(c.mqtt.base_topic, 'slmia');
  t.is(c.model, resolve(projectRoot, DEFAULT_MODEL));
  t.is(c.attack, resolve(projectRoot, DEFAULT_ATTACK));
  t.is(c.queue.max_pending, 8);
  t.false(c.homeassistant.enabled);
  t.false(c.retain_audio);
  t.is(c.microphone.recorder, 'sox');
});

test('YAML file: relative paths resolve against the file, env overrides the secrets', (t) => {
  const dir = tmp();
  const file = join(dir, 'config.yaml');
  mkdirSync(join(dir, 'certs'));
  writeFileSync(join(dir, 'certs', 'ca.pem'), '');
  writeFileSync(
    file,
    'mqtt:\n  url: mqtts://broker.lan:8883\n  username: hub\n  ca: certs/ca.pem\ndata_dir: state\nmicrophone:\n  recorder: arecord\n',
  );
  const c = loadConfig(file, { SLMIA_MQTT_PASSWORD: 's3cret', SLMIA_MQTT_USERNAME: 'from-env' });
  t.is(c.mqtt.url, 'mqtts://broker.lan:8883');
  t.is(c.mqtt.username, 'from-env');
  t.is(c.mqtt.password, 's3cret');
  t.is(c.mqtt.ca, join(dir, 'certs', 'ca.pem'));
  t.is(c.data_dir, join(dir, 'state'));
  t.is(c.microphone.recorder, 'arecord');
});

test('a wrong type names the key path and what was expected', (t) => {
  const dir = tmp();
  const file = join(dir, 'bad.yaml');
  writeFileSync(file, 'mqtt:\n  embedded:\n    port: "eighteen"\n');
  const err = t.throws(() => loadConfig(file, {}), { instanceOf: ConfigError });
  t.is(err?.key, 'mqtt.embedded.port');
  t.regex(err?.message ?? '', /bad\.yaml: key "mqtt\.embedded\.port": .*number/i);
  const unknown = t.throws(() => parseConfig({ mqtt: {}, spooll: {} }, 'x.yaml', projectRoot, {}), {
    instanceOf: ConfigError,
  });
  t.regex(unknown?.message ?? '', /spooll/);
  const rec = t.throws(
    () => parseConfig({ microphone: { recorder: 'parecord' } }, 'x.yaml', projectRoot, {}),
    { instanceOf: ConfigError },
  );
  t.is(rec?.key, 'microphone.recorder');
  t.throws(() => loadConfig(join(dir, 'missing.yaml'), {}), {
    instanceOf: ConfigError,
    message: /cannot read/,
  });
});

test('YAML warnings are typed errors on one line, and nothing is printed (found by the config fuzz)', async (t) => {
  const dir = tmp();
  const printed: unknown[] = [];
  const onWarning = (w: unknown): number => printed.push(w);
  process.on('warning', onWarning);
  try {
    for (const [text, what] of [
      ['%FOO bar\n---\nlog_level: info\n', /not valid YAML \(.*directive.* at line 1, column 1\)$/],
      ['log_level: !!js/function info\n', /not valid YAML \(.*tag.*\)$/],
      ['? [a, b]\n: 1\n', /unknown key/],
    ] as const) {
      const file = join(dir, `w${printed.length}-${text.length}.yaml`);
      writeFileSync(file, text);
      const err = t.throws(() => loadConfig(file, {}), { instanceOf: ConfigError });
      t.regex(err?.message ?? '', what);
      t.false(err?.message.includes('\n'), err?.message);
    }
    await new Promise((r) => setImmediate(r));
    t.deepEqual(printed, [], 'no process warning (the yaml library would print them on stderr)');
  } finally {
    process.off('warning', onWarning);
  }
});

test('queue: stored requests worked off one at a time in arrival order, bound only on intake, parked on store faults', async (t) => {
  const db = await Db.open(join(tmp(), 'slmia.db'));
  const store = (n: number): Promise<number> =>
    insertRequest(db, {
      key: `tx-${n}`,
      transaction: n,
      source: 'mqtt',
      speaker: 'S',
      input: { kind: 'files', paths: [] },
      receivedAt: new Date(n).toISOString(),
    });
  for (const n of [1, 2, 3]) await store(n);
  const ran: (string | number | null)[] = [];
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let failOn: number | undefined = 2;
  const q = new RequestQueue(db, 2, async (req) => {
    if (req.transaction === 1) await gate;
    ran.push(req.transaction);
    if (req.transaction === failOn) return 'parked';
    const auditId = await insertAudit(db, {
      transaction: req.key,
      source: 'mqtt',
      speaker: 'S',
      requestedAt: req.received_at,
      auditedAt: 'now',
      error: { code: 'x', message: 'y' },
    });
    await answerRequest(db, {
      ...req,
      auditId,
      response: '{}',
      answeredAt: 'now',
      receivedAt: req.received_at,
    });
    return 'answered';
  });
  await q.start();
  t.is(q.depth, 3, 'recovery is not bounded by max_pending (2)');
  while (!q.busy) await new Promise((r) => setTimeout(r, 5));
  t.false(q.canAccept, 'new requests beyond the bound are refused');
  release();
  await q.idle();
  t.deepEqual(ran, [1, 2, 3], 'arrival order; the parked one is skipped, not retried in a loop');
  t.is(q.parkedCount, 1);
  t.is(await pendingCount(db), 1);
  failOn = undefined;
  q.unparkAll();
  await q.idle();
  t.deepEqual(ran, [1, 2, 3, 2]);
  t.is(await pendingCount(db), 0);
  t.is(q.depth, 0);
  await q.close();
  await db.close();
});

test('spool: only folders with .ready are claimed, atomically, with the marker transaction; bad names rejected', async (t) => {
  const dir = tmp();
  const mk = (name: string, ready: string | undefined): void => {
    mkdirSync(join(dir, name));
    writeFileSync(join(dir, name, 'a.wav'), 'x');
    if (ready !== undefined) writeFileSync(join(dir, name, '.ready'), ready);
  };
  mk('SPEAKER0001', '{"transaction":"tx-42"}');
  mk('SPEAKER0002', undefined); // still being written
  mk('SPEAKER0003', '');
  mk('bridge', '');
  const batches: SpoolBatch[] = [];
  const rejected: string[] = [];
  const w = new SpoolWatcher({
    dir,
    pollMs: 60_000,
    canAccept: () => batches.length < 1,
    onBatch: (b) => batches.push(b),
    onReject: (n, _why, tx) => rejected.push(`${n}:${tx.replace(/-\d+$/, '')}`),
  });
  t.deepEqual(await w.start(), []);
  await w.scan();
  t.deepEqual(
    batches.map((b) => [b.speaker, b.transaction]),
    [['SPEAKER0001', 'tx-42']],
  );
  t.false(existsSync(join(dir, 'SPEAKER0001')));
  t.true(existsSync(join(dir, '.processing', 'SPEAKER0001@tx-42', 'a.wav')));
  t.true(existsSync(join(dir, 'SPEAKER0003')), 'not claimed while the queue is full');
  t.deepEqual(rejected, ['bridge:spool-rejected-bridge']);
  t.false(existsSync(join(dir, 'bridge')));
  t.false(existsSync(join(dir, '.rejected')), 'rejected audio deleted (retain_audio false)');
  t.deepEqual(readdirSync(join(dir, '.processing', 'SPEAKER0001@tx-42')), ['.ready', 'a.wav']);
  await w.stop();
  // A restart recovers the claimed-but-unfinished folder.
  const w2 = new SpoolWatcher({ dir, pollMs: 60_000, canAccept: () => false, onBatch: () => undefined });
  const recovered = await w2.start();
  t.deepEqual(
    recovered.map((b) => [b.speaker, b.transaction]),
    [['SPEAKER0001', 'tx-42']],
  );
  await w2.finish(recovered[0] as SpoolBatch, false);
  t.deepEqual(readdirSync(join(dir, '.processing')), []);
  t.false(existsSync(join(dir, '.done')), 'audio deleted after the audit by default');
  // retain_audio: the claimed folder is kept under .done/ instead.
  const w3 = new SpoolWatcher({
    dir,
    pollMs: 60_000,
    canAccept: () => true,
    onBatch: (b) => batches.push(b),
  });
  await w3.start();
  await w3.scan();
  const third = batches.at(-1) as SpoolBatch;
  t.is(third.speaker, 'SPEAKER0003');
  await w3.finish(third, true);
  t.true(existsSync(join(dir, '.done', `SPEAKER0003@${third.transaction}`, 'a.wav')));
  await w2.stop();
  await w3.stop();
});

/**
 * Start a spool watcher on a new folder, then write `<speaker>/a.wav` and its `.ready` marker as a producer
 * would; resolves with the first batch handed over (undefined after 10 s) and the folder.
 */
async function spoolOnce(
  o: { pollMs: number; watch?: boolean },
  speaker: string,
  marker: string,
): Promise<{ dir: string; batch: SpoolBatch | undefined }> {
  const dir = tmp();
  let onBatch!: (b: SpoolBatch) => void;
  const got = new Promise<SpoolBatch | undefined>((res) => {
    const timer = setTimeout(() => res(undefined), 10_000);
    onBatch = (b) => {
      clearTimeout(timer);
      res(b);
    };
  });
  const w = new SpoolWatcher({ dir, ...o, canAccept: () => true, onBatch });
  await w.start();
  mkdirSync(join(dir, speaker));
  writeFileSync(join(dir, speaker, 'a.wav'), 'x');
  writeFileSync(join(dir, speaker, '.ready'), marker);
  const batch = await got;
  await w.stop();
  return { dir, batch };
}

test('spool: a .ready marker is claimed through file-system events, long before the next scan', async (t) => {
  const { dir, batch } = await spoolOnce({ pollMs: 600_000 }, 'SPEAKER0007', '{"transaction":"ev-1"}');
  t.deepEqual([batch?.speaker, batch?.transaction], ['SPEAKER0007', 'ev-1']);
  t.true(existsSync(join(dir, '.processing', 'SPEAKER0007@ev-1', 'a.wav')));
});

test('spool: with watch off (file systems without events) the periodic scan claims the folder', async (t) => {
  const { batch } = await spoolOnce({ pollMs: 100, watch: false }, 'SPEAKER0008', '');
  t.is(batch?.speaker, 'SPEAKER0008');
});

test('strict at every level: a misspelled nested key is an error naming its full key path', (t) => {
  for (const [raw, key] of [
    [{ files: { allowed: ['/srv/audio'] } }, 'files.allowed'],
    [{ mqtt: { embedded: { hots: '0.0.0.0' } } }, 'mqtt.embedded.hots'],
    [
      { mqtt: { embedded: { users: [{ username: 'a', password: 'longenough', role: 'x' }] } } },
      'mqtt.embedded.users.0.role',
    ],
    [{ spool: { enable: false } }, 'spool.enable'],
    [{ queue: { max: 3 } }, 'queue.max'],
    [{ microphone: { rate: 8000 } }, 'microphone.rate'],
    [{ homeassistant: { prefix: 'ha' } }, 'homeassistant.prefix'],
  ] as const) {
    const err = t.throws(() => parseConfig(raw, 'c.yaml', projectRoot, {}), { instanceOf: ConfigError });
    t.is(err?.key, key);
    t.is(err?.message, `c.yaml: key "${key}": unknown key (misspelled?); see config.example.yaml`);
  }
});

test('bounds: timers fit a Node timer (2^31-1 ms), keepalive fits MQTT (65535 s), broker URLs are mqtt/mqtts/ws/wss', (t) => {
  const bad = (raw: Record<string, unknown>, key: string, message: RegExp): void => {
    const err = t.throws(() => parseConfig(raw, 'c.yaml', projectRoot, {}), { instanceOf: ConfigError });
    t.is(err?.key, key, JSON.stringify(raw));
    t.regex(err?.message ?? '', message);
  };
  bad({ health_interval_s: 2 ** 31 / 1000 }, 'health_interval_s', /2147483\.647/);
  bad({ spool: { poll_ms: 2 ** 31 } }, 'spool.poll_ms', /2147483647/);
  bad({ mqtt: { reconnect_period_ms: 2 ** 32 } }, 'mqtt.reconnect_period_ms', /2147483647/);
  bad({ files: { read_timeout_ms: 1e10 } }, 'files.read_timeout_ms', /2147483647/);
  bad({ mqtt: { keepalive: 65536 } }, 'mqtt.keepalive', /65535/);
  bad({ mqtt: { url: 'file:///etc/passwd' } }, 'mqtt.url', /scheme must be mqtt/);
  bad({ mqtt: { url: 'http://broker:1883' } }, 'mqtt.url', /scheme must be mqtt/);
  bad({ mqtt: { url: 'not a url' } }, 'mqtt.url', /not a URL/);
  bad({ mqtt: { url: 'mqtt://' } }, 'mqtt.url', /not a URL|no host/);
  bad({ queue: { max_pending: 1e9 } }, 'queue.max_pending', /10000/);
  bad({ files: { root: '/' } }, 'files.root', /filesystem root/);
  bad({ files: { allowed_dirs: ['/srv', '/'] } }, 'files.allowed_dirs.1', /filesystem root/);
  bad(
    { mqtt: { embedded: { users: [{ username: 'u', password: 'short' }] } } },
    'mqtt.embedded.users.0.password',
    /8/,
  );
  // The environment is validated like the file.
  const err = t.throws(() => parseConfig({}, 'c.yaml', projectRoot, { SLMIA_MQTT_URL: 'file:///x' }), {
    instanceOf: ConfigError,
  });
  t.is(err?.key, 'mqtt.url');
  for (const url of ['mqtt://h:1883', 'mqtts://h', 'ws://h/mqtt', 'wss://h:443/mqtt'])
    t.is(parseConfig({ mqtt: { url } }, 'c.yaml', projectRoot, {}).mqtt.url, url);
  const max = parseConfig(
    { health_interval_s: 2147483.647, mqtt: { keepalive: 65535 } },
    'c.yaml',
    projectRoot,
    {},
  );
  t.is(max.mqtt.keepalive, 65535);
});

test('key material must be readable at load time (typed error naming the key, not a stack trace at connect)', (t) => {
  const dir = tmp();
  writeFileSync(join(dir, 'cert.pem'), '');
  for (const [mqtt, key] of [
    [{ url: 'mqtts://h', ca: 'missing-ca.pem' }, 'mqtt.ca'],
    [{ url: 'mqtts://h', cert: 'cert.pem', key: 'missing.key' }, 'mqtt.key'],
    [{ url: 'mqtts://h', cert: 'cert.pem' }, 'mqtt.key'],
    [{ embedded: { password_file: 'missing-passwd' } }, 'mqtt.embedded.password_file'],
  ] as const) {
    const err = t.throws(() => parseConfig({ mqtt }, 'c.yaml', dir, {}), { instanceOf: ConfigError });
    t.is(err?.key, key);
    t.false((err?.message ?? '').includes('\n    at '), 'no stack');
  }
  t.regex(
    t.throws(() => parseConfig({ mqtt: { url: 'mqtts://h', ca: 'missing-ca.pem' } }, 'c.yaml', dir, {}))
      ?.message ?? '',
    /key "mqtt\.ca": cannot read .*missing-ca\.pem \(ENOENT\)/,
  );
});
