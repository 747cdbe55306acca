/**
 * Paper-style evaluation of an attack bundle on a target model (SLMIA-SR Sec. V), extended for calibrated
 * verdicts: member speakers of the target at r = 1, 0.5 and 0 against non-member speakers, several voice-set
 * seeds (mean, spread, and a bootstrap interval over speakers of the seed-mean AUROC); SLMIA-SR calibrated
 * (quantized, plus float for the quantization check), SLMIA-SR plain, EncoderMI-T/-V plain and calibrated;
 * the verdicts exactly as an audit gives them (target-side null, out-of-domain guard) at the bundle's target
 * FPR and at 5%: realised TPR / FPR / inconclusive share with bootstrap intervals; queries per model; and
 * out-of-domain non-members (speakers of another corpus, e.g. Arabic keywords): member and inconclusive shares.
 */
import { existsSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import {
  accuracy,
  auroc,
  AttackScorer,
  nullPValue,
  readBundle,
  rocCurve,
  sample,
  seededRng,
  tprAtFpr,
  AttackBundleError,
  type NullFit,
  type RocPoint,
} from '../attack/index.js';
import { readTsv } from '../dataset/index.js';
import { embedFilesCached, voiceLogNorms, type EmbeddingCache } from '../features/index.js';
import { loadSpeakerModel, type SpeakerModel } from '../model/index.js';
import { bundleVoiceSpec, decideVerdict, nullFileName, nullIds, writeNullFile } from './audit-speaker.js';
import { calibratedT } from './calibrate.js';
import {
  checkAligned,
  drawVoiceSet,
  embedDatasetSpeakers,
  embedGroups,
  labVoiceSeconds,
  secondsOf,
  voiceDurations,
  voicesOf,
  type LabSpeaker,
  type VoiceSet,
} from './lab-data.js';
import { buildReferenceEmbeddings, referencesFileName, writeReferenceFile } from './reference-bank.js';
import {
  applyGuard,
  bankContext,
  bundleFeatureSettings,
  averagedNullKeys,
  calibratedPairs,
  computeAveragedNull,
  referencePoolSize,
  computeTargetNull,
  layoutFeatures,
  sortedDesc,
  viewOf,
  voiceSubsets,
  type BankContext,
  type SetView,
  type TargetNull,
} from './views.js';

/** Attacks of a report. */
export type AttackName =
  | 'slmia-sr'
  | 'slmia-sr-plain'
  | 'encodermi-t'
  | 'encodermi-t-calibrated'
  | 'encodermi-v'
  | 'encodermi-v-calibrated';

/** Verdict figures at one target FPR (SLMIA-SR rows): means over seeds, bootstrap 95% intervals. */
export interface VerdictFigures {
  target_fpr: number;
  tpr: number;
  tpr_sd: number;
  tpr_ci95: [number, number];
  fpr: number;
  fpr_sd: number;
  fpr_ci95: [number, number];
  /** Share of all audited speakers (members and non-members) whose verdict was inconclusive. */
  inconclusive: number;
  /** Share of all audited speakers per inconclusive reason (over all seeds). */
  reasons: Record<string, number>;
}

/** One row of the report: an attack at one (r, n), over all seeds. */
export interface ReportRow {
  attack: AttackName;
  r: number;
  n: number;
  seeds: number;
  /** Mean over seeds. */
  auroc: number;
  auroc_sd: number;
  /** 95% bootstrap interval over speakers of the seed-mean AUROC. */
  auroc_ci95: [number, number];
  accuracy: number;
  tpr_at_1pct_fpr: number;
  tpr_at_5pct_fpr: number;
  n_members: number;
  n_nonmembers: number;
  /** SLMIA-SR: AUROC on float (unquantized) features, same models (mean over seeds). */
  auroc_float?: number;
  /** SLMIA-SR: verdicts as audits give them, at the bundle's target FPR and at 5%. */
  verdicts?: VerdictFigures[];
}

/**
 * Every voice of every speaker (members: train and heldout clips, so r ≈ 0.5; non-members: all heldout), more
 * than the largest attack model's n: scored as an audit does (several n-voice subsets, averaged, on the
 * averaged null of the reference speakers).
 */
export interface AllVoicesFigures {
  voices: number;
  n: number;
  voice_sets: number;
  auroc: number;
  auroc_ci95: [number, number];
  verdicts: { target_fpr: number; tpr: number; fpr: number; inconclusive: number }[];
  n_members: number;
  n_nonmembers: number;
}

/** Out-of-domain non-members: share called member / inconclusive. */
export interface OodRow {
  set: string;
  speakers: number;
  voices: number;
  member_at_1pct: number;
  member_at_5pct: number;
  inconclusive: number;
  /** Share whose p-value is ≤ 1% ignoring the guard (what the guard prevents). */
  unguarded_member_at_1pct: number;
  /** Share of speakers per inconclusive reason. */
  reasons: Record<string, number>;
  /** Share called member at 1% with every guard but the voice-duration one (what that guard adds). */
  member_without_duration_guard_at_1pct: number;
}

/** The evaluation result (report.json). */
export interface EvaluationReport {
  rows: ReportRow[];
  /** Audits with all voices of every speaker (absent when speakers have no more voices than the largest n). */
  all_voices?: AllVoicesFigures;
  ood: OodRow[];
  /** All model queries of this run (reference banks + audited speakers), per model name. */
  queries: number;
  queries_per_model: Record<string, number>;
  reference_queries: number;
  speaker_queries: number;
  /** Clips embedded per model for audited speakers; bound = ceil(clips / max_batch) per speaker and model. */
  speaker_clips: number;
  speakers: number;
  max_batch: number;
  /** Where the non-members come from: the split's `target-nonmember` group, or another dataset (out-of-domain). */
  nonmembers: string;
  seeds: number[];
  wall_seconds: number;
  target: { name: string; sha256: string; architecture?: string };
  references: { name: string; sha256: string; architecture?: string }[];
  attack: {
    path: string;
    id: string;
    attack_model: string;
    shadow_models: string[];
    calibration_references: string[];
    pinned_target: string | null;
    voice: string;
    centre: boolean;
    normalization: string;
  };
  null: {
    speakers: number;
    sets_per_n: Record<string, number>;
    mean: Record<string, number>;
    std: Record<string, number>;
  };
  /** Lowest FPR the non-member count supports (1 / non-members). */
  lowest_supported_fpr: number;
  roc: { attack: string; r: number; n: number; points: RocPoint[] }[];
  created_at: string;
  command_line: string;
}

/** Options of {@link runEvaluation}. */
export interface EvaluateOptions {
  targetModel: string;
  attackPath: string;
  dataset: string;
  split?: string;
  /** Voice counts to evaluate (default: every n of the bundle). */
  voiceCounts?: number[];
  /** Mixing ratios of the member rows (default 1, 0.5, 0). */
  ratios?: number[];
  /** Voice-set seeds (default 5 seeds: 7…11). */
  seeds?: number[];
  cache?: EmbeddingCache;
  /**
   * Non-members from another dataset folder (all its speakers, every clip) instead of the split's
   * `target-nonmember` group: how the attack ranks speakers outside the calibration population.
   */
  nonmemberDataset?: string;
  /** Out-of-domain corpus folder (utterances.tsv with speaker, keyword, path), e.g. arabic-speech-commands. */
  oodDataset?: string;
  /** Further out-of-domain corpus folders; their rows' set names start with the folder name. */
  extraOodDatasets?: string[];
  /** Also write the target's and the reference models' banks and the target null beside the bundle. */
  exportReferences?: boolean;
  commandLine?: string;
  onProgress?: (phase: string, done: number, total: number) => void;
}

/** Small stable string hash (per-speaker seeds). */
function hash(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return (h >>> 0) % 100003;
}

/** Mean and population std. */
function meanSd(v: number[]): [number, number] {
  const m = v.reduce((a, b) => a + b, 0) / v.length;
  return [m, Math.sqrt(v.reduce((a, b) => a + (b - m) ** 2, 0) / v.length)];
}

/**
 * 95% percentile bootstrap interval of a per-seed statistic averaged over seeds, resampling speakers
 * (members and non-members separately, the same resample for every seed).
 * @param scores `[seeds][speakers]` scores, same speaker order in every seed
 * @param stat statistic of (scores, labels) for one seed
 */
export function bootstrapSeedMeanCi(
  scores: number[][],
  labels: number[],
  stat: (s: number[], y: number[]) => number,
  rounds = 1000,
  seed = 1,
): [number, number] {
  const rng = seededRng(seed);
  const pos = labels.flatMap((l, i) => (l === 1 ? [i] : []));
  const neg = labels.flatMap((l, i) => (l === 0 ? [i] : []));
  const vals: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const idx = [
      ...pos.map(() => pos[Math.floor(rng() * pos.length)]),
      ...neg.map(() => neg[Math.floor(rng() * neg.length)]),
    ];
    const y = idx.map((i) => labels[i]);
    vals.push(
      scores.reduce(
        (a, s) =>
          a +
          stat(
            idx.map((i) => s[i]),
            y,
          ),
        0,
      ) / scores.length,
    );
  }
  vals.sort((a, b) => a - b);
  return [vals[Math.floor(0.025 * rounds)], vals[Math.min(rounds - 1, Math.ceil(0.975 * rounds) - 1)]];
}

/** Everything needed to score voice sets like an audit. */
interface Scoring {
  bundle: Awaited<ReturnType<typeof readBundle>>['bundle'];
  scorer: AttackScorer;
  nul: TargetNull;
  banks: BankContext[];
}

/** Score one voice set given each model's voices (target first): what an audit computes. */
function scoreSet(sc: Scoring, voices: Float32Array[][], seconds: number[], fprs: number[]) {
  const views: SetView[] = voices.map((v, k) => viewOf(sc.banks[k], v));
  const features = layoutFeatures(views[0], views.slice(1));
  const n = voices[0].length;
  const model = sc.scorer.main.modelFor(n);
  const q = sc.scorer.main.decide(model, features);
  const fit = sc.nul.main.get(model.n) as NullFit;
  const guardNulls = sc.nul.guard.map((g) => g.get(model.n));
  const f = sc.scorer.main.decide(model, features, false);
  const guardDecisions = sc.banks.slice(1).map((_, j) => {
    const g = sc.scorer.guards[j];
    return g.decide(g.modelFor(n), views[j + 1].features).decision;
  });
  const guardOf = (bundle: Scoring['bundle']) =>
    applyGuard(
      bundle,
      guardNulls,
      sc.nul.normThreshold,
      guardDecisions,
      views.slice(1).map((v) => v.logNorms),
      q.outOfRange,
      seconds,
    );
  const guard = guardOf(sc.bundle);
  const noDuration = guardOf({ ...sc.bundle, guard: { ...sc.bundle.guard, min_voice_seconds: 0 } });
  const withoutDuration = !noDuration.reason && nullPValue(fit, q.decision) <= 0.01;
  const verdicts = fprs.map(
    (fpr) =>
      decideVerdict({ ...sc, bundle: { ...sc.bundle, target_fpr: fpr } }, model.n, fit, q.decision, guard)
        .verdict,
  );
  const plain = sc.scorer.plain.decide(sc.scorer.plain.modelFor(n), views[0].features).decision;
  const bT = sc.scorer.baselines(views[0].raw[4], sortedDesc(views[0].pairs), model.n);
  const calibrated = views.length > 1;
  const bC = calibrated
    ? sc.scorer.baselines(
        calibratedT(views[0], views.slice(1)),
        calibratedPairs(views[0], views.slice(1)),
        model.n,
        true,
      )
    : undefined;
  return {
    decision: q.decision,
    decisionFloat: f.decision,
    p: nullPValue(fit, q.decision),
    verdicts,
    reason: guard.reason,
    withoutDuration,
    plain,
    t: bT.t,
    v: bT.v ?? 0.5,
    tc: bC?.t,
    vc: bC?.v,
  };
}

/**
 * Evaluate SLMIA-SR (calibrated and plain) and the baselines on a target model.
 * @throws DatasetError, ManifestError, ModelError, AttackBundleError (pinned to another target)
 */
export async function runEvaluation(o: EvaluateOptions): Promise<EvaluationReport> {
  const t0 = performance.now();
  const { bundle, id } = await readBundle(o.attackPath);
  const bundleDir = dirname(resolve(o.attackPath));
  const scorer = new AttackScorer(bundle);
  const voice = bundleVoiceSpec(bundle);
  const target = await loadSpeakerModel(o.targetModel);
  const models: SpeakerModel[] = [target];
  try {
    if (bundle.target && bundle.target.sha256 !== target.sha256) {
      throw new AttackBundleError(
        o.attackPath,
        `calibrated for target ${bundle.target.name} (${bundle.target.sha256.slice(0, 12)}…), not ${target.manifest.name}`,
      );
    }
    for (const r of bundle.references) models.push(await loadSpeakerModel(resolve(bundleDir, r.path)));
    const settings = bundleFeatureSettings(bundle);
    const queriesPerModel: Record<string, number> = {};
    const count = (m: SpeakerModel, q: number): void => {
      queriesPerModel[m.manifest.name] = (queriesPerModel[m.manifest.name] ?? 0) + q;
    };
    const banks: BankContext[] = [];
    const labs: LabSpeaker[][] = [];
    let referenceQueries = 0;
    let speakerQueries = 0;
    let clips = 0;
    for (const m of models) {
      const refs = await buildReferenceEmbeddings(m, {
        dataset: o.dataset,
        split: o.split,
        group: bundle.features.reference.group,
        voicesPerSpeaker: bundle.features.reference.voices_per_speaker,
        voice,
        cache: o.cache,
        onProgress: (d, t) => o.onProgress?.(`embed references (${m.manifest.name})`, d, t),
      });
      if (o.exportReferences) {
        await writeReferenceFile(resolve(bundleDir, referencesFileName(m.sha256)), refs, m.manifest.name);
      }
      banks.push(bankContext(refs, settings));
      const lab = await embedGroups(m, {
        dataset: o.dataset,
        split: o.split,
        groups: o.nonmemberDataset ? { 'target-member': 1 } : { 'target-member': 1, 'target-nonmember': 0 },
        voice,
        cache: o.cache,
        onProgress: (d, t) => o.onProgress?.(`embed target speakers (${m.manifest.name})`, d, t),
      });
      if (o.nonmemberDataset) {
        const ood = await embedDatasetSpeakers(m, {
          dataset: o.nonmemberDataset,
          group: 'out-of-domain',
          voice,
          cache: o.cache,
        });
        lab.speakers.push(...ood.speakers);
        lab.queries += ood.queries;
        lab.clips += ood.clips;
      }
      labs.push(lab.speakers);
      count(m, refs.queries + lab.queries);
      referenceQueries += refs.queries;
      speakerQueries += lab.queries;
      clips = lab.clips;
    }
    checkAligned(
      labs,
      models.map((m) => m.manifest.name),
    );
    const seconds = await labVoiceSeconds(target, labs[0], voice, (d, t) =>
      o.onProgress?.('voice durations', d, t),
    );
    const nul = computeTargetNull(bundle, scorer, banks[0], banks.slice(1));
    if (o.exportReferences) {
      // ship the nulls of averaged audits too (every voice count a reference speaker can match)
      for (const key of averagedNullKeys(referencePoolSize(banks[0]), scorer.voiceCounts))
        nul.averaged.set(key, computeAveragedNull(bundle, scorer, banks[0], banks.slice(1), key));
      await writeNullFile(resolve(bundleDir, nullFileName(id, target.sha256)), nul, nullIds(id, banks));
    }
    const sc: Scoring = { bundle, scorer, nul, banks };
    const fprs = [...new Set([bundle.target_fpr, 0.05])];
    const counts = o.voiceCounts ?? scorer.voiceCounts;
    const ratios = o.ratios ?? [1, 0.5, 0];
    const seeds = o.seeds ?? [7, 8, 9, 10, 11];
    const rows: ReportRow[] = [];
    const roc: EvaluationReport['roc'] = [];
    let done = 0;
    const speakers = labs[0];
    for (const n of counts) {
      for (const r of ratios) {
        // Speakers with enough voices for (n, r) after the speech-activity stage (VAD may drop a clip).
        const eligible = speakers.flatMap((s, i) => {
          const k = Math.round((s.label === 1 ? r : 0) * n);
          return s.train.length >= k && s.heldout.length >= n - k ? [i] : [];
        });
        const y = eligible.map((i) => speakers[i].label as number);
        // per seed: one voice set per speaker; non-members draw the same set for every r.
        const perSeed = seeds.map((seed) =>
          eligible.map((i) => {
            const s = speakers[i];
            const rng = seededRng(
              seed * 7919 + n * 131 + (s.label === 1 ? Math.round(r * 100) : 0) + hash(s.speaker),
            );
            const set = drawVoiceSet(s, n, r, rng) as VoiceSet;
            return scoreSet(
              sc,
              labs.map((lab) => voicesOf(lab[i], set)),
              secondsOf(s, seconds[i], set),
              fprs,
            );
          }),
        );
        const row = (
          attack: AttackName,
          pick: (x: ReturnType<typeof scoreSet>) => number,
          thr: number,
        ): ReportRow => {
          const sc2 = perSeed.map((xs) => xs.map(pick));
          const [au, auSd] = meanSd(sc2.map((s) => auroc(s, y)));
          return {
            attack,
            r,
            n,
            seeds: seeds.length,
            auroc: au,
            auroc_sd: auSd,
            auroc_ci95: bootstrapSeedMeanCi(sc2, y, auroc, 1000, n * 10 + Math.round(r * 10)),
            accuracy: meanSd(sc2.map((s) => accuracy(s, y, thr)))[0],
            tpr_at_1pct_fpr: meanSd(sc2.map((s) => tprAtFpr(s, y, 0.01)))[0],
            tpr_at_5pct_fpr: meanSd(sc2.map((s) => tprAtFpr(s, y, 0.05)))[0],
            n_members: y.filter((v) => v === 1).length,
            n_nonmembers: y.filter((v) => v === 0).length,
          };
        };
        const main = row('slmia-sr', (x) => x.decision, Infinity);
        main.accuracy = meanSd(
          perSeed.map(
            (xs) => xs.filter((x, i) => (x.verdicts[0] === 'member' ? 1 : 0) === y[i]).length / y.length,
          ),
        )[0];
        main.auroc_float = meanSd(
          perSeed.map((xs) =>
            auroc(
              xs.map((x) => x.decisionFloat),
              y,
            ),
          ),
        )[0];
        main.verdicts = fprs.map((fpr, fi) => {
          const member = perSeed.map((xs) => xs.map((x) => (x.verdicts[fi] === 'member' ? 1 : 0)));
          const rate = (s: number[], yy: number[], cls: number): number => {
            const idx = yy.flatMap((l, i) => (l === cls ? [i] : []));
            return idx.reduce((a, i) => a + s[i], 0) / Math.max(1, idx.length);
          };
          const [tpr, tprSd] = meanSd(member.map((s) => rate(s, y, 1)));
          const [fpr2, fprSd] = meanSd(member.map((s) => rate(s, y, 0)));
          return {
            target_fpr: fpr,
            tpr,
            tpr_sd: tprSd,
            tpr_ci95: bootstrapSeedMeanCi(member, y, (s, yy) => rate(s, yy, 1), 1000, 11),
            fpr: fpr2,
            fpr_sd: fprSd,
            fpr_ci95: bootstrapSeedMeanCi(member, y, (s, yy) => rate(s, yy, 0), 1000, 12),
            inconclusive: meanSd(
              perSeed.map((xs) => xs.filter((x) => x.verdicts[fi] === 'inconclusive').length / xs.length),
            )[0],
            reasons: reasonShares(perSeed.flat()),
          };
        });
        const plainBundle = bundle.baselines.encodermi_t.find((b) => b.n === n)?.threshold ?? 0;
        const calT = bundle.baselines.encodermi_t_calibrated.find((b) => b.n === n)?.threshold ?? 0;
        rows.push(
          main,
          row('slmia-sr-plain', (x) => x.plain, 0),
          row('encodermi-t', (x) => x.t, plainBundle),
          row('encodermi-v', (x) => x.v, 0.5),
        );
        if (bundle.references.length) {
          rows.push(
            row('encodermi-t-calibrated', (x) => x.tc ?? 0, calT),
            row('encodermi-v-calibrated', (x) => x.vc ?? 0.5, 0.5),
          );
        }
        if (r === 0 || r === 1) {
          const first = perSeed[0];
          roc.push(
            {
              attack: 'slmia-sr',
              r,
              n,
              points: rocCurve(
                first.map((x) => x.decision),
                y,
              ),
            },
            {
              attack: 'slmia-sr-plain',
              r,
              n,
              points: rocCurve(
                first.map((x) => x.plain),
                y,
              ),
            },
            {
              attack: 'encodermi-t',
              r,
              n,
              points: rocCurve(
                first.map((x) => x.t),
                y,
              ),
            },
          );
          if (bundle.references.length)
            roc.push({
              attack: 'encodermi-t-calibrated',
              r,
              n,
              points: rocCurve(
                first.map((x) => x.tc ?? 0),
                y,
              ),
            });
        }
        o.onProgress?.('score', ++done, counts.length * ratios.length);
      }
    }
    const allVoices = scoreAllVoices(sc, labs, seconds, fprs);
    const ood: OodRow[] = [];
    for (const [i, dir] of [o.oodDataset, ...(o.extraOodDatasets ?? [])].entries()) {
      if (!dir || !existsSync(resolve(dir, 'utterances.tsv'))) continue;
      const rowsOf = await evaluateOod(sc, models, dir, o, count);
      ood.push(...(i === 0 ? rowsOf : rowsOf.map((r) => ({ ...r, set: `${basename(dir)}: ${r.set}` }))));
    }
    const nonmembers = speakers.filter((s) => s.label === 0).length;
    const nmax = Math.max(...nul.main.keys());
    return {
      rows,
      ...(allVoices && { all_voices: allVoices }),
      ood,
      queries: Object.values(queriesPerModel).reduce((a, b) => a + b, 0),
      queries_per_model: queriesPerModel,
      reference_queries: referenceQueries,
      speaker_queries: speakerQueries,
      speaker_clips: clips,
      speakers: speakers.length,
      max_batch: target.manifest.max_batch,
      nonmembers: o.nonmemberDataset
        ? `all speakers of ${o.nonmemberDataset} (out-of-domain, every clip heldout)`
        : 'target-nonmember group of the split',
      seeds,
      wall_seconds: (performance.now() - t0) / 1000,
      target: {
        name: target.manifest.name,
        sha256: target.sha256,
        architecture: target.manifest.architecture,
      },
      references: models
        .slice(1)
        .map((m) => ({ name: m.manifest.name, sha256: m.sha256, architecture: m.manifest.architecture })),
      attack: {
        path: o.attackPath,
        id,
        attack_model: bundle.attack_model,
        shadow_models: bundle.shadow_models.map((s) => s.name),
        calibration_references: bundle.calibration_references.map((s) => s.name),
        pinned_target: bundle.target?.name ?? null,
        voice: voice.chunkSeconds
          ? `chunk ${voice.chunkSeconds} s, pad ${voice.pad ?? 'none'}`
          : 'no chunking',
        centre: bundle.features.centre,
        normalization: bundle.features.normalization,
      },
      null: {
        speakers: nul.speakers,
        sets_per_n: nul.setsPerN,
        mean: Object.fromEntries([...nul.main].map(([n, f]) => [String(n), f.mean])),
        std: Object.fromEntries([...nul.main].map(([n, f]) => [String(n), f.std])),
      },
      lowest_supported_fpr: 1 / Math.max(1, nonmembers),
      roc: roc.filter((c) => c.n === nmax || counts.length === 1 || c.n === Math.max(...counts)),
      created_at: new Date().toISOString(),
      command_line: o.commandLine ?? '',
    };
  } finally {
    for (const m of models) await m.close();
  }
}

/**
 * Out-of-domain non-members: every speaker of another corpus audited with 10 voices — a mix of its keywords
 * (seeded draw) and, per keyword, 10 repetitions of that keyword — through the same verdict path.
 */
async function evaluateOod(
  sc: Scoring,
  models: SpeakerModel[],
  dir: string,
  o: EvaluateOptions,
  count: (m: SpeakerModel, q: number) => void,
): Promise<OodRow[]> {
  const rows = await readTsv(resolve(dir, 'utterances.tsv'), ['speaker', 'path']);
  const n = Math.max(...sc.scorer.voiceCounts);
  const bySpeaker = new Map<string, { keyword: string; path: string }[]>();
  for (const r of rows) {
    const list = bySpeaker.get(r.speaker) ?? [];
    list.push({ keyword: r.keyword ?? 'all', path: resolve(dir, r.path) });
    bySpeaker.set(r.speaker, list);
  }
  const paths = rows.map((r) => resolve(dir, r.path));
  const perModel: Map<string, Float32Array[]>[] = [];
  for (const m of models) {
    const e = await embedFilesCached(m, paths, bundleVoiceSpec(sc.bundle), {
      cache: o.cache,
      onProgress: (d, t) => o.onProgress?.(`embed out-of-domain (${m.manifest.name})`, d, t),
    });
    count(m, e.queries);
    perModel.push(new Map(paths.map((p, i) => [p, e.perFile[i]])));
  }
  const durations = await voiceDurations(models[0], paths, bundleVoiceSpec(sc.bundle), (d, t) =>
    o.onProgress?.('out-of-domain voice durations', d, t),
  );
  const secondsOfPath = new Map(paths.map((p, i) => [p, durations[i]]));
  const keywords = [...new Set(rows.map((r) => r.keyword ?? 'all'))].sort();
  const sets: Record<string, string[][]> = { mixed: [] };
  for (const k of keywords) sets[k] = [];
  const rng = seededRng(5);
  // one voice per clip (≤ chunk length); clips the speech-activity stage dropped under any model are left out
  const usable = (p: string): boolean =>
    perModel.every((mp) => (mp.get(p)?.length ?? 0) === 1) && secondsOfPath.get(p)?.length === 1;
  let dropped = 0;
  for (const [, utts] of [...bySpeaker].sort(([a], [b]) => a.localeCompare(b))) {
    const ok = utts.filter((u) => usable(u.path));
    dropped += utts.length - ok.length;
    const all = ok.map((u) => u.path);
    if (all.length >= n) sets.mixed.push(sample(all, n, rng));
    for (const k of keywords) {
      const ks = ok.filter((u) => u.keyword === k).map((u) => u.path);
      if (ks.length >= n) sets[k].push(ks.slice(0, n));
    }
  }
  if (dropped) o.onProgress?.(`out-of-domain: ${dropped} clips without a single voice left out`, 1, 1);
  const out: OodRow[] = [];
  const fprs = [0.01, 0.05];
  for (const [name, list] of Object.entries(sets)) {
    if (!list.length) continue;
    const scored = list.map((ps) =>
      scoreSet(
        sc,
        perModel.map((mp) => ps.flatMap((p) => mp.get(p) as Float32Array[])),
        ps.flatMap((p) => secondsOfPath.get(p) as number[]),
        fprs,
      ),
    );
    const share = (f: (x: (typeof scored)[number]) => boolean): number =>
      scored.filter(f).length / scored.length;
    out.push({
      set: name === 'mixed' ? 'mixed keywords' : `one keyword (${name})`,
      speakers: list.length,
      voices: n,
      member_at_1pct: share((x) => x.verdicts[0] === 'member'),
      member_at_5pct: share((x) => x.verdicts[1] === 'member'),
      inconclusive: share((x) => x.verdicts[0] === 'inconclusive'),
      unguarded_member_at_1pct: share((x) => x.p <= 0.01),
      reasons: reasonShares(scored),
      member_without_duration_guard_at_1pct: share((x) => x.withoutDuration),
    });
  }
  return out;
}

/** Share of scored sets per inconclusive reason. */
function reasonShares(xs: { reason: string | null }[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const x of xs) if (x.reason) out[x.reason] = (out[x.reason] ?? 0) + 1 / xs.length;
  return out;
}

/** {@link AllVoicesFigures} of lab speakers (undefined when no speaker has more voices than the largest n). */
function scoreAllVoices(
  sc: Scoring,
  labs: LabSpeaker[][],
  seconds: number[][],
  fprs: number[],
): AllVoicesFigures | undefined {
  const total = Math.min(...labs[0].map((s) => s.train.length + s.heldout.length));
  if (!(total > Math.max(...sc.scorer.voiceCounts))) return undefined;
  const key = Math.min(total, referencePoolSize(sc.banks[0]));
  const avg =
    sc.nul.averaged.get(key) ??
    computeAveragedNull(sc.bundle, sc.scorer, sc.banks[0], sc.banks.slice(1), key);
  const model = sc.scorer.main.modelFor(total);
  const sets = voiceSubsets(total, model.n);
  const y: number[] = [];
  const decisions: number[] = [];
  const verdicts: string[][] = [];
  labs[0].forEach((s, i) => {
    const voices = labs.map((lab) => [...lab[i].train, ...lab[i].heldout].slice(0, total));
    const secs = seconds[i].slice(0, total);
    let d = 0;
    const g = sc.banks.slice(1).map(() => 0);
    let outOfRange = 0;
    for (const set of sets) {
      const views = voices.map((v, k) =>
        viewOf(
          sc.banks[k],
          set.map((j) => v[j]),
        ),
      );
      const q = sc.scorer.main.decide(model, layoutFeatures(views[0], views.slice(1)));
      d += q.decision / sets.length;
      outOfRange += q.outOfRange / sets.length;
      g.forEach((_, j) => {
        const gs = sc.scorer.guards[j];
        g[j] += gs.decide(gs.modelFor(model.n), views[j + 1].features).decision / sets.length;
      });
    }
    const guard = applyGuard(
      sc.bundle,
      avg.guard,
      sc.nul.normThreshold,
      g,
      voices.slice(1).map((v, j) => voiceLogNorms(v, sc.banks[j + 1].bank.mean)),
      outOfRange,
      secs,
    );
    y.push(s.label);
    decisions.push(d);
    verdicts.push(
      fprs.map(
        (fpr) =>
          decideVerdict({ ...sc, bundle: { ...sc.bundle, target_fpr: fpr } }, model.n, avg.main, d, guard)
            .verdict,
      ),
    );
  });
  const rate = (fi: number, cls: number): number => {
    const idx = y.flatMap((l, i) => (l === cls ? [i] : []));
    return idx.filter((i) => verdicts[i][fi] === 'member').length / Math.max(1, idx.length);
  };
  return {
    voices: total,
    n: model.n,
    voice_sets: sets.length,
    auroc: auroc(decisions, y),
    auroc_ci95: bootstrapSeedMeanCi([decisions], y, auroc, 1000, 99),
    verdicts: fprs.map((fpr, fi) => ({
      target_fpr: fpr,
      tpr: rate(fi, 1),
      fpr: rate(fi, 0),
      inconclusive: verdicts.filter((v) => v[fi] === 'inconclusive').length / verdicts.length,
    })),
    n_members: y.filter((v) => v === 1).length,
    n_nonmembers: y.filter((v) => v === 0).length,
  };
}
