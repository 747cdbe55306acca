/**
 * Real-world inputs through the daemon (issue 10): an MQTT request for the 20 digital-silence clips is answered
 * `audio.no-speech` naming a file, stored as a failed audit and never published as a retained verdict; the
 * 8-bit and EXTENSIBLE-float speakers get their 16-bit verdicts.
 */
import { resolve } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { startDaemon } from '../src/daemon/controller.js';
import type { AuditResponse } from '../src/publish/topics.js';
import { listAudits } from '../src/store/audits.js';
import { casesDir } from './helpers/data.js';
import { openTestAuditor, pipelineTest, testConfig } from './helpers/daemon.js';
import { Observer } from './helpers/mqtt-observer.js';
import { existsSync, readdirSync } from 'node:fs';

const speakerDir = (name: string) => resolve(casesDir, 'speaker', name);
const files = (name: string) =>
  readdirSync(speakerDir(name))
    .sort()
    .map((f) => resolve(speakerDir(name), f));
const run = existsSync(speakerDir('silence')) ? pipelineTest : test.skip;

run(
  'daemon: silence is audio.no-speech (stored as failed, nothing retained); 8-bit and EXTENSIBLE float keep their verdicts',
  async (t: ExecutionContext) => {
    const { auditor, close } = await openTestAuditor();
    const daemon = await startDaemon(
      testConfig({ files: { allowed_dirs: [resolve(casesDir, 'speaker')] } }),
      {
        auditor,
      },
    );
    const obs = await Observer.connect(daemon.broker?.url as string, [
      'slmia/bridge/response/audit',
      'slmia/+',
    ]);
    try {
      const req = 'slmia/bridge/request/audit';
      await obs.publish(req, { transaction: 'rw-silence', speaker: 'SILENCE', files: files('silence') });
      await obs.publish(req, { transaction: 'rw-8bit', speaker: 'S8BIT', files: files('s8bit') });
      await obs.publish(req, {
        transaction: 'rw-extfloat',
        speaker: 'EXTFLOAT',
        files: files('nonmember_extfloat'),
      });
      const silence = (await obs.response('slmia', 'rw-silence')).payload as Extract<
        AuditResponse,
        { status: 'error' }
      >;
      t.is(silence.status, 'error');
      t.is(silence.code, 'audio.no-speech');
      t.regex(silence.error, /010290003\.wav/);
      const s8 = (await obs.response('slmia', 'rw-8bit')).payload as Extract<AuditResponse, { status: 'ok' }>;
      t.is(s8.status, 'ok');
      t.is(s8.data.verdict, 'member');
      const ext = (await obs.response('slmia', 'rw-extfloat')).payload as Extract<
        AuditResponse,
        { status: 'ok' }
      >;
      t.is(ext.data.verdict, 'non-member');
      await obs.waitFor((m) => m.topic === 'slmia/S8BIT', 10_000, 'S8BIT state');
      t.is(obs.on('slmia/SILENCE').length, 0, 'no verdict published for the silent speaker');
      const rows = await listAudits(daemon.db);
      t.is(rows.find((r) => r.transaction === 'rw-silence')?.status, 'error');
    } finally {
      await obs.close();
      await daemon.stop();
      await close();
    }
  },
);
