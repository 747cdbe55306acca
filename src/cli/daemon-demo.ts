/**
 * `slmia daemon --demo` (what `make run` does): start the daemon, send one audit request over MQTT as any
 * client would, print the verdict it receives, stop. Loaded only when `--demo` is given.
 */
import { statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import mqtt from 'mqtt';
import { startDaemon } from '../daemon/controller.js';
import type { DaemonConfig } from '../daemon/config.js';
import { createLogger } from '../daemon/logger.js';
import { readSplit, readUtterances, speakersOfGroup } from '../dataset/index.js';
import { SlmiaError } from '../errors.js';
import { speechoceanDir } from '../paths.js';
import { topicOf, type AuditRequest, type AuditResponse } from '../publish/topics.js';

/** What `--demo` reads of the command's options. */
export interface DemoOptions {
  /** Speaker id for explicit audio paths (default `demo`). */
  speaker?: string;
  /** Seconds to wait for the verdict. */
  timeout: string;
}

/** What `--demo` audits: explicit paths, else a target-member speaker of speechocean762, else the microphone. */
async function demoRequest(
  audio: string[],
  opts: DemoOptions,
): Promise<{ request: AuditRequest; note: string }> {
  const transaction = `demo-${Date.now()}`;
  if (audio.length > 0) {
    return {
      request: { transaction, speaker: opts.speaker ?? 'demo', files: audio.map((p) => resolve(p)) },
      note: `${audio.length} path(s) given`,
    };
  }
  const dir = speechoceanDir();
  if (dir) {
    const split = await readSplit(resolve(dir, 'splits', 'five-way.tsv'));
    const speakers = speakersOfGroup(split, await readUtterances(dir), 'target-member');
    const s = speakers[0];
    if (s) {
      // Its training utterances (mixing ratio r = 1): the case the attack was calibrated to detect.
      const files = s.train.map((u) => u.path);
      return {
        request: { transaction, speaker: s.speaker, files },
        note: `${s.speaker}: its ${files.length} training utterances (r = 1) from ${dir}; the canonical split says target-member (trained on)`,
      };
    }
  }
  return {
    request: { transaction, speaker: opts.speaker ?? 'microphone', record: { utterances: 3, seconds: 3 } },
    note: 'no data and no paths: recording 3 utterances of 3 s from the microphone',
  };
}

/**
 * Start the daemon on `config`, send one audit request over MQTT (the given audio, else a target-member
 * speaker of the data, else the microphone), print the response and the retained state, stop.
 * Sets `process.exitCode = 2` when the audit is answered with an error.
 * @throws SlmiaError `demo.timeout` when no response arrives within `opts.timeout` seconds
 */
export async function demo(config: DaemonConfig, audio: string[], opts: DemoOptions): Promise<void> {
  const { request, note } = await demoRequest(audio, opts);
  // Paths named on the command line by the person running the demo may be read (requests may only read
  // under allowed folders).
  for (const p of audio) {
    const abs = resolve(p);
    config.files.allowed_dirs.push(
      statSync(abs, { throwIfNoEntry: false })?.isDirectory() ? abs : dirname(abs),
    );
  }
  process.stdout.write(
    `starting the daemon: model ${config.model}, attack ${config.attack} (the first start embeds the reference speakers into ${config.data_dir}; later starts use the cache)\n`,
  );
  const daemon = await startDaemon(config, { log: createLogger(process.env.SLMIA_LOG_LEVEL ?? 'warn') });
  const url = config.mqtt.url ?? daemon.broker?.url ?? '';
  const base = config.mqtt.base_topic;
  const client = await mqtt.connectAsync(url, {
    clientId: `slmia-demo-${process.pid}`,
    ...(config.mqtt.username !== undefined && { username: config.mqtt.username }),
    ...(config.mqtt.password !== undefined && { password: config.mqtt.password }),
  });
  (client.stream as { setNoDelay?: (on: boolean) => void }).setNoDelay?.(true);
  try {
    process.stdout.write(`broker ${url}, base topic "${base}"\naudit request: ${note}\n`);
    const response = new Promise<{ response: AuditResponse; state?: unknown }>((res, rej) => {
      const timer = setTimeout(
        () =>
          rej(
            new SlmiaError(
              'demo.timeout',
              `no response on ${topicOf(base, 'bridge/response/audit')} within ${opts.timeout} s`,
            ),
          ),
        Number(opts.timeout) * 1000,
      );
      client.on('message', (topic, payload) => {
        if (topic !== topicOf(base, 'bridge/response/audit')) return;
        const msg = JSON.parse(payload.toString()) as AuditResponse;
        if (msg.transaction !== request.transaction) return;
        clearTimeout(timer);
        res({ response: msg });
      });
    });
    await client.subscribeAsync(topicOf(base, 'bridge/response/audit'), { qos: 1 });
    await client.publishAsync(topicOf(base, 'bridge/request/audit'), JSON.stringify(request), { qos: 1 });
    process.stdout.write(
      `→ ${topicOf(base, 'bridge/request/audit')} ${JSON.stringify({ ...request, files: request.files ? `[${request.files.length} files]` : undefined })}\n`,
    );
    const got = await response.then(async (r) => {
      // The retained speaker state arrives after the response; subscribe once the verdict is known.
      if (r.response.status === 'ok' && r.state === undefined) {
        await client.subscribeAsync(topicOf(base, '{speaker}', request.speaker), { qos: 1 });
        const state = await new Promise<unknown>((res) => {
          const t = setTimeout(() => res(undefined), 5000);
          client.on('message', (topic, payload) => {
            if (topic === topicOf(base, '{speaker}', request.speaker)) {
              clearTimeout(t);
              res(JSON.parse(payload.toString()));
            }
          });
        });
        return { ...r, state };
      }
      return r;
    });
    process.stdout.write(`← ${topicOf(base, 'bridge/response/audit')} ${JSON.stringify(got.response)}\n`);
    if (got.state !== undefined)
      process.stdout.write(
        `← ${topicOf(base, '{speaker}', request.speaker)} (retained) ${JSON.stringify(got.state)}\n`,
      );
    if (got.response.status === 'ok') {
      const v = got.response.data;
      process.stdout.write(
        `verdict: ${v.speaker} is a ${v.verdict.toUpperCase()} of the target model (probability ${v.probability.toFixed(3)}, threshold ${v.threshold.toFixed(3)} at target FPR ${v.target_fpr}; ${v.voices} voices, ${v.queries} model queries)\n`,
      );
    } else {
      process.exitCode = 2;
    }
  } finally {
    await client.endAsync();
    await daemon.stop();
  }
}
