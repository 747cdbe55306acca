/**
 * The fleet service against a real Mosquitto: hubs found from their retained messages, verdict history
 * (including `inconclusive` with `p_value` and `reason`), health samples, Last Will → offline with the time,
 * catch-up after a restart, no voice data in the store, audit requests from the API, live fragments over SSE,
 * Prometheus metrics, retention, and auth. Hubs here are MQTT clients publishing the contract's messages; the
 * real daemons are in fleet-e2e.test.ts.
 */
import test from 'ava';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../src/daemon/config.js';
import { parseFleetConfig } from '../src/fleet/config.js';
import { parseHubTopic } from '../src/fleet/payloads.js';
import { Fleet } from '../src/fleet/fleet.js';
import { FleetStore } from '../src/fleet/store.js';
import { pValue } from '../src/fleet/web/pages.js';
import { projectRoot } from '../src/paths.js';
import {
  connectHub,
  fleetTestConfig,
  hubHealth,
  hubInfo,
  pub,
  startTestFleet,
  until,
} from './helpers/fleet.js';
import { Mosquitto, mosquittoBin, NO_MOSQUITTO } from './helpers/mosquitto.js';
import { Observer } from './helpers/mqtt-observer.js';
import { withTool } from './helpers/tools.js';

const brokerTest = withTool(Boolean(mosquittoBin), NO_MOSQUITTO, test.serial);

let broker: Mosquitto | undefined;
test.before(async () => {
  if (mosquittoBin) broker = await Mosquitto.start();
});
test.after.always(async () => {
  await broker?.stop();
});
const url = (): string => (broker as Mosquitto).url;

const api = (base: string): string => `/api/hubs/${encodeURIComponent(base)}`;

test('topic parser: bridge topics and speaker states under any base topic', (t) => {
  t.deepEqual(parseHubTopic('slmia/bridge/state'), { base: 'slmia', kind: 'state' });
  t.deepEqual(parseHubTopic('site/3/slmia/bridge/response/audit'), {
    base: 'site/3/slmia',
    kind: 'response',
  });
  t.deepEqual(parseHubTopic('slmia/hub-a/SPEAKER0042'), {
    base: 'slmia/hub-a',
    kind: 'speaker',
    speaker: 'SPEAKER0042',
  });
  t.is(parseHubTopic('slmia/bridge'), undefined);
  t.is(parseHubTopic('SPEAKER0042'), undefined);
  t.is(parseHubTopic('slmia/bad speaker'), undefined);
});

test('p-values print as the CLI prints them: 3 significant digits, never a rounded 0', (t) => {
  t.deepEqual([0.2, 0.0074, 3.2e-5, 3e-7, 1, null, undefined, Number.NaN].map(pValue), [
    '0.200',
    '0.00740',
    '0.0000320',
    '< 1e-6',
    '1.00',
    '—',
    '—',
    '—',
  ]);
});

test('config: non-loopback binds need a token or a password; errors name the key', (t) => {
  const e = t.throws(() => parseFleetConfig({ http: { host: '0.0.0.0' } }, 'fleet.yaml', projectRoot, {}));
  t.true(e instanceof ConfigError);
  t.regex(
    e?.message ?? '',
    /fleet\.yaml: key "http\.host": binding 0\.0\.0\.0 \(not loopback\) needs http\.token/,
  );
  t.notThrows(() =>
    parseFleetConfig({ http: { host: '0.0.0.0' } }, 'fleet.yaml', projectRoot, {
      SLMIA_FLEET_TOKEN: 'a-long-enough-token',
    }),
  );
  t.throws(() => parseFleetConfig({ mqtt: { topics: ['a/#/b'] } }, 'f', projectRoot, {}), {
    message: /key "mqtt\.topics\.0": "#" only as the last level/,
  });
  t.throws(() => parseFleetConfig({ http: { prot: 1 } }, 'f', projectRoot, {}), { message: /key "http"/ });
});

brokerTest('hubs, verdicts and health: store, overview, hub page and /metrics', async (t) => {
  const base = 't1/hub-a';
  const hub = await connectHub(url(), base);
  // Retained before the fleet starts: it must catch up from them.
  await pub(hub, `${base}/bridge/state`, { state: 'online' }, true);
  await pub(hub, `${base}/bridge/info`, hubInfo('hub-a', base), true);
  await pub(
    hub,
    `${base}/SPEAKER0111`,
    {
      verdict: 'member',
      probability: 0.93,
      threshold: 0.71,
      target_fpr: 0.01,
      voices: 10,
      queries: 1,
      model_sha256: 'm',
      attack_id: 'a',
      audited_at: '2026-01-01T10:00:00.000Z',
    },
    true,
  );
  const fleet = await startTestFleet(url());
  try {
    await until(() => fleet.fleet.hubs.get(base)?.speakers === 1, 10_000, 'retained state');
    // Live: health, then an audit with progress events and an inconclusive response.
    await pub(hub, `${base}/bridge/health`, {
      ...hubHealth({ last_audit: null }),
      status: 'degraded',
      problems: [{ code: 'store.full', message: 'disk full', since: '2026-01-01T10:30:00.000Z' }],
      pending_requests: 3,
    });
    const ev = (type: string, at: string) => ({
      type,
      transaction: 'tx-9',
      speaker: 'SPEAKER0006',
      source: 'mqtt',
      at,
    });
    await pub(hub, `${base}/bridge/event`, ev('queued', '2026-01-01T11:00:00.000Z'));
    await pub(hub, `${base}/bridge/event`, ev('scoring', '2026-01-01T11:00:01.000Z'));
    await pub(hub, `${base}/bridge/event`, ev('done', '2026-01-01T11:00:02.500Z'));
    const verdict = {
      verdict: 'inconclusive',
      probability: 0.55,
      threshold: 0.71,
      target_fpr: 0.01,
      p_value: 0.2,
      reason: 'reference-member-like',
      voices: 3,
      queries: 1,
      model_sha256: 'm',
      attack_id: 'a',
      audited_at: '2026-01-01T11:00:02.400Z',
    };
    await pub(hub, `${base}/bridge/response/audit`, {
      status: 'ok',
      data: { speaker: 'SPEAKER0006', ...verdict },
      transaction: 'tx-9',
    });
    await pub(hub, `${base}/SPEAKER0006`, verdict, true);
    await pub(hub, `${base}/bridge/response/audit`, {
      status: 'error',
      error: 'x.wav: file is empty (0 bytes)',
      code: 'audio.empty',
      transaction: 'tx-10',
    });
    await until(
      async () => (await fleet.store.audit(base, 'tx-10'))?.status === 'error',
      10_000,
      'error response',
    );

    // Store: one row per verdict (response + retained state of the same audit are one), audits tracked.
    const counts = await fleet.store.counts();
    t.like(counts, { hubs: 1, verdicts: 2, health: 1, audits: 2 });
    const speakers = await fleet.store.speakers(base);
    t.deepEqual(
      speakers.map((s) => [s.speaker, s.verdict, s.probability, s.p_value, s.transaction_id]),
      [
        ['SPEAKER0006', 'inconclusive', 0.55, 0.2, 'tx-9'],
        ['SPEAKER0111', 'member', 0.93, null, null],
      ],
    );
    t.like(await fleet.store.audit(base, 'tx-9'), {
      status: 'ok',
      stage: 'answered',
      verdict: 'inconclusive',
      p_value: 0.2,
      queued_at: '2026-01-01T11:00:00.000Z',
      done_at: '2026-01-01T11:00:02.500Z',
    });
    t.like(await fleet.store.audit(base, 'tx-10'), { status: 'error', error_code: 'audio.empty' });

    // Overview and hub page (server-rendered).
    const overview = await (await fetch(`${fleet.url}/`)).text();
    t.regex(overview, /1 hub: <strong>1 online<\/strong>/);
    t.regex(overview, /<a href="\/hubs\/t1%2Fhub-a">hub-a<\/a>/);
    t.regex(overview, /<code title="2462b48f[0-9a-f]+">2462b48fc6c4<\/code>/);
    t.regex(overview, /<td data-label="RSS" class="n">123 MB<\/td>/);
    t.regex(overview, /<td data-label="Uptime" class="n">60 min<\/td>/);
    t.regex(
      overview,
      /<span class="state state-degraded">degraded<\/span> <small class="error">store\.full<\/small>/,
    );
    const page = await (await fetch(`${fleet.url}/hubs/${encodeURIComponent(base)}`)).text();
    t.regex(
      page,
      /<span class="verdict verdict-inconclusive">inconclusive<\/span><br><small>reference-member-like/,
    );
    t.regex(page, /data-label="p-value" class="n">0\.200</);
    t.regex(page, /<span class="verdict verdict-member">member<\/span>/);
    t.regex(
      page,
      /<a href="\/reports\/tdnn-ce">tdnn-ce<\/a>/,
      'evaluation report of the bundle the hub runs',
    );
    t.regex(page, /<span class="error">audio\.empty<\/span>/);
    t.regex(page, /<dt>Problems<\/dt><dd><code>store\.full<\/code> disk full <small>since <time/);
    t.regex(page, /<dt>Pending requests<\/dt><dd>3<\/dd>/);
    const history = JSON.parse(
      /<script type="application\/json" id="history-data">(.*?)<\/script>/s.exec(page)?.[1] ?? '{}',
    );
    t.deepEqual(history.SPEAKER0111, {
      t: [Date.parse('2026-01-01T10:00:00Z') / 1000],
      p: [0.93],
      inc: [null],
      thr: [0.71],
    });
    // An inconclusive audit is its own series (no line through it), with its own threshold.
    t.deepEqual(history.SPEAKER0006, {
      t: [Date.parse('2026-01-01T11:00:02.400Z') / 1000],
      p: [null],
      inc: [0.55],
      thr: [0.71],
    });
    const report = await (await fetch(`${fleet.url}/reports/tdnn-ce`)).text();
    t.regex(report, /<img src="\/reports\/tdnn-ce\/roc\.svg"/);
    t.is((await fetch(`${fleet.url}/reports/tdnn-ce/roc.svg`)).headers.get('content-type'), 'image/svg+xml');

    // Metrics: bounded labels only (hub, verdict), never speaker ids.
    const metrics = await (await fetch(`${fleet.url}/metrics`)).text();
    t.regex(metrics, /^slmia_fleet_audits_total\{hub="t1\/hub-a",verdict="inconclusive"\} 1$/m);
    t.regex(metrics, /^slmia_fleet_audits_total\{hub="t1\/hub-a",verdict="error"\} 1$/m);
    t.regex(metrics, /^slmia_fleet_hub_up\{hub="t1\/hub-a"\} 1$/m);
    t.regex(metrics, /^slmia_fleet_hub_queue_requests\{hub="t1\/hub-a"\} 2$/m);
    t.regex(metrics, /^slmia_fleet_hub_outbox_messages\{hub="t1\/hub-a"\} 1$/m);
    t.regex(metrics, /^slmia_fleet_hubs\{state="online"\} 1$/m);
    t.regex(metrics, /^slmia_fleet_hub_degraded\{hub="t1\/hub-a"\} 1$/m);
    t.regex(metrics, /^slmia_fleet_audit_duration_seconds_count 1$/m);
    t.regex(metrics, /^slmia_fleet_audit_duration_seconds_sum 2\.5$/m);
    t.regex(metrics, /^slmia_fleet_process_resident_memory_bytes \d+/m);
    t.notRegex(metrics, /SPEAKER/);
  } finally {
    await fleet.stop();
    await hub.endAsync(true);
  }
});

brokerTest('Last Will: offline with the time; a restarted fleet keeps it and catches up', async (t) => {
  const base = 't1/hub-b';
  const hub = await connectHub(url(), base);
  await pub(hub, `${base}/bridge/state`, { state: 'online' }, true);
  await pub(hub, `${base}/bridge/info`, hubInfo('hub-b', base), true);
  const cfg = fleetTestConfig(url());
  let fleet = await startTestFleet(url(), { data_dir: cfg.data_dir });
  try {
    await until(() => fleet.fleet.hubs.get(base)?.state === 'online', 10_000, 'online');
    const before = Date.now();
    hub.stream.destroy(); // no DISCONNECT: the broker publishes the Last Will
    await until(() => fleet.fleet.hubs.get(base)?.state === 'offline', 30_000, 'Last Will');
    const at = fleet.fleet.hubs.get(base)?.state_at as string;
    t.true(Date.parse(at) >= before - 1000);
    const html = await (await fetch(`${fleet.url}/`)).text();
    t.regex(
      html,
      new RegExp(`<span class="state state-offline">offline</span> <small>since <time datetime="${at}">`),
    );
    await fleet.stop();
    fleet = await startTestFleet(url(), { data_dir: cfg.data_dir });
    t.like(fleet.fleet.hubs.get(base), { state: 'offline', state_at: at, device_id: 'hub-b' });
    // The hub comes back: its retained online state replaces offline.
    const back = await connectHub(url(), base);
    await pub(back, `${base}/bridge/state`, { state: 'online' }, true);
    await until(() => fleet.fleet.hubs.get(base)?.state === 'online', 10_000, 'back online');
    await back.endAsync();
  } finally {
    await fleet.stop();
  }
});

brokerTest(
  'catch-up replays more retained states than the broker queues for one client (1,500 > 1000)',
  async (t) => {
    const hub = await connectHub(url(), 't1/hub-many');
    const n = 1500;
    await Promise.all(
      Array.from({ length: n }, (_, i) =>
        pub(
          hub,
          `t1/hub-many/S${i}`,
          {
            verdict: 'non-member',
            probability: i / n,
            audited_at: new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString(),
          },
          true,
        ),
      ),
    );
    const fleet = await startTestFleet(url());
    try {
      await until(() => fleet.fleet.hubs.get('t1/hub-many')?.speakers === n, 20_000, `${n} retained states`);
      t.is((await fleet.store.speakers('t1/hub-many')).length, n);
    } finally {
      await fleet.stop();
      await Promise.all(
        Array.from({ length: n }, (_, i) =>
          hub.publishAsync(`t1/hub-many/S${i}`, '', { qos: 1, retain: true }),
        ),
      );
      await hub.endAsync(true);
    }
  },
);

brokerTest('no audio, embeddings or features reach the fleet store', async (t) => {
  const base = 't1/hub-c';
  const hub = await connectHub(url(), base);
  const fleet = await startTestFleet(url());
  try {
    const leak = Array.from({ length: 120 }, (_, i) => i / 7);
    await pub(
      hub,
      `${base}/bridge/info`,
      { ...hubInfo('hub-c', base), embedding: leak, config: { secret: 'x', tls: true } },
      true,
    );
    await pub(
      hub,
      `${base}/SPEAKER0001`,
      {
        verdict: 'non-member',
        probability: 0.1,
        audited_at: '2026-01-02T00:00:00.000Z',
        features: leak,
        quantized: leak,
        audio: 'UklGRg==',
      },
      true,
    );
    await until(() => fleet.fleet.hubs.get(base)?.speakers === 1, 10_000, 'verdict');
    await fleet.store.flush();
    const rows = await fleet.store.db.all<Record<string, unknown>>('SELECT * FROM verdicts WHERE base = ?', [
      base,
    ]);
    t.is(rows.length, 1);
    t.deepEqual(Object.keys(rows[0] as object).sort(), [
      'attack_id',
      'audited_at',
      'base',
      'id',
      'model_sha256',
      'p_value',
      'probability',
      'queries',
      'reason',
      'received_at',
      'speaker',
      'target_fpr',
      'threshold',
      'transaction_id',
      'verdict',
      'voices',
    ]);
    const hubRow = await fleet.store.db.get<{ info: string }>('SELECT info FROM hubs WHERE base = ?', [base]);
    t.false(hubRow?.info.includes('embedding'));
    t.false(hubRow?.info.includes('secret'));
    t.false(hubRow?.info.includes(String(leak[1])));
    await fleet.stop();
    const bytes = readFileSync(join(fleet.config.data_dir, 'fleet.db')).toString('latin1');
    for (const word of ['features', 'quantized', 'UklGRg', String(leak[1])])
      t.false(bytes.includes(word), word);
  } finally {
    await fleet.stop();
    await hub.endAsync(true);
  }
});

brokerTest(
  'audit requests from the API: published on the hub, tracked, answered; bad ones refused',
  async (t) => {
    const base = 't1/hub-d';
    const hub = await connectHub(url(), base);
    await pub(hub, `${base}/bridge/state`, { state: 'online' }, true);
    await pub(
      hub,
      `${base}/bridge/info`,
      { ...hubInfo('hub-d', base), limits: { max_files: 3, max_seconds: 60 } },
      true,
    );
    const obs = await Observer.connect(url(), `${base}/bridge/request/audit`);
    const fleet = await startTestFleet(url());
    try {
      await until(() => fleet.fleet.hubs.has(base), 10_000, 'hub');
      await until(() => fleet.link.client.connected, 10_000, 'fleet connected');
      const post = (body: unknown, path = `${api(base)}/audits`) =>
        fetch(`${fleet.url}${path}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(body),
        });
      const res = await post({ speaker: 'SPEAKER0042', files: ['speechocean762/audio/SPEAKER0042'] });
      t.is(res.status, 202);
      const { transaction, status_url } = (await res.json()) as { transaction: string; status_url: string };
      t.regex(transaction, /^fleet-[0-9a-z]+-[0-9a-f]{6}$/);
      const seen = await obs.waitFor(() => true, 10_000, 'request');
      t.deepEqual(seen.payload, {
        transaction,
        speaker: 'SPEAKER0042',
        files: ['speechocean762/audio/SPEAKER0042'],
      });
      t.like(await fleet.store.audit(base, transaction), {
        status: 'pending',
        from_fleet: 1,
        speaker: 'SPEAKER0042',
      });
      // The form's urlencoded path: record from the microphone; redirect to the audit page.
      const form = await fetch(`${fleet.url}/hubs/${encodeURIComponent(base)}/audits`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', origin: fleet.url },
        body: 'speaker=alice&files=&utterances=3&seconds=2.5',
        redirect: 'manual',
      });
      t.is(form.status, 303);
      const rec = await obs.waitFor(
        (m) => (m.payload as { speaker?: string }).speaker === 'alice',
        10_000,
        'record',
      );
      t.like(rec.payload, { speaker: 'alice', record: { utterances: 3, seconds: 2.5 } });
      // Cross-site form posts are refused (CSRF).
      const cross = await fetch(`${fleet.url}/hubs/${encodeURIComponent(base)}/audits`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', origin: 'http://evil.example' },
        body: 'speaker=alice&utterances=3&seconds=2',
      });
      t.is(cross.status, 403);
      // The hub answers: the tracked audit and its page show the verdict.
      await pub(hub, `${base}/bridge/response/audit`, {
        status: 'ok',
        transaction,
        data: {
          speaker: 'SPEAKER0042',
          verdict: 'non-member',
          probability: 0.04,
          threshold: 0.7,
          target_fpr: 0.01,
          voices: 10,
          queries: 1,
          model_sha256: 'm',
          attack_id: 'a',
          audited_at: new Date().toISOString(),
        },
      });
      await until(
        async () => (await fleet.store.audit(base, transaction))?.status === 'ok',
        10_000,
        'answer',
      );
      const statusPage = await (await fetch(`${fleet.url}${status_url}`)).text();
      t.regex(
        statusPage,
        /<span class="verdict verdict-non-member">non-member<\/span> <small>probability 0\.040/,
      );
      t.notRegex(statusPage, /http-equiv="refresh"/);
      // Refused, each naming the field; nothing published for them.
      const bad = async (body: unknown, status: number, re: RegExp, path?: string) => {
        const r = await post(body, path);
        t.is(r.status, status);
        t.regex(((await r.json()) as { error: string }).error, re);
      };
      await bad({ speaker: 'SPEAKER0042' }, 400, /^files: at least one path/);
      await bad({ speaker: 'bridge', files: ['a.wav'] }, 400, /^speaker: /);
      await bad(
        { speaker: 'S', files: ['a.wav'], utterances: 2, seconds: 1 },
        400,
        /either files or a recording/,
      );
      await bad({ speaker: 'S', utterances: 0, seconds: 1 }, 400, /^record\.utterances: /);
      await bad({ speaker: 'S', files: ['a'] }, 404, /hub "nope" not found/, '/api/hubs/nope/audits');
      await bad(
        { speaker: 'S', files: ['a', 'b', 'c', 'd'] },
        400,
        /^files: at most 3 on this hub \(4 given\)$/,
      );
      const page = await (await fetch(`${fleet.url}/hubs/${encodeURIComponent(base)}`)).text();
      t.regex(page, /files\.root; at most 3 files, 60 s of audio\)/);
      t.is(obs.messages.length, 2);
    } finally {
      await fleet.stop();
      await obs.close();
      await hub.endAsync(true);
    }
  },
);

brokerTest('live fragments over Server-Sent Events: a health message re-renders the hub row', async (t) => {
  const base = 't1/hub-e';
  const hub = await connectHub(url(), base);
  await pub(hub, `${base}/bridge/state`, { state: 'online' }, true);
  const fleet = await startTestFleet(url());
  const ac = new AbortController();
  try {
    await until(() => fleet.fleet.hubs.has(base), 10_000, 'hub');
    const res = await fetch(`${fleet.url}/events`, { signal: ac.signal });
    t.is(res.headers.get('content-type'), 'text/event-stream');
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    let text = '';
    const read = async (re: RegExp) => {
      while (!re.test(text)) {
        const { value, done } = await reader.read();
        if (done) throw new Error('stream ended');
        text += new TextDecoder().decode(value);
      }
    };
    await read(/event: hello/);
    await pub(hub, `${base}/bridge/health`, hubHealth({ outbox_size: 77 }));
    await read(/event: replace\ndata: .*Outbox.*77/);
    const data = JSON.parse(/event: replace\ndata: (.*hub-.*)\n/.exec(text)?.[1] ?? '{}') as {
      id: string;
      html: string;
    };
    t.regex(data.id, /^hub-[0-9a-f]{12}$/);
    t.regex(data.html, /^<tr id="hub-[0-9a-f]{12}" data-hub="t1\/hub-e">/);
    t.regex(data.html, /<td data-label="Outbox" class="n">77<\/td>/);
  } finally {
    ac.abort();
    await fleet.stop();
    await hub.endAsync(true);
  }
});

brokerTest('auth: with a token every route needs it (bearer, or basic password for browsers)', async (t) => {
  const token = 'fleet-test-token-0123456789';
  const fleet = await startTestFleet(url(), { http: { token, password: 'hunter2hunter2' } });
  try {
    const none = await fetch(`${fleet.url}/metrics`);
    t.is(none.status, 401);
    t.regex(none.headers.get('www-authenticate') ?? '', /^Basic realm="slmia fleet"/);
    t.is((await fetch(`${fleet.url}/`)).status, 401);
    t.is((await fetch(`${fleet.url}/assets/fleet.js`)).status, 401);
    const bearer = await fetch(`${fleet.url}/metrics`, { headers: { authorization: `Bearer ${token}` } });
    t.is(bearer.status, 200);
    const basic = (u: string, p: string) => `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}`;
    t.is((await fetch(`${fleet.url}/`, { headers: { authorization: basic('anyone', token) } })).status, 200);
    t.is(
      (await fetch(`${fleet.url}/`, { headers: { authorization: basic('fleet', 'hunter2hunter2') } })).status,
      200,
    );
    t.is(
      (await fetch(`${fleet.url}/`, { headers: { authorization: basic('fleet', 'wrong-password') } })).status,
      401,
    );
    t.is((await fetch(`${fleet.url}/`, { headers: { authorization: 'Bearer wrong' } })).status, 401);
  } finally {
    await fleet.stop();
  }
});

test('retention: old health, verdicts and audits go; unanswered page requests are marked', async (t) => {
  const cfg = fleetTestConfig('mqtt://127.0.0.1:1');
  const store = await FleetStore.open(cfg.data_dir);
  const fleet = new Fleet(store, { healthSampleS: 0 });
  const b = (s: unknown) => Buffer.from(JSON.stringify(s));
  const now = Date.parse('2026-03-01T00:00:00Z');
  const old = new Date(now - 40 * 86_400_000);
  fleet.handle('slmia/bridge/health', b(hubHealth()), false, old);
  fleet.handle('slmia/bridge/health', b(hubHealth()), false, new Date(now - 1000));
  fleet.handle(
    'slmia/S1',
    b({ verdict: 'member', probability: 0.9, audited_at: '2025-01-01T00:00:00Z' }),
    true,
  );
  fleet.handle(
    'slmia/S1',
    b({ verdict: 'member', probability: 0.8, audited_at: '2026-02-28T00:00:00Z' }),
    true,
  );
  fleet.requested('slmia', 'old-tx', 'S1', old.toISOString());
  fleet.requested('slmia', 'late-tx', 'S1', new Date(now - 3600_000).toISOString());
  fleet.requested('slmia', 'new-tx', 'S1', new Date(now - 10_000).toISOString());
  // The request echoed back late (through a bridge) after the hub's queued event: the stage stays.
  fleet.handle(
    'slmia/bridge/event',
    b({ type: 'queued', transaction: 'new-tx', speaker: 'S1', source: 'mqtt' }),
    false,
  );
  fleet.handle(
    'slmia/bridge/request/audit',
    b({ transaction: 'new-tx', speaker: 'S1', files: ['a.wav'] }),
    false,
  );
  const n = await store.prune({ health_days: 7, verdict_days: 365, audit_days: 30 }, 900, now);
  t.deepEqual(n, { health: 1, verdicts: 1, audits: 1 });
  t.like(await store.audit('slmia', 'late-tx'), { status: 'unanswered' });
  t.like(await store.audit('slmia', 'new-tx'), { status: 'pending', stage: 'queued', from_fleet: 1 });
  t.deepEqual(
    (await store.history('slmia', 'S1')).map((v) => v.probability),
    [0.8],
  );
  await store.close();
});
