/**
 * Chaos, CI-sized (the long run with its figures: bench/chaos.ts, bench/RESULTS.md): the daemon as a child
 * process with the real pipeline on a real member speaker, fed over MQTT and through the spool folder while it is
 * killed with SIGKILL during audits and during outbox flushes, the broker is restarted, the disk under its
 * database fills up and the database becomes read-only (a tmpfs made by the test). Every request must get its
 * verdict (lost = 0), no transaction is audited twice, and duplicate answers stay within the outbox window
 * (8 per crash or broker restart) plus the client's own re-sends.
 */
import type { ExecutionContext } from 'ava';
import type { GroupSpeaker } from '../src/dataset/index.js';
import { runChaos, type ChaosOptions, type ChaosResult } from './helpers/chaos.js';
import { groupSpeakers, pipelinePaths, pipelineTest } from './helpers/daemon.js';
import { mosquittoBin, NO_MOSQUITTO } from './helpers/mosquitto.js';
import { withTool } from './helpers/tools.js';

/** Outbox messages in flight at most (src/publish/outbox-relay.ts): the duplicates one crash may cause. */
const OUTBOX_WINDOW = 8;

async function scenario(
  over: Partial<ChaosOptions> & Pick<ChaosOptions, 'broker' | 'seed'>,
): Promise<ChaosOptions> {
  const member = (await groupSpeakers('target-member')).find(
    (s) => s.speaker === 'SPEAKER0111',
  ) as GroupSpeaker;
  return {
    model: pipelinePaths.model,
    attack: pipelinePaths.attack,
    requests: 20,
    spoolEvery: 4,
    kills: 3,
    brokerRestarts: 1,
    diskFull: 1,
    readOnly: 1,
    speaker: member.speaker,
    files: member.train.slice(0, 4).map((u) => u.path),
    gapMs: 200,
    faultMs: 1500,
    settleMs: 60_000,
    ...over,
  };
}

function check(t: ExecutionContext, o: ChaosOptions, r: ChaosResult): void {
  t.log(JSON.stringify({ ...r, logTail: undefined }));
  t.is(r.lost, 0, `lost ${r.lostIds.join(', ')}\n${(r.logTail ?? []).join('\n')}`);
  t.is(r.sent, o.requests);
  t.is(r.answered, r.sent);
  t.is(r.ok, r.sent, `every request got its verdict (errors: ${JSON.stringify(r.errors)})`);
  t.is(r.auditedTwice, 0, 'no transaction audited twice');
  t.true(
    r.extraAnswers <= OUTBOX_WINDOW * (r.kills + r.brokerRestarts) + r.resentUnanswered,
    `duplicate answers ${r.extraAnswers} within the outbox window`,
  );
  t.is(r.kills, o.kills);
  t.is(r.killsAfterAnswer, Math.floor(o.kills / 2), 'every other kill lands on an outbox flush');
  if (r.mounted) {
    t.is(r.diskFull, o.diskFull);
    t.is(r.readOnly, o.readOnly);
    // A request sent to the read-only store is always refused; one sent to the full disk may still fit in
    // SQLite's write-ahead log.
    t.true(r.storeErrorAnswers >= o.readOnly, 'the store faults were hit (typed store errors)');
  } else t.log('mount not permitted here: full-disk and read-only faults skipped');
}

withTool(
  Boolean(mosquittoBin),
  NO_MOSQUITTO,
  pipelineTest,
)(
  'chaos over Mosquitto + spool: kill -9 ×3 (audits, outbox flushes), broker restart, full disk, read-only store → nothing lost',
  async (t) => {
    const o = await scenario({ broker: 'mosquitto', seed: 11 });
    check(t, o, await runChaos(o));
  },
);

pipelineTest(
  'chaos on the embedded aedes broker + spool: kill -9 ×2, full disk, read-only store → nothing lost (client re-sends unanswered requests)',
  async (t) => {
    const o = await scenario({
      broker: 'embedded',
      seed: 12,
      requests: 12,
      spoolEvery: 3,
      kills: 2,
      retryUnansweredMs: 4000,
    });
    check(t, o, await runChaos(o));
  },
);
