/**
 * The four model families of the lab audit end to end through the daemon: for each family's target model
 * and attack bundle, a daemon of its own (embedded broker, its own SQLite store) takes an MQTT audit request
 * for a known target-member speaker (all 20 clips of ≤ 2 s: 10 trained on, 10 not) and answers with a verdict
 * made in one query per model (the target and the bundle's reference models) — also for the fixed-window
 * wake-word model, whose 20 voices are 60 windows of 40 log-mel frames.
 */
import test from 'ava';
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { startDaemon } from '../src/daemon/controller.js';
import { projectRoot } from '../src/paths.js';
import type { AuditResponse } from '../src/publish/topics.js';
import { groupSpeakers, NO_PIPELINE, testConfig } from './helpers/daemon.js';
import { Observer } from './helpers/mqtt-observer.js';

const FAMILIES = ['tdnn-ce', 'resnet-aam', 'lstm-ge2e', 'cnn-dvector'];
/** A target-member speaker of the canonical split, audited with all its clips (r = 0.5). */
const MEMBER = 'SPEAKER0111';

for (const family of FAMILIES) {
  const model = resolve(projectRoot, 'models', `${family}-target`, 'model.json');
  const attack = resolve(projectRoot, 'models', 'attack', family, 'attack.json');
  const missing = NO_PIPELINE ?? (existsSync(attack) ? undefined : `${attack} not found`);
  const run = missing ? test.skip : test.serial;
  run(`${family}: an MQTT audit request through the daemon is answered in one query per model`, async (t) => {
    const member = (await groupSpeakers('target-member')).find((s) => s.speaker === MEMBER);
    if (!member) return t.fail(`${MEMBER} is not a target-member speaker`);
    const daemon = await startDaemon(testConfig({ model, attack }));
    const base = daemon.config.mqtt.base_topic;
    const obs = await Observer.connect(daemon.broker?.url as string, `${base}/#`);
    try {
      const sha = (JSON.parse(readFileSync(model, 'utf8')) as { sha256: string }).sha256;
      const info = await obs.waitFor((m) => m.topic === `${base}/bridge/info`, 60_000, 'bridge/info');
      t.like(info.payload, { model: { sha256: sha } });
      await obs.publish(`${base}/bridge/request/audit`, {
        transaction: `family-${family}`,
        speaker: member.speaker,
        files: [...member.train, ...member.heldout].map((u) => u.path),
      });
      const r = (await obs.response(base, `family-${family}`)).payload as AuditResponse;
      if (r.status !== 'ok') return t.fail(`error response: ${JSON.stringify(r)}`);
      // one query of the target and one of each reference model the bundle names
      const refs =
        (JSON.parse(readFileSync(attack, 'utf8')) as { references?: unknown[] }).references?.length ?? 0;
      t.like(r.data, { speaker: member.speaker, voices: 20, queries: 1 + refs, model_sha256: sha });
      t.true(['member', 'non-member', 'inconclusive'].includes(r.data.verdict), r.data.verdict);
      t.log(`${family}: ${r.data.verdict} (p-value ${r.data.p_value}), ${r.data.queries} queries`);
    } finally {
      await obs.close();
      await daemon.stop();
    }
  });
}
