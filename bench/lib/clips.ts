/**
 * Real speech for the benchmarks: 10-utterance audits of target-member and target-nonmember speakers of the
 * canonical split from the data folder (`../shared/data` or `$SLMIA_DATA_DIR`), or, when it is absent, the
 * two speakers of the shipped demo set (demo/), so that `make bench` runs anywhere.
 */
import { join, resolve } from 'node:path';
import { readSplit, readUtterances, speakersOfGroup, type GroupSpeaker } from '../../src/dataset/index.js';
import { demoDir, speechoceanDir } from '../../src/paths.js';

/** One audit's worth of audio. */
export interface BenchAudit {
  speaker: string;
  group: 'target-member' | 'target-nonmember';
  /** Absolute paths of 10 utterances (≤ 2 s each). */
  files: string[];
}

/** Where the clips come from, for the record. */
export const clipSource = speechoceanDir() ?? demoDir();

/**
 * Audits alternating member / non-member speakers (members with their heldout utterances, as on a hub where
 * the voices are fresh; non-members with theirs), 10 utterances each, `count` in all (cycling).
 */
export async function benchAudits(count: number, voices = 10): Promise<BenchAudit[]> {
  const dir = clipSource;
  const splitFile = resolve(dir, 'splits', 'five-way.tsv');
  const split = await readSplit(splitFile);
  const utts = await readUtterances(dir);
  const pools = (['target-member', 'target-nonmember'] as const).map((g) =>
    speakersOfGroup(split, utts, g, splitFile).map((s) => ({
      speaker: s.speaker,
      group: g,
      files: s.heldout.slice(0, voices).map((u) => u.path),
    })),
  );
  return Array.from({ length: count }, (_, i) => {
    const pool = pools[i % 2] as BenchAudit[];
    return pool[Math.floor(i / 2) % pool.length] as BenchAudit;
  });
}

/**
 * A target-member speaker of the canonical split with its utterances (default SPEAKER0111, the one the daemon
 * tests use).
 * @throws Error when speechocean762 or the speaker is missing (`who` names the bench in the message)
 */
export async function benchMember(who: string, speaker = 'SPEAKER0111'): Promise<GroupSpeaker> {
  const data = speechoceanDir();
  if (!data) throw new Error(`${who}: speechocean762 not found (set SLMIA_DATA_DIR)`);
  const member = speakersOfGroup(
    await readSplit(join(data, 'splits', 'five-way.tsv')),
    await readUtterances(data),
    'target-member',
  ).find((s) => s.speaker === speaker);
  if (!member) throw new Error(`${who}: ${speaker} is not a target member of the split`);
  return member;
}
