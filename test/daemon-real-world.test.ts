/**
 * Real-world inputs through the daemon (issue 10): an MQTT request for the 20 digital-silence clips is answered
 * `audio.no-speech` naming a file, stored as a failed audit and never published as a retained verdict; the
 * 8-bit and EXTENSIBLE-float speakers get their 16-bit verdicts. The same files through the spool folder, and
 * the cut FLAC (c09c) through both doors, are answered with their typed error and the request's transaction.
 */
import { resolve } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { startDaemon } from '../src/daemon/controller.js';
import type { AuditResponse } from '../src/publish/topics.js';
import { listAudits } from '../src/store/audits.js';
import { casesDir } from './helpers/data.js';
import { openTestAuditor, pipelineTest, testConfig } from './helpers/daemon.js';
import { Observer } from './helpers/mqtt-observer.js';
import { copyFileSync, existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';

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

run(
  'daemon: c09c (FLAC cut short) by MQTT and spool, and silence by spool → typed errors with their transactions, failed rows, nothing retained',
  async (t: ExecutionContext) => {
    const { auditor, close } = await openTestAuditor();
    const config = testConfig({
      files: { allowed_dirs: [casesDir] },
      spool: { enabled: true, poll_ms: 100 },
    });
    const daemon = await startDaemon(config, { auditor });
    const obs = await Observer.connect(daemon.broker?.url as string, [
      'slmia/bridge/response/audit',
      'slmia/+',
    ]);
    const c00 = resolve(casesDir, 'c00_baseline_pcm16.wav');
    const c09c = resolve(casesDir, 'c09c_flac_cut_last_100_bytes.flac');
    const spool = (speaker: string, transaction: string, sources: string[]) => {
      const dir = resolve(config.spool.dir, speaker);
      mkdirSync(dir, { recursive: true });
      for (const f of sources) copyFileSync(f, resolve(dir, f.slice(f.lastIndexOf('/') + 1)));
      writeFileSync(resolve(dir, '.ready'), JSON.stringify({ transaction }));
    };
    try {
      await obs.publish('slmia/bridge/request/audit', {
        transaction: 'rw-cut-mqtt',
        speaker: 'CUT',
        files: [c00, c09c],
      });
      spool('CUT2', 'rw-cut-spool', [c00, c09c]);
      spool('SILENT', 'rw-silence-spool', files('silence'));
      const expected: [string, string, RegExp][] = [
        [
          'rw-cut-mqtt',
          'audio.truncated',
          /c09c_flac_cut_last_100_bytes\.flac: FLAC STREAMINFO declares 32000 samples but only 28672/,
        ],
        [
          'rw-cut-spool',
          'audio.truncated',
          /c09c_flac_cut_last_100_bytes\.flac: FLAC STREAMINFO declares 32000 samples but only 28672/,
        ],
        ['rw-silence-spool', 'audio.no-speech', /010290003\.wav: 0\.00 s of speech/],
      ];
      for (const [transaction, code, error] of expected) {
        const r = (await obs.response('slmia', transaction)).payload as Extract<
          AuditResponse,
          { status: 'error' }
        >;
        t.is(r.status, 'error', transaction);
        t.is(r.code, code, transaction);
        t.regex(r.error, error, transaction);
        t.notRegex(r.error, /TypeError|Error:.*\n\s+at /, 'no internal exception text');
      }
      const rows = await listAudits(daemon.db);
      for (const [transaction, code] of expected) {
        const row = rows.find((r) => r.transaction === transaction);
        t.is(row?.status, 'error', transaction);
        t.is(row?.error_code, code, transaction);
        t.is(row?.verdict, null, transaction);
      }
      t.is(rows.find((r) => r.transaction === 'rw-cut-spool')?.source, 'spool');
      t.deepEqual(
        readdirSync(config.spool.dir).filter((d) => !d.startsWith('.')),
        [],
        'the spool folders are claimed and removed',
      );
      for (const speaker of ['CUT', 'CUT2', 'SILENT'])
        t.is(obs.on(`slmia/${speaker}`).length, 0, `no verdict published for ${speaker}`);
    } finally {
      await obs.close();
      await daemon.stop();
      await close();
    }
  },
);
