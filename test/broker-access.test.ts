/**
 * Who may do what on the embedded broker (src/publish/embedded-broker.ts + broker-acl.ts), with real aedes and
 * real mqtt.js clients: anonymous and logged-in clients may publish requests only; forged verdicts, bridge
 * state, responses, discovery, wills and retained requests are refused (the client is disconnected, nobody
 * receives the message, retained state is unchanged); nobody takes the daemon's client id; open binds need
 * logins. Each refusal comes within 2 s.
 */
import test from 'ava';
import { createHash, pbkdf2Sync, randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { BrokerAccessError, readPasswordFile } from '../src/publish/broker-acl.js';
import {
  BrokerError,
  isLoopback,
  startEmbeddedBroker,
  type EmbeddedBroker,
} from '../src/publish/embedded-broker.js';
import { hasTool, withTool } from './helpers/tools.js';
import { Observer } from './helpers/mqtt-observer.js';

const DAEMON_ID = 'slmia-hub';

function start(over: Partial<Parameters<typeof startEmbeddedBroker>[0]> = {}): Promise<EmbeddedBroker> {
  return startEmbeddedBroker({
    host: '127.0.0.1',
    port: 0,
    base: 'slmia',
    discoveryPrefix: 'homeassistant',
    clientId: DAEMON_ID,
    ...over,
  });
}

/** The daemon's connection (its login and client id). */
function daemonClient(b: EmbeddedBroker, filter: string | string[] = 'slmia/#'): Promise<Observer> {
  return Observer.connect(b.url, filter, { clientId: DAEMON_ID, ...b.login });
}

/** Connect without reconnects; resolves with the client or the CONNACK error. */
async function tryConnect(url: string, opts: IClientOptions = {}): Promise<MqttClient | Error> {
  return mqtt.connectAsync(url, { reconnectPeriod: 0, connectTimeout: 2000, ...opts }).catch((e: Error) => e);
}

/** Publish as `c` and resolve how the broker answered: `closed` (refused) or `acked`, within 2 s. */
function publishOutcome(c: MqttClient, topic: string, payload: string, retain = false): Promise<string> {
  return new Promise((res) => {
    const timer = setTimeout(() => res('no answer within 2 s'), 2000);
    c.once('close', () => {
      clearTimeout(timer);
      res('closed');
    });
    c.publish(topic, payload, { qos: 1, retain }, (err) => {
      if (!err) {
        clearTimeout(timer);
        res('acked');
      }
    });
  });
}

const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** `$7$` (PBKDF2-SHA512) and `$6$` (SHA512) lines as mosquitto_passwd writes them. */
function passwdLine(user: string, password: string, kind: 6 | 7): string {
  const salt = randomBytes(12);
  if (kind === 6)
    return `${user}:$6$${salt.toString('base64')}$${createHash('sha512').update(password).update(salt).digest('base64')}`;
  return `${user}:$7$101$${salt.toString('base64')}$${pbkdf2Sync(password, salt, 101, 64, 'sha512').toString('base64')}`;
}

test('loopback without logins: anonymous clients may publish requests, which only the daemon receives', async (t) => {
  const b = await start();
  const daemon = await daemonClient(b);
  const reader = await Observer.connect(b.url, ['slmia/#', 'homeassistant/#']);
  const client = await mqtt.connectAsync(b.url, { reconnectPeriod: 0 });
  try {
    t.is(
      await publishOutcome(client, 'slmia/bridge/request/audit', '{"speaker":"S1","files":["a.wav"]}'),
      'acked',
    );
    await daemon.waitFor((m) => m.topic === 'slmia/bridge/request/audit', 2000, 'request at the daemon');
    await daemon.publish('slmia/S1', { verdict: 'non-member' });
    await reader.waitFor((m) => m.topic === 'slmia/S1', 2000, 'verdict at the reader');
    t.deepEqual(reader.on('slmia/bridge/request/audit'), [], "a client never sees other clients' requests");
  } finally {
    await Promise.all([daemon.close(), reader.close(), client.endAsync()]);
    await b.close();
  }
});

test('forging clients: verdicts, bridge state, responses, discovery and retained requests are refused', async (t) => {
  const b = await start();
  const daemon = await daemonClient(b, ['slmia/#', 'homeassistant/#']);
  try {
    await daemon.client.publishAsync('slmia/S1', JSON.stringify({ verdict: 'non-member' }), {
      qos: 1,
      retain: true,
    });
    for (const [topic, retain] of [
      ['slmia/S1', true],
      ['slmia/bridge/state', true],
      ['slmia/bridge/response/audit', false],
      ['slmia/bridge/info', true],
      ['slmia/bridge/health', false],
      ['homeassistant/sensor/slmia_hub/speaker_S1/config', true],
      ['slmia/bridge/request/audit', true], // a retained request would be audited at every reconnect
      ['other/topic', false],
    ] as const) {
      const forger = await mqtt.connectAsync(b.url, { reconnectPeriod: 0 });
      const t0 = performance.now();
      t.is(await publishOutcome(forger, topic, '"FORGED"', retain), 'closed', topic);
      t.true(performance.now() - t0 < 2000);
      await forger.endAsync(true);
    }
    await pause(200);
    t.false(
      daemon.messages.some((m) => m.payload === 'FORGED'),
      'no forged message reached anybody',
    );
    const late = await Observer.connect(b.url, 'slmia/S1');
    const state = await late.waitFor(() => true, 2000, 'retained state');
    t.deepEqual(state.payload, { verdict: 'non-member' }, 'the retained verdict is the daemon’s');
    await late.close();
  } finally {
    await daemon.close();
    await b.close();
  }
});

test('a forged Last Will is not published; subscriptions outside the daemon topics are refused', async (t) => {
  const b = await start();
  const daemon = await daemonClient(b);
  try {
    const willer = await mqtt.connectAsync(b.url, {
      reconnectPeriod: 0,
      will: {
        topic: 'slmia/bridge/state',
        payload: Buffer.from('{"state":"offline"}'),
        qos: 1,
        retain: true,
      },
    });
    (willer.stream as unknown as { destroy: () => void }).destroy(); // unclean: the will would fire
    await pause(300);
    t.deepEqual(daemon.on('slmia/bridge/state'), []);
    const c = await mqtt.connectAsync(b.url, { reconnectPeriod: 0 });
    // mqtt.js rejects a SUBACK with any failure; the packet says which ones were refused.
    const suback = await c
      .subscribeAsync(['#', '$SYS/#', '+/bridge/state', 'slmia/#', 'homeassistant/#'], { qos: 1 })
      .then(
        () => undefined,
        (e: { packet?: { granted: number[] } }) => e.packet,
      );
    t.deepEqual(suback?.granted, [128, 128, 128, 1, 1]);
    await c.endAsync();
  } finally {
    await daemon.close();
    await b.close();
  }
});

test("nobody takes over the daemon's client id; a wrong daemon password is refused", async (t) => {
  const b = await start();
  const daemon = await daemonClient(b);
  try {
    const thief = await tryConnect(b.url, { clientId: DAEMON_ID });
    t.true(thief instanceof Error);
    t.regex((thief as Error).message, /Identifier rejected/i);
    const fake = await tryConnect(b.url, { username: b.login.username, password: 'guess' });
    t.regex((fake as Error).message, /Bad username or password/i);
    t.true(daemon.client.connected, 'the daemon keeps its session');
  } finally {
    await daemon.close();
    await b.close();
  }
});

test('with logins (settings and a Mosquitto password file): anonymous and wrong passwords are refused', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'slmia-acl-'));
  const file = join(dir, 'passwd');
  writeFileSync(
    file,
    `# clients\n${passwdLine('ha', 'ha-secret-1', 7)}\n${passwdLine('old', 'old-secret-1', 6)}\n`,
  );
  const b = await start({ users: [{ username: 'dash', password: 'dash-secret' }], passwordFile: file });
  try {
    for (const [opts, want] of [
      [{}, /Not authorized/i],
      [{ username: 'dash', password: 'wrong-one' }, /Bad username or password/i],
      [{ username: 'nobody', password: 'dash-secret' }, /Bad username or password/i],
      [{ username: 'ha', password: 'old-secret-1' }, /Bad username or password/i],
    ] as const) {
      const t0 = performance.now();
      const r = await tryConnect(b.url, opts);
      t.true(r instanceof Error, JSON.stringify(opts));
      t.regex((r as Error).message, want);
      t.true(performance.now() - t0 < 2000);
    }
    for (const [username, password] of [
      ['dash', 'dash-secret'],
      ['ha', 'ha-secret-1'],
      ['old', 'old-secret-1'],
    ]) {
      const c = await tryConnect(b.url, { username, password });
      t.false(c instanceof Error, username);
      // A logged-in client is still only a client.
      t.is(await publishOutcome(c as MqttClient, 'slmia/S1', '"FORGED"', true), 'closed');
    }
  } finally {
    await b.close();
  }
});

test('beyond loopback (0.0.0.0, "", ::) the broker refuses to start without logins, and warns with them', async (t) => {
  for (const host of ['0.0.0.0', '', '::', '192.0.2.1']) {
    const err = await t.throwsAsync(start({ host }), { instanceOf: BrokerError });
    t.regex(err?.message ?? '', /beyond this machine, without logins: set mqtt\.embedded\.users/);
  }
  const warnings: string[] = [];
  const b = await start({
    host: '0.0.0.0',
    users: [{ username: 'dash', password: 'dash-secret' }],
    warn: (m) => warnings.push(m),
  });
  try {
    t.is(b.url, `mqtt://127.0.0.1:${b.port}`);
    t.is(warnings.length, 1);
    t.regex(warnings[0] as string, /listens on 0\.0\.0\.0 \(beyond loopback\).*anonymous clients refused/);
    t.regex(((await tryConnect(b.url)) as Error).message, /Not authorized/i);
  } finally {
    await b.close();
  }
  t.true(isLoopback('127.0.0.1') && isLoopback('127.1.2.3') && isLoopback('::1') && isLoopback('localhost'));
  t.false(isLoopback('0.0.0.0') || isLoopback('') || isLoopback('::') || isLoopback('10.0.0.1'));
  await t.throwsAsync(start({ users: [{ username: 'slmia', password: 'same-as-daemon' }] }), {
    instanceOf: BrokerError,
    message: /daemon's own user name/,
  });
});

test('a malformed password file is a typed error naming the file and line', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'slmia-acl-'));
  const file = join(dir, 'passwd');
  writeFileSync(file, `${passwdLine('a', 'secret-a', 7)}\nb:plaintext\n`);
  const err = t.throws(() => readPasswordFile(file), { instanceOf: BrokerAccessError });
  t.is(err?.message, `${file}: line 2: expected "user:$7$…" or "user:$6$…" (mosquitto_passwd output)`);
});

withTool(
  hasTool('mosquitto_passwd', ['-h']),
  'mosquitto_passwd not installed (apt-get install mosquitto)',
  test,
)(
  'password files written by mosquitto_passwd ($7$ default and -H sha512) log in on the embedded broker',
  async (t) => {
    const { spawnSync } = await import('node:child_process');
    const dir = mkdtempSync(join(tmpdir(), 'slmia-acl-'));
    const file = join(dir, 'passwd');
    spawnSync('mosquitto_passwd', ['-c', '-b', file, 'ha', 'ha-secret-1']);
    spawnSync('mosquitto_passwd', ['-H', 'sha512', '-b', file, 'old', 'old-secret-1']);
    const users = readPasswordFile(file);
    t.deepEqual([...users.keys()], ['ha', 'old']);
    t.true(users.get('ha')?.(Buffer.from('ha-secret-1')));
    t.false(users.get('ha')?.(Buffer.from('ha-secret-2')));
    t.true(users.get('old')?.(Buffer.from('old-secret-1')));
  },
);
