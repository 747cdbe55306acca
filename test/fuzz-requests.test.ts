/**
 * Fuzz smoke (CI-sized) over MQTT audit-request payloads (test/helpers/request-fuzz.ts; the large run with its
 * figures: bench/fuzz-requests.ts, bench/RESULTS.md): 1,000 payloads through a running daemon's intake, and 100
 * published to a live daemon over its embedded broker. No crash, no hang (a case over 5 s here, 10 s over
 * MQTT), no stray promise rejection; every invalid payload is answered `request.invalid`, every valid one is
 * stored or answered from the store, and the daemon still audits a real speaker afterwards.
 */
import mqtt from 'mqtt';
import { startDaemon } from '../src/daemon/controller.js';
import type { GroupSpeaker } from '../src/dataset/index.js';
import type { AuditResponse } from '../src/publish/topics.js';
import { pipelineTest, testConfig, usePipelineContext, type PipelineContext } from './helpers/daemon.js';
import { makeFakeRecorder } from './helpers/fake-recorder.js';
import { assertClean, fuzz } from './helpers/fuzz.js';
import { Observer } from './helpers/mqtt-observer.js';
import { intakeTarget, liveTarget, requestPayload } from './helpers/request-fuzz.js';
import test from 'ava';

type Ctx = PipelineContext;

usePipelineContext();

// `record` requests record from a fake `sox` that plays the member's real utterances.
test.serial.before(async (t) => {
  const c = t.context as Ctx | undefined;
  if (c?.member)
    process.env.PATH = (await makeFakeRecorder(c.member.train.slice(0, 3).map((u) => u.path))).path;
});

/** Real audio the plausible requests may name: the member's files, by absolute and data-relative path. */
const pathsOf = (m: GroupSpeaker): string[] => [
  ...m.train.slice(0, 4).map((u) => u.path),
  `speechocean762/audio/${m.speaker}`,
];

/** Settings for fuzzing: no `busy` answers, short recordings. */
const fuzzConfig = () =>
  testConfig({ queue: { max_pending: 10_000 }, microphone: { max_utterances: 3, max_seconds: 3 } });

pipelineTest(
  'fuzz: 1,000 request payloads through the daemon intake → stored or a typed answer, never a crash',
  async (t) => {
    const c = t.context as Ctx;
    const daemon = await startDaemon(fuzzConfig(), { auditor: c.auditor });
    const stray: unknown[] = [];
    const onStray = (e: unknown): number => stray.push(e);
    process.on('unhandledRejection', onStray);
    try {
      const r = await fuzz({
        name: 'intake',
        seed: 1100,
        numRuns: 1000,
        arbitrary: requestPayload(pathsOf(c.member)),
        run: intakeTarget(daemon),
        hangMs: 5000,
      });
      assertClean(t, r, 1000);
      t.true(r.results >= 50, `${r.results} valid requests stored`);
      t.true((r.typedErrors['request.invalid'] ?? 0) >= 300, JSON.stringify(r.typedErrors));
      t.deepEqual(stray, []);
    } finally {
      process.off('unhandledRejection', onStray);
      await daemon.stop();
    }
  },
);

pipelineTest(
  'fuzz: 100 payloads to a live daemon over MQTT → exactly one typed answer each; the daemon still audits',
  async (t) => {
    const c = t.context as Ctx;
    const daemon = await startDaemon(fuzzConfig(), { auditor: c.auditor });
    const url = daemon.broker?.url as string;
    const client = await mqtt.connectAsync(url, { clientId: 'fuzz-client' });
    await client.subscribeAsync('slmia/bridge/response/audit', { qos: 1 });
    try {
      const r = await fuzz({
        name: 'live-embedded',
        seed: 1101,
        numRuns: 100,
        arbitrary: requestPayload(pathsOf(c.member)),
        run: liveTarget(client),
        hangMs: 10_000,
      });
      assertClean(t, r, 100);
      t.true((r.typedErrors['request.invalid'] ?? 0) >= 20, JSON.stringify(r.typedErrors));
      t.true(r.results >= 5, `${r.results} verdicts`);
      // Still serving: a real audit after the fuzz.
      const obs = await Observer.connect(url, 'slmia/bridge/response/audit');
      await obs.publish('slmia/bridge/request/audit', {
        transaction: 'after-fuzz',
        speaker: c.member.speaker,
        files: c.member.train.map((u) => u.path),
      });
      t.like((await obs.response('slmia', 'after-fuzz', 60_000)).payload as AuditResponse, { status: 'ok' });
      await obs.close();
    } finally {
      await client.endAsync();
      await daemon.stop();
    }
  },
);
