/**
 * The attack bundle (`attack.json`, format version 2): everything an audit needs besides the target model and
 * the reference banks — the reference models (path + sha256) queried next to the target, the pinned target
 * (when calibrated against it), feature layout, per-n quantization and classifier ensemble, Platt sigmoid,
 * shadow threshold, the plain attack and the out-of-domain guard models, the EncoderMI baselines (plain and
 * calibrated), and how it was calibrated. Validated with zod on load; version-1 bundles are refused with a
 * hint to recalibrate.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { z } from 'zod';
import { SlmiaError } from '../errors.js';
import { CALIBRATED_FEATURE_NAMES, FEATURE_NAMES, PLAIN_FEATURE_NAMES } from '../features/index.js';
import { sha256Hex } from '../model/index.js';

/** An attack bundle that cannot be read or does not match the schema. */
export class AttackBundleError extends SlmiaError {
  readonly file: string;
  constructor(file: string, detail: string, options?: { cause?: unknown }) {
    super('attack.bundle', `${file}: ${detail}`, options);
    this.file = file;
  }
}

const Num = z.number();
const Vec = z.array(Num);

export const SvmClassifierSchema = z
  .object({
    kind: z.literal('svm'),
    kernel: z.literal('rbf'),
    C: Num.positive(),
    gamma: Num.positive(),
    b: Num,
    /** alpha_i · y_i per support vector. */
    coef: Vec,
    /** Support vectors as quantized feature codes, base64 of `[S * F] uint8` row-major. */
    support_vectors_q: z.string(),
  })
  .strict();

export const LogisticClassifierSchema = z
  .object({ kind: z.literal('logistic'), w: Vec, b: Num, l2: Num.nonnegative() })
  .strict();

export const ClassifierSchema = z.discriminatedUnion('kind', [SvmClassifierSchema, LogisticClassifierSchema]);

const GridSchema = z.array(z.object({ params: z.record(z.string(), Num), auroc: Num }).strict());

const CalibrationSchema = z
  .object({
    samples: z.number().int(),
    members: z.number().int(),
    nonmembers: z.number().int(),
    cv_folds: z.number().int(),
    oof_auroc: Num,
    /** null when the shadow samples had no member at that ratio. */
    oof_auroc_r0: Num.nullable(),
    oof_auroc_r1: Num.nullable(),
    oof_tpr_at_target_fpr: Num,
  })
  .strict();

/** One classifier of an attack model's ensemble. */
export const AttackMemberSchema = z
  .object({
    /** Indices (into the bundle's feature layout) this classifier reads. */
    selected: z.array(z.number().int().min(0)).min(1),
    standardization: z.object({ mean: Vec, std: Vec }).strict(),
    classifier: ClassifierSchema,
    /** z-scoring of the decision value (mean / std of the out-of-fold decisions) before the ensemble mean. */
    decision: z.object({ mean: Num, std: Num.positive() }).strict(),
    /** Hyper-parameter grid with the speaker-grouped CV score of each point. */
    grid: GridSchema,
    oof_auroc_r0: Num.nullable(),
    oof_auroc_r1: Num.nullable(),
  })
  .strict();

export const AttackModelSchema = z
  .object({
    /** Voices per speaker this model was trained for. */
    n: z.number().int().min(2),
    /**
     * 8-bit per-feature quantization over the whole layout: the shadow features' observed range widened by
     * `margin` × range on each side (codes 0 and 255 are the widened ends).
     */
    quantization: z
      .object({ bits: z.literal(8), min: Vec, scale: Vec, margin: Num.nonnegative().default(0) })
      .strict(),
    /** Classifiers; the model's decision is the mean of their z-scored decisions. */
    members: z.array(AttackMemberSchema).min(1),
    /** Platt sigmoid on the ensemble decision (fitted out of fold). */
    platt: z.object({ A: Num, B: Num }).strict(),
    /** Probability threshold for target_fpr on held-out SHADOW non-members (the target-side null replaces it). */
    threshold: Num,
    calibration: CalibrationSchema,
  })
  .strict();

const BaselineTSchema = z
  .object({
    n: z.number().int(),
    feature: z.enum(['intra.pairs.mean', 'calib.intra.pairs.mean']),
    threshold: Num,
  })
  .strict();
const BaselineVSchema = z
  .object({
    n: z.number().int(),
    standardization: z.object({ mean: Vec, std: Vec }).strict(),
    classifier: LogisticClassifierSchema,
  })
  .strict();

const ModelRefSchema = z
  .object({
    name: z.string(),
    sha256: z.string().regex(/^[0-9a-f]{64}$/),
    architecture: z.string().optional(),
  })
  .strict();

/** A reference model queried at audit time next to the target. */
export const ReferenceModelSchema = ModelRefSchema.extend({
  /** Manifest path, relative to the bundle's folder. */
  path: z.string(),
  /**
   * The out-of-domain guard's plain attack on this reference model's own 120 features (the reference model was
   * trained on the shadow population, so shadow members are its members): an audited speaker whom the
   * reference model — which never saw them — would call a member is not like the calibration population.
   */
  guard_models: z.array(AttackModelSchema).min(1),
}).strict();

export const AttackBundleSchema = z
  .object({
    format: z.literal('slmia-attack'),
    version: z.literal(2),
    created_at: z.string(),
    command_line: z.string(),
    shadow_models: z.array(ModelRefSchema),
    /**
     * The target model this bundle is calibrated for, when the shadow-side reference was the target itself
     * (its sha256 is pinned: auditing another model with this bundle is refused). null: any target.
     */
    target: ModelRefSchema.nullable(),
    /** Target-side reference models (never trained on the audited population), queried at every audit. */
    references: z.array(ReferenceModelSchema),
    /** Shadow-side reference models used at calibration (never trained on the shadow population). */
    calibration_references: z.array(ModelRefSchema),
    features: z
      .object({
        /** The layout: PLAIN_FEATURE_NAMES (no references) or CALIBRATED_FEATURE_NAMES. */
        names: z.array(z.string()),
        similarity: z.enum(['cosine', 'l2']),
        centre: z.boolean(),
        /** `reference-znorm`: the 120 features of every model z-normalised by its own reference speakers. */
        normalization: z.enum(['none', 'reference-znorm']),
        voice: z.object({ chunk_seconds: Num.positive().optional(), pad: z.enum(['none', 'wrap']) }).strict(),
        reference: z
          .object({
            group: z.string(),
            speakers: z.number().int().positive(),
            voices_per_speaker: z.number().int().positive(),
          })
          .strict(),
      })
      .strict(),
    ratios: z.array(Num.min(0).max(1)),
    target_fpr: Num.positive().max(1),
    /** Ensemble spec, e.g. `logistic:all+logistic:compact`. */
    attack_model: z.string(),
    models: z.array(AttackModelSchema).min(1),
    /** The plain (uncalibrated) SLMIA-SR attack on the shadow's 120 features: the baseline of the reports. */
    plain_models: z.array(AttackModelSchema).min(1),
    /** Out-of-domain guard settings (docs/attack.md). */
    guard: z
      .object({
        /** A reference model's plain-attack p-value below this (on the reference speakers' null) → inconclusive. */
        alpha: Num.positive().max(1),
        /** Quantile of the reference speakers' voice log-norms (per reference model) … */
        norm_quantile: Num.positive().max(1),
        /** … that more than this share of the audited voices exceeds → inconclusive. */
        norm_share: Num.positive().max(1),
        /** Share of calibrated features outside the shadow's quantization range above which → inconclusive. */
        range_share: Num.positive().max(1),
        /**
         * Median seconds of audio per audited voice (before wrap padding) below which → inconclusive: the 1st
         * percentile of the shadow calibration voices. Shorter voices are mostly padding, unlike anything the
         * attack was calibrated on.
         */
        min_voice_seconds: Num.nonnegative(),
      })
      .strict(),
    /** How the target-side null is drawn: voice subsets per reference speaker and n, seed. */
    null: z.object({ subsets: z.number().int().positive(), seed: z.number().int() }).strict(),
    baselines: z
      .object({
        encodermi_t: z.array(BaselineTSchema),
        encodermi_v: z.array(BaselineVSchema),
        /** The same baselines on the target − reference differences (empty without references). */
        encodermi_t_calibrated: z.array(BaselineTSchema),
        encodermi_v_calibrated: z.array(BaselineVSchema),
      })
      .strict(),
    /** Free-form notes on the calibration (data, timings). */
    notes: z.record(z.string(), z.unknown()).optional(),
  })
  .strict()
  .superRefine((b, ctx) => {
    const layout = b.references.length ? CALIBRATED_FEATURE_NAMES : PLAIN_FEATURE_NAMES;
    if (b.features.names.length !== layout.length) {
      ctx.addIssue({
        code: 'custom',
        path: ['features', 'names'],
        message: `expected ${layout.length} names for ${b.references.length} reference model(s)`,
      });
      return;
    }
    b.features.names.forEach((n, i) => {
      if (n !== layout[i]) {
        ctx.addIssue({ code: 'custom', path: ['features', 'names', i], message: `expected "${layout[i]}"` });
      }
    });
    if (b.references.length !== b.calibration_references.length) {
      ctx.addIssue({
        code: 'custom',
        path: ['calibration_references'],
        message: `${b.calibration_references.length} calibration reference(s) for ${b.references.length} reference model(s)`,
      });
    }
    const F = b.features.names.length;
    const check = (
      models: z.infer<typeof AttackModelSchema>[],
      width: number,
      path: (string | number)[],
    ): void =>
      models.forEach((m, i) => {
        if (m.quantization.min.length !== width || m.quantization.scale.length !== width)
          ctx.addIssue({
            code: 'custom',
            path: [...path, i, 'quantization'],
            message: `expected ${width} ranges`,
          });
        m.members.forEach((mem, j) => {
          if (mem.selected.some((s) => s >= width))
            ctx.addIssue({
              code: 'custom',
              path: [...path, i, 'members', j, 'selected'],
              message: `index ≥ ${width}`,
            });
        });
      });
    check(b.models, F, ['models']);
    check(b.plain_models, FEATURE_NAMES.length, ['plain_models']);
    b.references.forEach((r, j) =>
      check(r.guard_models, FEATURE_NAMES.length, ['references', j, 'guard_models']),
    );
  });

export type AttackBundle = z.infer<typeof AttackBundleSchema>;
export type AttackModelEntry = z.infer<typeof AttackModelSchema>;
export type AttackMember = z.infer<typeof AttackMemberSchema>;
export type ReferenceModelEntry = z.infer<typeof ReferenceModelSchema>;
export type Classifier = z.infer<typeof ClassifierSchema>;

/** A bundle with its identity: `id` = first 16 hex of the SHA-256 of the file. */
export interface LoadedBundle {
  bundle: AttackBundle;
  path: string;
  id: string;
}

/**
 * Validate a parsed bundle.
 * @throws AttackBundleError naming the first invalid field
 */
export function parseBundle(raw: unknown, file: string): AttackBundle {
  const version = (raw as { version?: unknown } | null)?.version;
  if (version === 1) {
    throw new AttackBundleError(
      file,
      'format version 1 (uncalibrated attack without reference models); recalibrate with `slmia calibrate` (version 2)',
    );
  }
  const r = AttackBundleSchema.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new AttackBundleError(
      file,
      `field "${issue?.path.join('.') || '(root)'}": ${issue?.message ?? 'invalid'}`,
    );
  }
  return r.data;
}

/**
 * Read and validate `attack.json`.
 * @throws AttackBundleError when unreadable, not JSON, or invalid
 */
export async function readBundle(path: string): Promise<LoadedBundle> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new AttackBundleError(path, `cannot read (${(err as Error).message})`, { cause: err });
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new AttackBundleError(path, `not valid JSON (${(err as Error).message})`, { cause: err });
  }
  return { bundle: parseBundle(raw, path), path, id: sha256Hex(text).slice(0, 16) };
}

/** Write a bundle (validated first) as JSON; returns its id. */
export async function writeBundle(path: string, bundle: AttackBundle): Promise<string> {
  const checked = parseBundle(bundle, path);
  const text = `${JSON.stringify(checked)}\n`;
  await writeFile(path, text);
  return sha256Hex(text).slice(0, 16);
}
