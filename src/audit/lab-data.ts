/**
 * Lab data for calibration and evaluation: the voice embeddings of every speaker of some split groups under
 * one model (cached), and seeded voice-set sampling at mixing ratio r.
 */
import { resolve } from 'node:path';
import { readSplit, readUtterances, speakersOfGroup } from '../dataset/index.js';
import { sample, type Rng } from '../attack/index.js';
import { embedFilesCached, type EmbeddingCache, type VoiceSpec } from '../features/index.js';
import type { SpeakerModel } from '../model/index.js';

/** One lab speaker's voice embeddings (chunks of train clips / heldout clips). */
export interface LabSpeaker {
  speaker: string;
  group: string;
  /** 1 when the speaker is in the model's training set. */
  label: 0 | 1;
  train: Float32Array[];
  heldout: Float32Array[];
}

/** Options of {@link embedGroups}. */
export interface EmbedGroupsOptions {
  dataset: string;
  split?: string;
  /** Groups and their membership label, e.g. `{ 'shadow-member': 1, 'shadow-nonmember': 0 }`. */
  groups: Record<string, 0 | 1>;
  voice: VoiceSpec;
  cache?: EmbeddingCache;
  onProgress?: (done: number, total: number) => void;
}

/**
 * Embed all clips of the given groups with a model (through the cache).
 * @returns speakers (group order, then id) and the model queries made
 */
export async function embedGroups(
  model: SpeakerModel,
  o: EmbedGroupsOptions,
): Promise<{ speakers: LabSpeaker[]; queries: number; clips: number }> {
  const splitFile = o.split ?? resolve(o.dataset, 'splits', 'five-way.tsv');
  const utts = await readUtterances(o.dataset);
  const split = await readSplit(splitFile);
  const groups = Object.entries(o.groups).flatMap(([g, label]) =>
    speakersOfGroup(split, utts, g, splitFile).map((s) => ({ ...s, label })),
  );
  const paths = groups.flatMap((s) => [...s.train, ...s.heldout].map((u) => u.path));
  const r = await embedFilesCached(model, paths, o.voice, { cache: o.cache, onProgress: o.onProgress });
  let p = 0;
  const speakers = groups.map((s) => ({
    speaker: s.speaker,
    group: s.group,
    label: s.label,
    train: s.train.flatMap(() => r.perFile[p++]),
    heldout: s.heldout.flatMap(() => r.perFile[p++]),
  }));
  return { speakers, queries: r.queries, clips: paths.length };
}

/**
 * Every speaker of a dataset folder (utterances.tsv: utterance, speaker, path, seconds; no split) as a
 * non-member whose clips are all heldout, e.g. `../shared/data/arabic-speech-commands` as out-of-domain
 * non-members of a target trained on speechocean762.
 * @returns speakers sorted by id (group `group`, label 0) and the model queries made
 * @throws DatasetError for a folder without a readable utterances.tsv
 */
export async function embedDatasetSpeakers(
  model: SpeakerModel,
  o: { dataset: string; group: string; voice: VoiceSpec; cache?: EmbeddingCache },
): Promise<{ speakers: LabSpeaker[]; queries: number; clips: number }> {
  const utts = [...(await readUtterances(o.dataset)).values()].sort(
    (a, b) => a.speaker.localeCompare(b.speaker) || a.utterance.localeCompare(b.utterance),
  );
  const r = await embedFilesCached(
    model,
    utts.map((u) => u.path),
    o.voice,
    { cache: o.cache },
  );
  const bySpeaker = new Map<string, Float32Array[]>();
  utts.forEach((u, i) => bySpeaker.set(u.speaker, [...(bySpeaker.get(u.speaker) ?? []), ...r.perFile[i]]));
  const speakers = [...bySpeaker].map(([speaker, heldout]) => ({
    speaker,
    group: o.group,
    label: 0 as const,
    train: [],
    heldout,
  }));
  return { speakers, queries: r.queries, clips: utts.length };
}

/** A set of n voices of one speaker at mixing ratio r. */
export interface VoiceSet {
  speaker: string;
  label: 0 | 1;
  r: number;
  voices: Float32Array[];
}

/**
 * Draw a voice set: round(r·n) training voices and the rest heldout voices (non-members: all heldout).
 * @returns undefined when the speaker has too few voices of a kind
 */
export function drawVoiceSet(s: LabSpeaker, n: number, r: number, rng: Rng): VoiceSet | undefined {
  const rr = s.label === 1 ? r : 0;
  const k = Math.round(rr * n);
  if (s.train.length < k || s.heldout.length < n - k) return undefined;
  return {
    speaker: s.speaker,
    label: s.label,
    r: rr,
    voices: [...sample(s.train, k, rng), ...sample(s.heldout, n - k, rng)],
  };
}
