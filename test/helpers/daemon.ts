/**
 * Test helpers for the daemon: the real audit pipeline (target model + attack bundle, opened once per test
 * file), real speakers of the canonical split, and daemon settings on a temp folder and a free port.
 */
import test from 'ava';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import {
  parseConfig,
  DEFAULT_ATTACK,
  DEFAULT_MODEL,
  type DaemonConfig,
  type DaemonConfigInput,
} from '../../src/daemon/config.js';
import type { Auditor } from '../../src/daemon/auditor.js';
import { openAuditor } from '../../src/daemon/open-auditor.js';
import { readSplit, readUtterances, speakersOfGroup, type GroupSpeaker } from '../../src/dataset/index.js';
import { projectRoot } from '../../src/paths.js';
import { Db } from '../../src/store/db.js';
import { speechocean } from './data.js';

/** Target model and attack bundle the tests audit with (`SLMIA_TEST_MODEL` / `SLMIA_TEST_ATTACK` override). */
export const pipelinePaths = {
  model: resolve(projectRoot, process.env.SLMIA_TEST_MODEL ?? DEFAULT_MODEL),
  attack: resolve(projectRoot, process.env.SLMIA_TEST_ATTACK ?? DEFAULT_ATTACK),
};

const missing = !speechocean
  ? 'speechocean762 not found (set SLMIA_DATA_DIR)'
  : !existsSync(pipelinePaths.model)
    ? `target model ${pipelinePaths.model} not found`
    : !existsSync(pipelinePaths.attack)
      ? `attack bundle ${pipelinePaths.attack} not found`
      : undefined;

/** Why pipeline tests are skipped, or undefined when they run. */
export const NO_PIPELINE = missing && `${missing}: daemon pipeline test skipped`;
if (NO_PIPELINE) console.warn(`[slmia tests] ${NO_PIPELINE}`);

/** `test.serial` when data, target model and attack bundle exist; else `test.skip` (listed as skipped). */
export const pipelineTest = NO_PIPELINE ? test.skip : test.serial;

/** The shared embedding cache of the lab (reference speakers embedded once for all test files). */
export const labCachePath = resolve(projectRoot, '.work', 'embedding-cache.sqlite');

/** Open the real audit pipeline once (reference embeddings through the lab cache). */
export async function openTestAuditor(): Promise<{ auditor: Auditor; close: () => Promise<void> }> {
  const db = await Db.open(labCachePath);
  const auditor = await openAuditor({ modelPath: pipelinePaths.model, attackPath: pipelinePaths.attack, db });
  return {
    auditor,
    close: async () => {
      await auditor.close();
      await db.close();
    },
  };
}

/** Speakers of a split group (sorted), with absolute utterance paths. */
export async function groupSpeakers(group: 'target-member' | 'target-nonmember'): Promise<GroupSpeaker[]> {
  const dir = speechocean as string;
  return speakersOfGroup(
    await readSplit(join(dir, 'splits', 'five-way.tsv')),
    await readUtterances(dir),
    group,
  );
}

/** Daemon settings on a fresh temp data dir (spool off, quick reconnects, silent logs) merged with `over`. */
export function testConfig(over: DaemonConfigInput = {}): DaemonConfig {
  const dir = mkdtempSync(join(tmpdir(), 'slmia-daemon-'));
  return parseConfig(
    {
      data_dir: join(dir, 'data'),
      model: pipelinePaths.model,
      attack: pipelinePaths.attack,
      log_level: 'silent',
      device_id: 'test-hub',
      ...over,
      spool: { enabled: false, dir: join(dir, 'spool'), poll_ms: 100, ...over.spool },
      mqtt: {
        reconnect_period_ms: 200,
        ...over.mqtt,
        // Never the default 1883 in tests, also when a test sets other embedded-broker fields.
        embedded: { port: 0, ...over.mqtt?.embedded },
      },
    },
    '<test>',
    projectRoot,
    {},
  );
}

/** What the daemon test files share: the opened pipeline and a real member speaker of the target model. */
export interface PipelineContext {
  auditor: Auditor;
  close: () => Promise<void>;
  member: GroupSpeaker;
}

/**
 * Register the shared set-up of a daemon test file: the pipeline opened once (`test.serial.before`) with the
 * target member `speaker`, closed after all tests. Read it in a test as `t.context as PipelineContext`.
 */
export function usePipelineContext(speaker = 'SPEAKER0111'): void {
  test.serial.before(async (t) => {
    if (NO_PIPELINE) return;
    const { auditor, close } = await openTestAuditor();
    const member = (await groupSpeakers('target-member')).find((s) => s.speaker === speaker) as GroupSpeaker;
    t.context = { auditor, close, member } satisfies PipelineContext;
  });
  test.after.always(async (t) => {
    await (t.context as PipelineContext | undefined)?.close?.();
  });
}
