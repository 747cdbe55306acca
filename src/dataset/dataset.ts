/**
 * Dataset folders in the documented layout (../shared/data/README.md):
 *   utterances.tsv  utterance, speaker, path (relative to the folder), seconds, ...
 *   splits/<name>.tsv  utterance, speaker, group, role
 * Groups of the canonical SLMIA-SR split: imposter, target-member, target-nonmember, shadow-member,
 * shadow-nonmember. Role `train` = used to train that group's model; `heldout` = never trained on.
 */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { DatasetError } from '../errors.js';

/** One utterance of a dataset. `path` is absolute. */
export interface Utterance {
  utterance: string;
  speaker: string;
  path: string;
  /** Duration, seconds (from the TSV). */
  seconds: number;
}

/** One utterance's place in a split. */
export interface SplitEntry {
  utterance: string;
  speaker: string;
  group: string;
  role: 'train' | 'heldout';
}

/** The canonical split groups. */
export const SPLIT_GROUPS = [
  'imposter',
  'target-member',
  'target-nonmember',
  'shadow-member',
  'shadow-nonmember',
] as const;

/** Parse a TSV with a header row into records; every listed column must exist. */
export async function readTsv(file: string, required: string[]): Promise<Record<string, string>[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new DatasetError(file, `cannot read (${(err as Error).message})`, { cause: err });
  }
  const lines = text.split(/\r?\n/).filter((l) => l.length > 0);
  const header = (lines[0] ?? '').split('\t');
  for (const col of required) {
    if (!header.includes(col))
      throw new DatasetError(file, `missing column "${col}" (header: ${header.join(', ')})`);
  }
  return lines.slice(1).map((line, i) => {
    const cells = line.split('\t');
    if (cells.length < header.length) {
      throw new DatasetError(file, `line ${i + 2} has ${cells.length} cells, header has ${header.length}`);
    }
    return Object.fromEntries(header.map((h, j) => [h, cells[j] as string]));
  });
}

/**
 * Read `<dir>/utterances.tsv`.
 * @returns utterances keyed by utterance id
 * @throws DatasetError when the file or a column is missing
 */
export async function readUtterances(dir: string): Promise<Map<string, Utterance>> {
  const rows = await readTsv(resolve(dir, 'utterances.tsv'), ['utterance', 'speaker', 'path', 'seconds']);
  return new Map(
    rows.map((r) => [
      r.utterance as string,
      {
        utterance: r.utterance as string,
        speaker: r.speaker as string,
        path: resolve(dir, r.path as string),
        seconds: Number(r.seconds),
      },
    ]),
  );
}

/**
 * Read a split TSV (utterance, speaker, group, role).
 * @throws DatasetError for a missing column or a role other than train/heldout
 */
export async function readSplit(file: string): Promise<SplitEntry[]> {
  const rows = await readTsv(file, ['utterance', 'speaker', 'group', 'role']);
  return rows.map((r, i) => {
    if (r.role !== 'train' && r.role !== 'heldout') {
      throw new DatasetError(file, `line ${i + 2}: role "${r.role}", expected "train" or "heldout"`);
    }
    return {
      utterance: r.utterance as string,
      speaker: r.speaker as string,
      group: r.group as string,
      role: r.role,
    };
  });
}

/** A speaker of one split group with their utterances by role. */
export interface GroupSpeaker {
  speaker: string;
  group: string;
  train: Utterance[];
  heldout: Utterance[];
}

/**
 * Speakers of one split group, sorted by id, each with their train and heldout utterances (sorted by id).
 * @throws DatasetError when the split names an utterance that utterances.tsv lacks
 */
export function speakersOfGroup(
  split: SplitEntry[],
  utterances: Map<string, Utterance>,
  group: string,
  splitFile = 'split',
): GroupSpeaker[] {
  const bySpeaker = new Map<string, GroupSpeaker>();
  for (const e of split) {
    if (e.group !== group) continue;
    const u = utterances.get(e.utterance);
    if (!u) throw new DatasetError(splitFile, `utterance ${e.utterance} is not in utterances.tsv`);
    let s = bySpeaker.get(e.speaker);
    if (!s) bySpeaker.set(e.speaker, (s = { speaker: e.speaker, group, train: [], heldout: [] }));
    s[e.role].push(u);
  }
  const out = [...bySpeaker.values()].sort((a, b) => a.speaker.localeCompare(b.speaker));
  for (const s of out) {
    s.train.sort((a, b) => a.utterance.localeCompare(b.utterance));
    s.heldout.sort((a, b) => a.utterance.localeCompare(b.utterance));
  }
  return out;
}
