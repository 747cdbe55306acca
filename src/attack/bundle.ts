/**
 * The attack bundle (`attack.json`): everything an audit needs besides the target model and the reference
 * bank — feature spec, per-n quantization, standardisation, classifier, Platt sigmoid and decision threshold,
 * the EncoderMI baselines, and how it was calibrated. Validated with zod on load.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { z } from 'zod';
import { SlmiaError } from '../errors.js';
import { FEATURE_NAMES } from '../features/index.js';
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

const CalibrationSchema = z
  .object({
    samples: z.number().int(),
    members: z.number().int(),
    nonmembers: z.number().int(),
    cv_folds: z.number().int(),
    grid: z.array(z.object({ params: z.record(z.string(), Num), auroc: Num }).strict()),
    oof_auroc: Num,
    /** null when the shadow samples had no member at that ratio. */
    oof_auroc_r0: Num.nullable(),
    oof_auroc_r1: Num.nullable(),
    oof_tpr_at_target_fpr: Num,
  })
  .strict();

export const AttackModelSchema = z
  .object({
    /** Voices per speaker this model was trained for. */
    n: z.number().int().min(2),
    quantization: z.object({ bits: z.literal(8), min: Vec, scale: Vec }).strict(),
    standardization: z.object({ mean: Vec, std: Vec }).strict(),
    /** Feature selection: indices (into the 120) the classifier uses; all when absent. */
    selected: z
      .array(
        z
          .number()
          .int()
          .min(0)
          .max(FEATURE_NAMES.length - 1),
      )
      .optional(),
    classifier: ClassifierSchema,
    platt: z.object({ A: Num, B: Num }).strict(),
    /** Member when probability ≥ threshold (chosen for target_fpr on held-out shadow data). */
    threshold: Num,
    calibration: CalibrationSchema,
  })
  .strict();

const BaselineTSchema = z
  .object({ n: z.number().int(), feature: z.literal('intra.pairs.mean'), threshold: Num })
  .strict();
const BaselineVSchema = z
  .object({
    n: z.number().int(),
    standardization: z.object({ mean: Vec, std: Vec }).strict(),
    classifier: LogisticClassifierSchema,
  })
  .strict();

export const AttackBundleSchema = z
  .object({
    format: z.literal('slmia-attack'),
    version: z.literal(1),
    created_at: z.string(),
    command_line: z.string(),
    shadow_models: z.array(
      z.object({ name: z.string(), sha256: z.string(), architecture: z.string().optional() }).strict(),
    ),
    features: z
      .object({
        names: z.array(z.string()).length(FEATURE_NAMES.length),
        similarity: z.enum(['cosine', 'l2']),
        centre: z.boolean(),
        /** `reference-znorm`: features z-normalised by the reference speakers' own features under the same model. */
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
    attack_model: z.enum(['svm', 'logistic']),
    models: z.array(AttackModelSchema).min(1),
    baselines: z
      .object({ encodermi_t: z.array(BaselineTSchema), encodermi_v: z.array(BaselineVSchema) })
      .strict(),
    /** Free-form notes on the calibration (data, timings). */
    notes: z.record(z.string(), z.unknown()).optional(),
  })
  .strict()
  .superRefine((b, ctx) => {
    b.features.names.forEach((n, i) => {
      if (n !== FEATURE_NAMES[i]) {
        ctx.addIssue({
          code: 'custom',
          path: ['features', 'names', i],
          message: `expected "${FEATURE_NAMES[i]}"`,
        });
      }
    });
  });

export type AttackBundle = z.infer<typeof AttackBundleSchema>;
export type AttackModelEntry = z.infer<typeof AttackModelSchema>;
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
