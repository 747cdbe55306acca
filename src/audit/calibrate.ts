/**
 * Attack calibration on a shadow model (SLMIA-SR with its three enhancements: mixing-ratio training, voice
 * chunk splitting via the bundle's voice spec, one attack model per voice count n), extended by difficulty
 * calibration: every shadow voice set is also embedded by the shadow-side reference models (never trained on
 * the shadow population — by default the target itself, which makes the bundle target-specific), and the
 * attack learns from the target − reference differences (docs/attack.md). Also trains the plain attack (the
 * baseline), each target-side reference model's guard attack, and the EncoderMI-T/-V baselines plain and
 * calibrated. Produces the attack bundle (format version 2).
 */
import { readFile } from 'node:fs/promises';
import { dirname, relative, resolve } from 'node:path';
import {
  bestAccuracyThreshold,
  fitStandardizer,
  seededRng,
  standardize,
  trainAttackModel,
  trainLogistic,
  AttackTrainingError,
  type AttackBundle,
  type AttackModelEntry,
  selectAttackModels,
  type Candidate,
  type MemberSpec,
  type SelectionTable,
  type TrainingSample,
} from '../attack/index.js';
import {
  CALIBRATED_FEATURE_NAMES,
  COMPACT_FEATURE_NAMES,
  FEATURE_NAMES,
  PLAIN_FEATURE_NAMES,
  type EmbeddingCache,
  type Similarity,
  type VoiceSpec,
} from '../features/index.js';
import { loadSpeakerModel, type SpeakerModel } from '../model/index.js';
import { readSplit, readUtterances, speakersOfGroup } from '../dataset/index.js';
import { buildReferenceEmbeddings } from './reference-bank.js';
import {
  checkAligned,
  drawVoiceSet,
  embedGroups,
  voiceDurations,
  voicesOf,
  type LabSpeaker,
  type VoiceSet,
} from './lab-data.js';
import { chooseMargin, chooseNormQuantile, imposterNullFeatures } from './selection.js';
import {
  bankContext,
  calibratedPairs,
  layoutFeatures,
  sortedDesc,
  viewOf,
  type BankContext,
  type SetView,
} from './views.js';

/**
 * The single-member candidates of the shadow-only selection, in tie-break order; the ensemble of the two best is
 * the sixth (docs/evaluation/README.md, "Shadow-only selection protocol").
 */
export const SELECTION_CANDIDATES = [
  'svm:target',
  'logistic:target',
  'svm:pairs',
  'logistic:all',
  'logistic:top6',
] as const;

/** Options of {@link runCalibration}. */
export interface CalibrateOptions {
  shadowModel: string;
  /**
   * The target model the bundle is made for: it becomes the shadow-side reference (shadow speakers are its
   * non-members) and is pinned in the bundle; the shadow becomes the target-side reference. Shortcut for
   * `calibrationReferences: [target]`, `references: [shadow]`.
   */
  targetModel?: string;
  /** Shadow-side reference models (never trained on the shadow population). */
  calibrationReferences?: string[];
  /** Target-side reference models, queried at audit time (trained on the shadow population only). */
  references?: string[];
  /** Folder the bundle will be written to (reference-model paths are stored relative to it). */
  bundleDir: string;
  dataset: string;
  split?: string;
  voiceCounts: number[];
  ratios: number[];
  voice: VoiceSpec;
  /** Random voice subsets per shadow speaker and ratio (default 4). */
  subsets?: number;
  /**
   * Ensemble, e.g. `logistic:all` or `svm:pairs+logistic:top6`. Default with references: chosen by the shadow-only
   * selection among {@link SELECTION_CANDIDATES} and the ensemble of the best two; without: `logistic:all`.
   */
  members?: string;
  targetFpr?: number;
  centre?: boolean;
  similarity?: Similarity;
  referenceVoices?: number;
  seed?: number;
  folds?: number;
  cache?: EmbeddingCache;
  /** Split groups of the shadow model's members / non-members (defaults shadow-member / shadow-nonmember). */
  memberGroup?: string;
  nonmemberGroup?: string;
  /** Reference z-normalisation of the 120 features of every model (default false). */
  znorm?: boolean;
  /**
   * Guard settings (defaults: alpha 0.025, norm quantile 0.95, norm share 0.5, range share 0.25, minimum voice
   * seconds = 1st percentile of the shadow voices).
   */
  guard?: Partial<AttackBundle['guard']>;
  /** Target-side null: voice subsets per reference speaker and n (default 4). */
  nullSubsets?: number;
  commandLine?: string;
  /** Progress: phase name, done, total. */
  onProgress?: (phase: string, done: number, total: number) => void;
}

/** A reference model that cannot serve in its role. */
export class ReferenceModelError extends AttackTrainingError {}

/**
 * Parse an ensemble spec: `+`-separated `kind:set`, kind ∈ {logistic, svm}, set ∈ {all, target, pairs, top<k>,
 * compact}: `target` = the 120 target features, `pairs` = those and their 120 target − reference differences,
 * `top<k>` = the k features of the layout with the largest single-feature shadow AUROC (ranked inside the CV,
 * src/attack/train.ts `rankFeatures`), `compact` = the fixed six of round 2's first bundles.
 * @throws RangeError for an unknown kind or set, or a set that needs reference models without any
 */
export function parseMembers(spec: string, calibrated: boolean): MemberSpec[] {
  const names = calibrated ? CALIBRATED_FEATURE_NAMES : PLAIN_FEATURE_NAMES;
  return spec.split('+').map((part) => {
    const [kind, set = 'all'] = part.split(':');
    if (kind !== 'logistic' && kind !== 'svm')
      throw new RangeError(`attack member "${part}": kind must be logistic or svm`);
    let selected: number[];
    if (set === 'all') selected = [...names.keys()];
    else if (set === 'target') selected = [...FEATURE_NAMES.keys()];
    else if (set === 'pairs' || /^top\d+$/.test(set)) {
      if (!calibrated) throw new RangeError(`attack member "${part}": the ${set} set needs reference models`);
      if (set === 'pairs')
        selected = [...FEATURE_NAMES.keys(), ...FEATURE_NAMES.map((n) => names.indexOf(`calib.${n}`))];
      else return { kind, selected: [...names.keys()], top: Number(set.slice(3)) };
    } else if (set === 'compact') {
      if (!calibrated)
        throw new RangeError(`attack member "${part}": the compact set needs reference models`);
      selected = COMPACT_FEATURE_NAMES.map((n) => names.indexOf(n));
    } else
      throw new RangeError(
        `attack member "${part}": feature set must be all, target, pairs, top<k> or compact`,
      );
    return { kind, selected };
  });
}

/** Draw shadow training voice sets for one n: every ratio × `subsets` per member, balanced non-members. */
export function shadowVoiceSets(
  speakers: LabSpeaker[],
  n: number,
  ratios: number[],
  subsets: number,
  seed: number,
): VoiceSet[] {
  const rng = seededRng(seed * 1000 + n);
  const seen = new Set<string>();
  const out: VoiceSet[] = [];
  for (const s of speakers) {
    const draws =
      s.label === 1
        ? ratios.flatMap((r) => Array<number>(subsets).fill(r))
        : Array<number>(ratios.length * subsets).fill(0);
    for (const r of draws) {
      const set = drawVoiceSet(s, n, r, rng);
      if (!set) continue;
      const k = `${s.speaker}|${set.r}|${[...set.train].sort((a, b) => a - b).join(',')}|${[...set.heldout].sort((a, b) => a - b).join(',')}`;
      if (seen.has(k)) continue;
      seen.add(k);
      out.push(set);
    }
  }
  return out;
}

/** The training speakers listed in a model's card, if any. */
async function cardSpeakers(model: SpeakerModel): Promise<string[] | undefined> {
  const card = model.manifest.card;
  if (!card) return undefined;
  try {
    const c = JSON.parse(await readFile(resolve(dirname(model.manifestPath), card), 'utf8')) as {
      training_speakers?: unknown;
    };
    return Array.isArray(c.training_speakers) ? c.training_speakers.map(String) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Calibrate an attack bundle on a shadow model.
 * @throws DatasetError, ManifestError, ModelError, AttackTrainingError, ReferenceModelError (a reference model
 *   whose card says it trained on speakers it must not have seen)
 */
export async function runCalibration(
  o: CalibrateOptions,
): Promise<{ bundle: AttackBundle; queries: number; seconds: number }> {
  const t0 = performance.now();
  const seed = o.seed ?? 1;
  const targetFpr = o.targetFpr ?? 0.01;
  const subsets = o.subsets ?? 4;
  const referenceVoices = o.referenceVoices ?? 10;
  const calPaths = o.calibrationReferences ?? (o.targetModel ? [o.targetModel] : []);
  const refPaths = o.references ?? (o.targetModel ? [o.shadowModel] : []);
  if (calPaths.length !== refPaths.length) {
    throw new ReferenceModelError(
      `${calPaths.length} shadow-side reference model(s) but ${refPaths.length} target-side reference model(s): they come in pairs`,
    );
  }
  const loaded = new Map<string, SpeakerModel>();
  const open = async (path: string): Promise<SpeakerModel> => {
    const key = resolve(path);
    let m = loaded.get(key);
    if (!m) loaded.set(key, (m = await loadSpeakerModel(path)));
    return m;
  };
  try {
    const shadow = await open(o.shadowModel);
    const cal = await Promise.all(calPaths.map(open));
    const refs = await Promise.all(refPaths.map(open));
    const target = o.targetModel ? await open(o.targetModel) : undefined;
    const memberGroup = o.memberGroup ?? 'shadow-member';
    const nonmemberGroup = o.nonmemberGroup ?? 'shadow-nonmember';
    // Roles checked against the models' cards (training speakers) where they have one.
    const splitFile = o.split ?? resolve(o.dataset, 'splits', 'five-way.tsv');
    const split = await readSplit(splitFile);
    const utts = await readUtterances(o.dataset);
    const members = new Set(speakersOfGroup(split, utts, memberGroup, splitFile).map((s) => s.speaker));
    const nonmembers = new Set(speakersOfGroup(split, utts, nonmemberGroup, splitFile).map((s) => s.speaker));
    for (const m of cal) {
      const sp = await cardSpeakers(m);
      const seen = sp?.filter((s) => members.has(s) || nonmembers.has(s)) ?? [];
      if (m.sha256 === shadow.sha256 || seen.length) {
        throw new ReferenceModelError(
          `shadow-side reference ${m.manifest.name} trained on ${m.sha256 === shadow.sha256 ? 'the shadow population (it is the shadow)' : `shadow speakers (${seen.slice(0, 3).join(', ')}…)`}; it must never have seen ${memberGroup} or ${nonmemberGroup}`,
        );
      }
    }
    // The lab's audited population (the split's target groups) and the shadow non-members must be strangers to
    // a target-side reference (its guard attack labels shadow speakers by the shadow's membership).
    const audited = new Set(
      ['target-member', 'target-nonmember'].flatMap((g) =>
        split.some((e) => e.group === g)
          ? speakersOfGroup(split, utts, g, splitFile).map((s) => s.speaker)
          : [],
      ),
    );
    for (const m of refs) {
      const sp = await cardSpeakers(m);
      const seen = sp?.filter((s) => nonmembers.has(s) || audited.has(s)) ?? [];
      if (seen.length) {
        throw new ReferenceModelError(
          `target-side reference ${m.manifest.name} trained on ${nonmemberGroup} or target speakers (${seen.slice(0, 3).join(', ')}…): it must never have seen the audited population, and its guard attack needs the shadow population's labels`,
        );
      }
    }
    const similarity = o.similarity ?? shadow.manifest.similarity;
    const centre = o.centre ?? false;
    const counts = [...o.voiceCounts].sort((a, b) => a - b);
    const settings = { similarity, centre, znorm: o.znorm ?? false, counts };
    const uniq = [...new Map([shadow, ...cal, ...refs].map((m) => [m.sha256, m])).values()];
    let queries = 0;
    const banks = new Map<string, ReturnType<typeof bankContext>>();
    const labs = new Map<string, LabSpeaker[]>();
    let clips = 0;
    for (const m of uniq) {
      const r = await buildReferenceEmbeddings(m, {
        dataset: o.dataset,
        split: o.split,
        voicesPerSpeaker: referenceVoices,
        nullVoices: 20,
        voice: o.voice,
        cache: o.cache,
        onProgress: (d, t) => o.onProgress?.(`embed references (${m.manifest.name})`, d, t),
      });
      banks.set(m.sha256, bankContext(r, settings));
      const lab = await embedGroups(m, {
        dataset: o.dataset,
        split: o.split,
        groups: { [memberGroup]: 1, [nonmemberGroup]: 0 },
        voice: o.voice,
        cache: o.cache,
        onProgress: (d, t) => o.onProgress?.(`embed shadow speakers (${m.manifest.name})`, d, t),
      });
      labs.set(m.sha256, lab.speakers);
      queries += r.queries + lab.queries;
      clips = lab.clips;
    }
    checkAligned(
      uniq.map((m) => labs.get(m.sha256) as LabSpeaker[]),
      uniq.map((m) => m.manifest.name),
    );
    // Seconds of audio per shadow voice (before padding): the guard's shortest calibration voices.
    const shadowPaths = [memberGroup, nonmemberGroup].flatMap((g) =>
      speakersOfGroup(split, utts, g, splitFile).flatMap((sp) =>
        [...sp.train, ...sp.heldout].map((u) => u.path),
      ),
    );
    const durations = (
      await voiceDurations(shadow, shadowPaths, o.voice, (d, t) => o.onProgress?.('voice durations', d, t))
    )
      .flat()
      .sort((a, b) => a - b);
    const minVoiceSeconds = durations[Math.floor(0.01 * durations.length)] ?? 0;
    const calibrated = cal.length > 0;
    const select = !o.members && calibrated;
    const specs = select ? [] : parseMembers(o.members ?? 'logistic:all', calibrated);
    const candidates: Candidate[] = select
      ? SELECTION_CANDIDATES.map((name) => ({ name, members: parseMembers(name, true) }))
      : [];
    const plainSpec: MemberSpec[] = [{ kind: 'logistic', selected: [...FEATURE_NAMES.keys()] }];
    const shadowLab = labs.get(shadow.sha256) as LabSpeaker[];
    const view = (m: SpeakerModel, i: number, set: VoiceSet): SetView =>
      viewOf(
        banks.get(m.sha256) as ReturnType<typeof bankContext>,
        voicesOf((labs.get(m.sha256) as LabSpeaker[])[i], set),
      );
    const models: AttackModelEntry[] = [];
    const plainModels: AttackModelEntry[] = [];
    const guardModels: AttackModelEntry[][] = refs.map(() => []);
    const baselines: AttackBundle['baselines'] = {
      encodermi_t: [],
      encodermi_v: [],
      encodermi_t_calibrated: [],
      encodermi_v_calibrated: [],
    };
    const gridPoints = (s: MemberSpec): number => (s.kind === 'svm' ? 12 : 4);
    const mainSpecs = select ? candidates.flatMap((c) => c.members) : specs;
    const steps = counts.length * (mainSpecs.reduce((a, s) => a + gridPoints(s), 0) + 4 * (1 + refs.length));
    let step = 0;
    const onStep = (): void => o.onProgress?.('train attack models', ++step, steps);
    const speakerIndex = new Map(shadowLab.map((s, i) => [s.speaker, i]));
    const perN = counts.map((n) => {
      const sets = shadowVoiceSets(shadowLab, n, o.ratios, subsets, seed);
      const rows = sets.map((set) => {
        const i = speakerIndex.get(set.speaker) as number;
        const vS = view(shadow, i, set);
        const vCal = cal.map((m) => view(m, i, set));
        const vRef = refs.map((m) => (m.sha256 === shadow.sha256 ? vS : view(m, i, set)));
        return { set, vS, vCal, vRef, features: layoutFeatures(vS, vCal) };
      });
      return { n, rows };
    });
    type Row = (typeof perN)[number]['rows'][number];
    const sample = (f: Float64Array, x: Row): TrainingSample => ({
      features: f,
      label: x.set.label,
      speaker: x.set.speaker,
      r: x.set.r,
    });
    const folds = o.folds ?? 3;
    const mainSamples = perN.map(({ n, rows }) => ({ n, samples: rows.map((x) => sample(x.features, x)) }));
    // Shadow-only choices (docs/evaluation/README.md, "Shadow-only selection protocol").
    o.onProgress?.('shadow-side imposter null', 0, 1);
    const margin = chooseMargin(
      mainSamples,
      imposterNullFeatures(
        banks.get(shadow.sha256) as BankContext,
        cal.map((m) => banks.get(m.sha256) as BankContext),
        settings,
        o.nullSubsets ?? 4,
        seed,
      ),
      folds,
      seed,
    );
    const normShare = o.guard?.norm_share ?? 0.5;
    const normQuantile = calibrated
      ? chooseNormQuantile(
          cal.map((m) => banks.get(m.sha256) as BankContext),
          perN.flatMap(({ rows }) => rows.map((x) => x.vCal.map((v) => v.logNorms))),
          normShare,
        )
      : undefined;
    const common = { targetFpr, seed, folds: o.folds, onStep, quantizationMargin: margin.chosen };
    let selection: SelectionTable | undefined;
    let attackModel = o.members ?? 'logistic:all';
    if (select) {
      const r = selectAttackModels(mainSamples, candidates, common);
      models.push(...r.models);
      selection = r.table;
      attackModel = r.chosen.name;
    } else {
      for (const { n, samples } of mainSamples)
        models.push(trainAttackModel(samples, { ...common, n, members: specs }));
    }
    for (const { n, rows } of perN) {
      const c = { ...common, n };
      plainModels.push(
        trainAttackModel(
          rows.map((x) => sample(Float64Array.from(x.vS.features), x)),
          { ...c, members: plainSpec },
        ),
      );
      refs.forEach((_, j) =>
        guardModels[j].push(
          trainAttackModel(
            rows.map((x) => sample(Float64Array.from(x.vRef[j].features), x)),
            { ...c, members: plainSpec },
          ),
        ),
      );
      const y = rows.map((x) => x.set.label);
      const fitV = (pairs: Float64Array[]): AttackBundle['baselines']['encodermi_v'][number] => {
        const std = fitStandardizer(pairs);
        const lr = trainLogistic(
          pairs.map((p) => standardize(std, p)),
          y,
          1e-2,
        );
        return { n, standardization: std, classifier: { kind: 'logistic', w: lr.w, b: lr.b, l2: lr.l2 } };
      };
      baselines.encodermi_t.push({
        n,
        feature: 'intra.pairs.mean',
        threshold: bestAccuracyThreshold(
          rows.map((x) => x.vS.raw[4]),
          y,
        ),
      });
      baselines.encodermi_v.push(fitV(rows.map((x) => sortedDesc(x.vS.pairs))));
      if (calibrated) {
        baselines.encodermi_t_calibrated.push({
          n,
          feature: 'calib.intra.pairs.mean',
          threshold: bestAccuracyThreshold(
            rows.map((x) => calibratedT(x.vS, x.vCal)),
            y,
          ),
        });
        baselines.encodermi_v_calibrated.push(fitV(rows.map((x) => calibratedPairs(x.vS, x.vCal))));
      }
    }
    const ref = (m: SpeakerModel): { name: string; sha256: string; architecture?: string } => ({
      name: m.manifest.name,
      sha256: m.sha256,
      ...(m.manifest.architecture && { architecture: m.manifest.architecture }),
    });
    const pinned = target && cal.some((m) => m.sha256 === target.sha256) ? ref(target) : null;
    const sb = banks.get(shadow.sha256) as ReturnType<typeof bankContext>;
    const bundle: AttackBundle = {
      format: 'slmia-attack',
      version: 2,
      created_at: new Date().toISOString(),
      command_line: o.commandLine ?? '',
      shadow_models: [ref(shadow)],
      target: pinned,
      references: refs.map((m, j) => ({
        ...ref(m),
        path: relative(resolve(o.bundleDir), m.manifestPath),
        guard_models: guardModels[j],
      })),
      calibration_references: cal.map(ref),
      features: {
        names: [...(calibrated ? CALIBRATED_FEATURE_NAMES : PLAIN_FEATURE_NAMES)],
        similarity,
        centre,
        normalization: o.znorm ? 'reference-znorm' : 'none',
        voice: { chunk_seconds: o.voice.chunkSeconds, pad: o.voice.pad ?? 'none' },
        reference: {
          group: sb.references.group,
          speakers: sb.references.speakers.length,
          voices_per_speaker: referenceVoices,
        },
      },
      ratios: o.ratios,
      target_fpr: targetFpr,
      attack_model: attackModel,
      models,
      plain_models: plainModels,
      guard: {
        alpha: 0.025,
        norm_quantile: normQuantile?.chosen ?? 0.95,
        norm_share: normShare,
        range_share: 0.25,
        min_voice_seconds: Math.round(minVoiceSeconds * 1000) / 1000,
        ...o.guard,
      },
      null: { subsets: o.nullSubsets ?? 4, seed },
      baselines,
      notes: {
        subsets_per_speaker_and_ratio: subsets,
        seed,
        shadow_speakers: shadowLab.length,
        shadow_clips: clips,
        queries,
        selection: {
          protocol: 'docs/evaluation/README.md, "Shadow-only selection protocol"',
          attack_model: selection ?? `fixed by --attack-model ${attackModel}`,
          quantization_margin: margin,
          ...(normQuantile && { guard_norm_quantile: normQuantile }),
        },
      },
    };
    return { bundle, queries, seconds: (performance.now() - t0) / 1000 };
  } finally {
    for (const m of loaded.values()) await m.close();
  }
}

/** Calibrated EncoderMI-T: intra.pairs.mean of the model minus the mean over reference models (raw features). */
export function calibratedT(v: SetView, refs: SetView[]): number {
  return v.raw[4] - refs.reduce((a, r) => a + r.raw[4], 0) / Math.max(1, refs.length);
}
