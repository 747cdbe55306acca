/** The MQTT interface table, Home Assistant discovery payloads, and `slmia history` over a real store. */
import test from 'ava';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { projectRoot } from '../src/paths.js';
import { speakerDiscovery } from '../src/publish/homeassistant.js';
import { AuditRequestSchema, speakerState, TOPICS, topicOf } from '../src/publish/topics.js';
import { insertAudit } from '../src/store/audits.js';
import { Db } from '../src/store/db.js';

const run = promisify(execFile);

test('README topic table lists exactly the topics of src/publish/topics.ts', (t) => {
  const readme = readFileSync(join(projectRoot, 'README.md'), 'utf8');
  const rows = readme.split('\n').filter((l) => l.startsWith('| `<base>/'));
  t.deepEqual(
    rows.map((l) =>
      l
        .split('|')
        .map((c) => c.trim())
        .slice(1, 5),
    ),
    TOPICS.map((s) => [`\`<base>/${s.topic}\``, s.direction, s.retained ? 'yes' : 'no', String(s.qos)]),
  );
});

test('topic names and the retained speaker state', (t) => {
  t.is(topicOf('hub/slmia', 'bridge/response/audit'), 'hub/slmia/bridge/response/audit');
  t.is(topicOf('slmia', '{speaker}', 'SPEAKER0042'), 'slmia/SPEAKER0042');
  const v = {
    speaker: 'S',
    verdict: 'member' as const,
    probability: 0.9,
    p_value: 0.004,
    reason: null,
    threshold: 0.5,
    target_fpr: 0.01,
    voices: 10,
    queries: 1,
    model_sha256: 'a',
    attack_id: 'b',
    audited_at: 'now',
  };
  t.deepEqual(Object.keys(speakerState(v, 'tx-1')).sort(), [
    'attack_id',
    'audited_at',
    'model_sha256',
    'p_value',
    'probability',
    'queries',
    'reason',
    'target_fpr',
    'threshold',
    'transaction',
    'verdict',
    'voices',
  ]);
  t.is(speakerState(v, 42).transaction, 42);
});

test('audit request schema: files or record, not both, not neither', (t) => {
  t.true(AuditRequestSchema.safeParse({ speaker: 'S', files: ['a.wav'] }).success);
  t.true(
    AuditRequestSchema.safeParse({ transaction: 3, speaker: 'S', record: { utterances: 2, seconds: 3 } })
      .success,
  );
  t.false(AuditRequestSchema.safeParse({ speaker: 'S' }).success);
  t.false(
    AuditRequestSchema.safeParse({ speaker: 'S', files: ['a'], record: { utterances: 1, seconds: 1 } })
      .success,
  );
  t.false(AuditRequestSchema.safeParse({ speaker: 'S', files: [], extra: 1 }).success);
});

test('Home Assistant discovery: one retained sensor config per speaker, verdict as state', (t) => {
  const d = speakerDiscovery('homeassistant', 'slmia', 'hub-1', 'SPEAKER0042', '0.1.0');
  t.is(d.topic, 'homeassistant/sensor/slmia_hub-1/speaker_SPEAKER0042/config');
  t.like(d.payload, {
    unique_id: 'slmia_hub-1_speaker_SPEAKER0042',
    state_topic: 'slmia/SPEAKER0042',
    value_template: '{{ value_json.verdict }}',
    json_attributes_topic: 'slmia/SPEAKER0042',
    availability_topic: 'slmia/bridge/state',
    device: { identifiers: ['slmia_hub-1'], sw_version: '0.1.0' },
  });
});

test('slmia history prints stored audits (text and JSON) and filters by speaker', async (t) => {
  const path = join(mkdtempSync(join(tmpdir(), 'slmia-hist-')), 'slmia.db');
  const db = await Db.open(path);
  const outcome = {
    verdict: 'non-member' as const,
    probability: 0.125,
    p_value: 0.31,
    reason: null,
    threshold: 0.6,
    target_fpr: 0.01,
    voices: 10,
    queries: 1,
    model_sha256: 'c'.repeat(64),
    attack_id: 'feedc0de',
    quantized: new Uint8Array(120),
    timings: { frontendMs: 1, inferenceMs: 2, featuresMs: 0, attackMs: 0 },
  };
  await insertAudit(db, {
    transaction: 'h1',
    source: 'mqtt',
    speaker: 'SPEAKER0101',
    requestedAt: '2026-01-01T00:00:00Z',
    auditedAt: '2026-01-01T00:00:01Z',
    outcome,
  });
  await insertAudit(db, {
    transaction: 'h2',
    source: 'spool',
    speaker: 'SPEAKER0102',
    requestedAt: '2026-01-01T00:01:00Z',
    auditedAt: '2026-01-01T00:01:01Z',
    error: { code: 'audio.empty', message: 'x.wav: file is empty (0 bytes)' },
  });
  await db.close();
  const cli = ['--import=tsx', join(projectRoot, 'src', 'cli.ts'), 'history', '--db', path];
  const text = (await run(process.execPath, cli, { cwd: projectRoot })).stdout.trim().split('\n');
  t.is(text.length, 2);
  t.regex(text[0] as string, /SPEAKER0102 {2}spool {2}h2 {2}ERROR audio\.empty: x\.wav: file is empty/);
  t.regex(
    text[1] as string,
    /SPEAKER0101 {2}mqtt {2}h1 {2}non-member p_value=0\.310 probability=0\.125 thr=0\.600 voices=10 queries=1/,
  );
  const json = (
    await run(process.execPath, [...cli, '--json', '--speaker', 'SPEAKER0101'], { cwd: projectRoot })
  ).stdout
    .trim()
    .split('\n');
  t.is(json.length, 1);
  t.like(JSON.parse(json[0] as string), {
    transaction: 'h1',
    verdict: 'non-member',
    probability: 0.125,
    quantized_features: 120,
    attack_id: 'feedc0de',
  });
  const missing = await t.throwsAsync(
    run(
      process.execPath,
      ['--import=tsx', join(projectRoot, 'src', 'cli.ts'), 'history', '--db', '/nonexistent/x.db'],
      { cwd: projectRoot },
    ),
  );
  t.regex(String((missing as { stderr?: string } | undefined)?.stderr), /no audit store yet/);
});
