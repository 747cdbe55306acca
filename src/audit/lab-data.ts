/**
 * Lab data for calibration and evaluation: the voice embeddings of every speaker of some split groups under
 * one model (cached), and seeded voice-set sampling at mixing ratio r.
 */
import { resolve } from 'node:path';
import { readSplit, readUtterances, speakersOfGroup } from '../dataset/index.js';
import { sample, type Rng } from '../attack/index.js';
import { embedFilesCached, voiceSeconds, type EmbeddingCache, type VoiceSpec } from '../features/index.js';
import { loadClip } from '../audio/index.js';
import { AudioError } from '../errors.js';
import type { SpeakerModel } from '../model/index.js';

/** One lab speaker's voice embeddings (chunks of train clips / heldout clips). */
export interface LabSpeaker {
  speaker: string;
  group: string;
  /** 1 when the speaker is in the model's training set. */
  label: 0 | 1;
  train: Float32Array[];
  heldout: Float32Array[];
  /** The clips the voices came from (train then heldout clips, in voice order; a clip gives ≥ 0 voices). */
  clips?: string[];
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
    clips: [...s.train, ...s.heldout].map((u) => u.path),
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
  const clipsOf = new Map<string, string[]>();
  utts.forEach((u, i) => {
    bySpeaker.set(u.speaker, [...(bySpeaker.get(u.speaker) ?? []), ...r.perFile[i]]);
    clipsOf.set(u.speaker, [...(clipsOf.get(u.speaker) ?? []), u.path]);
  });
  const speakers = [...bySpeaker].map(([speaker, heldout]) => ({
    speaker,
    group: o.group,
    label: 0 as const,
    train: [],
    heldout,
    clips: clipsOf.get(speaker) ?? [],
  }));
  return { speakers, queries: r.queries, clips: utts.length };
}

/** A set of n voices of one speaker at mixing ratio r, as indices into the speaker's train / heldout voices. */
export interface VoiceSet {
  speaker: string;
  label: 0 | 1;
  r: number;
  train: number[];
  heldout: number[];
}

/**
 * Draw a voice set: round(r·n) training voices and the rest heldout voices (non-members: all heldout).
 * Works on indices, so the same set can be looked up under several models (same speakers, same order).
 * @returns undefined when the speaker has too few voices of a kind
 */
export function drawVoiceSet(s: LabSpeaker, n: number, r: number, rng: Rng): VoiceSet | undefined {
  const rr = s.label === 1 ? r : 0;
  const k = Math.round(rr * n);
  if (s.train.length < k || s.heldout.length < n - k) return undefined;
  const idx = (len: number): number[] => [...Array(len).keys()];
  return {
    speaker: s.speaker,
    label: s.label,
    r: rr,
    train: sample(idx(s.train.length), k, rng),
    heldout: sample(idx(s.heldout.length), n - k, rng),
  };
}

/** The voice embeddings of a set under one model's view of the same speaker. */
export function voicesOf(s: LabSpeaker, set: VoiceSet): Float32Array[] {
  return [...set.train.map((i) => s.train[i]), ...set.heldout.map((i) => s.heldout[i])];
}

/**
 * Check that several models' views of the same speakers line up voice for voice (same speakers, same number
 * of train and heldout voices), so index-based voice sets mean the same voices under every model.
 * @throws Error naming the first speaker that differs (e.g. a clip kept by one model's speech-activity stage
 *   and dropped by another's)
 */
export function checkAligned(labs: LabSpeaker[][], names: string[]): void {
  const [first, ...rest] = labs;
  rest.forEach((lab, m) => {
    first.forEach((s, i) => {
      const o = lab[i];
      if (
        !o ||
        o.speaker !== s.speaker ||
        o.train.length !== s.train.length ||
        o.heldout.length !== s.heldout.length
      )
        throw new Error(
          `speaker ${s.speaker}: models ${names[0]} and ${names[m + 1]} kept different voices (${s.train.length}+${s.heldout.length} vs ${o?.train.length}+${o?.heldout.length})`,
        );
    });
  });
}

/**
 * Seconds of audio in every voice of some files (decoded and prepared exactly as for embedding: resampling,
 * trimming, VAD; before wrap padding). Files the preparation rejects (e.g. too little speech) get no voices,
 * as in the embeddings.
 * @returns per file, `[voices]` seconds
 */
export async function voiceDurations(
  model: SpeakerModel,
  paths: string[],
  voice: VoiceSpec,
  onProgress?: (done: number, total: number) => void,
): Promise<number[][]> {
  const m = model.manifest;
  const out: number[][] = [];
  for (const p of paths) {
    try {
      const clip = await loadClip(p, { sampleRate: m.sample_rate, minSeconds: m.min_seconds });
      out.push(voiceSeconds(clip.samples, m.sample_rate, voice));
    } catch (err) {
      if (!(err instanceof AudioError)) throw err;
      out.push([]);
    }
    if (out.length % 64 === 0) onProgress?.(out.length, paths.length);
  }
  return out;
}

/**
 * Seconds of audio of every voice of lab speakers, `[train voices ++ heldout voices]` per speaker in voice order.
 * @throws Error when a speaker's durations do not line up with its voices (a clip embedded but not decodable)
 */
export async function labVoiceSeconds(
  model: SpeakerModel,
  speakers: LabSpeaker[],
  voice: VoiceSpec,
  onProgress?: (done: number, total: number) => void,
): Promise<number[][]> {
  const paths = speakers.flatMap((s) => s.clips ?? []);
  const d = await voiceDurations(model, paths, voice, onProgress);
  let p = 0;
  return speakers.map((s) => {
    const v = (s.clips ?? []).flatMap(() => d[p++]);
    if (v.length !== s.train.length + s.heldout.length)
      throw new Error(
        `speaker ${s.speaker}: ${v.length} voice durations for ${s.train.length + s.heldout.length} voices`,
      );
    return v;
  });
}

/** Seconds of the voices of a set (durations as from {@link labVoiceSeconds}). */
export function secondsOf(s: LabSpeaker, seconds: number[], set: VoiceSet): number[] {
  return [...set.train.map((i) => seconds[i]), ...set.heldout.map((i) => seconds[s.train.length + i])];
}
