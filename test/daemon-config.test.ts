/** Daemon settings, the bounded queue and the spool folder (no model needed). */
import test from 'ava';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ConfigError, DEFAULT_ATTACK, DEFAULT_MODEL, loadConfig, parseConfig } from '../src/daemon/config.js';
import { AuditQueue, BusyError, StoppingError } from '../src/daemon/queue.js';
import { SpoolWatcher, type SpoolBatch } from '../src/daemon/spool.js';
import { projectRoot } from '../src/paths.js';

const tmp = (): string => mkdtempSync(join(tmpdir(), 'slmia-cfg-'));

test('defaults: embedded broker on 127.0.0.1:1883, models from models/, base topic slmia, HA off', (t) => {
  const c = parseConfig({}, '<defaults>', projectRoot, {});
  t.is(c.mqtt.url, undefined);
  t.deepEqual(c.mqtt.embedded, { host: '127.0.0.1', port: 1883 });
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

test('queue: one job at a time, bounded waiting list, busy error, close returns unstarted jobs', async (t) => {
  const ran: number[] = [];
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const q = new AuditQueue<number>(2, async (n) => {
    if (n === 1) await gate;
    ran.push(n);
  });
  q.push(1);
  q.push(2);
  q.push(3);
  t.is(q.depth, 2);
  t.true(q.busy);
  t.false(q.canAccept);
  const busy = t.throws(() => q.push(4), { instanceOf: BusyError });
  t.is(busy?.code, 'busy');
  release();
  await q.idle();
  t.deepEqual(ran, [1, 2, 3]);
  q.push(5);
  q.push(6);
  const left = await q.close();
  t.deepEqual(ran, [1, 2, 3, 5]);
  t.deepEqual(left, [6]);
  t.throws(() => q.push(7), { instanceOf: StoppingError });
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
    onReject: (n) => rejected.push(n),
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
  t.deepEqual(rejected, ['bridge']);
  t.deepEqual(await SpoolWatcher.files(batches[0] as SpoolBatch), [
    join(dir, '.processing', 'SPEAKER0001@tx-42', 'a.wav'),
  ]);
  w.stop();
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
  w2.stop();
  w3.stop();
});
