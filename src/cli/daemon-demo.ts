/**
 * `slmia daemon --demo` (what `make run` does): start the daemon on its embedded defaults, send audit requests
 * over MQTT as any client would, print the verdicts it receives, stop. Loaded only when `--demo` is given.
 *
 * Without audio paths it audits the demo set shipped in `demo/speechocean762/` (demo/README.md): a member of the
 * default target model heard through fresh voices (its heldout utterances, r = 0) and a non-member, and prints
 * each verdict next to the truth of the canonical split, whatever the verdict is.
 */
import { existsSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { startDaemon } from '../daemon/controller.js';
import type { DaemonConfig } from '../daemon/config.js';
import { createLogger } from '../daemon/logger.js';
import { readSplit, readUtterances, speakersOfGroup } from '../dataset/index.js';
import { SlmiaError } from '../errors.js';
import { demoDir } from '../paths.js';
import { topicOf, type AuditRequest, type AuditResponse } from '../publish/topics.js';

/** What `--demo` reads of the command's options. */
export interface DemoOptions {
  /** Speaker id for explicit audio paths (default `demo`). */
  speaker?: string;
  /** Seconds to wait for each verdict. */
  timeout: string;
}

/** One audit the demo sends, with what the reader should know about it. */
interface DemoAudit {
  request: AuditRequest;
  /** Printed before the request. */
  note: string;
  /** Membership according to the canonical split, when known. */
  truth?: 'member' | 'non-member';
}

/**
 * What `--demo` audits: the given paths; else the shipped demo set (a target-member speaker's heldout
 * utterances, then a target-nonmember's); else, when the demo set is missing, 3 × 3 s from the microphone.
 * @throws DatasetError when the demo set's TSV files are unreadable
 */
async function demoAudits(audio: string[], opts: DemoOptions): Promise<DemoAudit[]> {
  const stamp = Date.now();
  if (audio.length > 0) {
    return [
      {
        request: {
          transaction: `demo-${stamp}`,
          speaker: opts.speaker ?? 'demo',
          files: audio.map((p) => resolve(p)),
        },
        note: `${audio.length} path(s) given`,
      },
    ];
  }
  const dir = demoDir();
  if (!existsSync(resolve(dir, 'utterances.tsv'))) {
    return [
      {
        request: {
          transaction: `demo-${stamp}`,
          speaker: opts.speaker ?? 'microphone',
          record: { utterances: 3, seconds: 3 },
        },
        note: `no demo set at ${dir} and no paths: recording 3 utterances of 3 s from the microphone`,
      },
    ];
  }
  const splitFile = resolve(dir, 'splits', 'five-way.tsv');
  const split = await readSplit(splitFile);
  const utterances = await readUtterances(dir);
  const out: DemoAudit[] = [];
  for (const [group, truth] of [
    ['target-member', 'member'],
    ['target-nonmember', 'non-member'],
  ] as const) {
    const s = speakersOfGroup(split, utterances, group, splitFile)[0];
    if (!s) continue;
    out.push({
      request: {
        transaction: `demo-${stamp}-${s.speaker}`,
        speaker: s.speaker,
        files: s.heldout.map((u) => u.path),
      },
      note:
        truth === 'member'
          ? `${s.speaker}: ${s.heldout.length} fresh utterances (never trained on, mixing ratio r = 0) of a speaker the target model WAS trained on`
          : `${s.speaker}: ${s.heldout.length} utterances of a speaker the target model was NOT trained on`,
      truth,
    });
  }
  return out;
}

/**
 * The first message on `topic` whose JSON payload `accept` takes, or undefined after `ms` milliseconds.
 * @param accept returns true for the message waited for
 */
function nextMessage<T>(
  client: MqttClient,
  topic: string,
  accept: (payload: T) => boolean,
  ms: number,
): Promise<T | undefined> {
  return new Promise((res) => {
    const done = (value: T | undefined): void => {
      clearTimeout(timer);
      client.off('message', onMessage);
      res(value);
    };
    const onMessage = (t: string, payload: Buffer): void => {
      if (t !== topic) return;
      const msg = JSON.parse(payload.toString()) as T;
      if (accept(msg)) done(msg);
    };
    const timer = setTimeout(() => done(undefined), ms);
    client.on('message', onMessage);
  });
}

/**
 * Wait for the response to `transaction` on the response topic.
 * @throws SlmiaError `demo.timeout` after `timeoutS` seconds
 */
async function responseOf(
  client: MqttClient,
  topic: string,
  transaction: string | number,
  timeoutS: number,
): Promise<AuditResponse> {
  const msg = await nextMessage<AuditResponse>(
    client,
    topic,
    (m) => m.transaction === transaction,
    timeoutS * 1000,
  );
  if (!msg) throw new SlmiaError('demo.timeout', `no response on ${topic} within ${timeoutS} s`);
  return msg;
}

/**
 * The retained speaker state of this audit (published after the response; an older retained state of the same
 * speaker is skipped by its `audited_at`), or undefined after 5 s.
 */
async function retainedState(client: MqttClient, topic: string, auditedAt: string): Promise<unknown> {
  const got = nextMessage<{ audited_at?: string }>(client, topic, (m) => m.audited_at === auditedAt, 5000);
  await client.subscribeAsync(topic, { qos: 1 });
  const state = await got;
  await client.unsubscribeAsync(topic);
  return state;
}

/** One line saying what the verdict is, with the p-value / inconclusive reason when the verdict carries them. */
function verdictLine(v: Extract<AuditResponse, { status: 'ok' }>['data'], truth?: string): string {
  const extra = v as unknown as { p_value?: number; reason?: string };
  const parts = [
    `member probability ${v.probability.toFixed(3)}`,
    ...(typeof extra.p_value === 'number' ? [`p-value ${extra.p_value.toPrecision(3)}`] : []),
    `threshold ${v.threshold.toFixed(3)} at target FPR ${v.target_fpr}`,
    `${v.voices} voices, ${v.queries} model queries`,
  ];
  const judged =
    truth === undefined
      ? ''
      : v.verdict === truth
        ? `; the canonical split says ${truth}: correct`
        : v.verdict === 'member' || v.verdict === 'non-member'
          ? `; the canonical split says ${truth}: the audit got it wrong`
          : `; the canonical split says ${truth}`;
  const why = extra.reason ? ` (${extra.reason})` : '';
  return `verdict: ${v.speaker} → ${v.verdict.toUpperCase()}${why} (${parts.join('; ')})${judged}`;
}

/**
 * Start the daemon on `config`, send the demo audit requests over MQTT one after the other, print each
 * response, the retained state and the verdict next to the truth, stop.
 * Sets `process.exitCode = 2` when an audit is answered with an error.
 * @throws SlmiaError `demo.timeout` when a response does not arrive within `opts.timeout` seconds
 */
export async function demo(config: DaemonConfig, audio: string[], opts: DemoOptions): Promise<void> {
  const audits = await demoAudits(audio, opts);
  // Paths named on the command line by the person running the demo may be read (requests may only read
  // under allowed folders), and so may the shipped demo set.
  for (const p of audio) {
    const abs = resolve(p);
    config.files.allowed_dirs.push(
      statSync(abs, { throwIfNoEntry: false })?.isDirectory() ? abs : dirname(abs),
    );
  }
  if (audio.length === 0) config.files.allowed_dirs.push(demoDir());
  process.stdout.write(
    `starting the daemon: model ${config.model}, attack ${config.attack}, state in ${config.data_dir}\n`,
  );
  // The demo prints every request and response itself; a failed audit's warning would repeat its response as a
  // JSON log line in the middle of the output, so only errors are logged unless SLMIA_LOG_LEVEL says otherwise.
  const daemon = await startDaemon(config, { log: createLogger(process.env.SLMIA_LOG_LEVEL ?? 'error') });
  const url = config.mqtt.url ?? daemon.broker?.url ?? '';
  const base = config.mqtt.base_topic;
  const responseTopic = topicOf(base, 'bridge/response/audit');
  // The demo is a client like any other. On the embedded broker it logs in as its first configured client
  // (none on the default loopback broker: anonymous), or as the daemon when the only logins are hashed in a
  // password file (the broker takes requests from any login); on an external broker with the configured login.
  const client0 = config.mqtt.embedded.users[0];
  const login = !daemon.broker
    ? { username: config.mqtt.username, password: config.mqtt.password }
    : client0
      ? { username: client0.username, password: client0.password }
      : config.mqtt.embedded.password_file
        ? daemon.broker.login
        : { username: undefined, password: undefined };
  const client = await mqtt.connectAsync(url, {
    clientId: `slmia-demo-${process.pid}`,
    ...(login.username !== undefined && { username: login.username }),
    ...(login.password !== undefined && { password: login.password }),
  });
  (client.stream as { setNoDelay?: (on: boolean) => void }).setNoDelay?.(true);
  try {
    process.stdout.write(`broker ${url}, base topic "${base}"\n`);
    await client.subscribeAsync(responseTopic, { qos: 1 });
    for (const { request, note, truth } of audits) {
      process.stdout.write(`\naudit request: ${note}\n`);
      const response = responseOf(client, responseTopic, request.transaction ?? '', Number(opts.timeout));
      await client.publishAsync(topicOf(base, 'bridge/request/audit'), JSON.stringify(request), { qos: 1 });
      process.stdout.write(
        `→ ${topicOf(base, 'bridge/request/audit')} ${JSON.stringify({ ...request, files: request.files ? `[${request.files.length} files]` : undefined })}\n`,
      );
      const r = await response;
      process.stdout.write(`← ${responseTopic} ${JSON.stringify(r)}\n`);
      if (r.status !== 'ok') {
        process.exitCode = 2;
        continue;
      }
      const stateTopic = topicOf(base, '{speaker}', request.speaker);
      const state = await retainedState(client, stateTopic, r.data.audited_at);
      if (state !== undefined) process.stdout.write(`← ${stateTopic} (retained) ${JSON.stringify(state)}\n`);
      process.stdout.write(`${verdictLine(r.data, truth)}\n`);
    }
  } finally {
    await client.endAsync();
    await daemon.stop();
  }
}
