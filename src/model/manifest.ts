/**
 * The model manifest (`model.json` next to the `.onnx`): everything needed to turn audio into a speaker
 * embedding with that model, validated with a zod schema. See docs/model-manifest.md.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { z } from 'zod';
import { ManifestError } from '../errors.js';

const KaldiFbankFrontendSchema = z
  .object({
    type: z.literal('kaldi-fbank'),
    num_mel_bins: z.number().int().positive().default(80),
    frame_length: z.number().positive().default(25),
    frame_shift: z.number().positive().default(10),
    preemphasis_coefficient: z.number().min(0).max(1).default(0.97),
    remove_dc_offset: z.boolean().default(true),
    window_type: z.enum(['povey', 'hamming', 'hanning']).default('povey'),
    low_freq: z.number().min(0).default(20),
    high_freq: z.number().default(0),
    snip_edges: z.literal(true).default(true),
    use_power: z.boolean().default(true),
    use_log_fbank: z.boolean().default(true),
    round_to_power_of_two: z.boolean().default(true),
    dither: z.literal(0).default(0),
    input_scale: z.number().positive().default(32768),
    cmn: z.boolean().default(true),
  })
  .strict();

const WaveformFrontendSchema = z
  .object({
    type: z.literal('waveform'),
    normalize: z.enum(['none', 'peak', 'rms']).default('none'),
    target_rms: z.number().positive().optional(),
  })
  .strict();

/** zod schema of model.json. */
export const ModelManifestSchema = z
  .object({
    /** Human-readable model name, e.g. `tdnn-ce-target`. */
    name: z.string().min(1),
    /** ONNX file, relative to the manifest's folder. */
    onnx: z.string().min(1),
    /** Lower-case hex SHA-256 of the ONNX file (model pinning). */
    sha256: z.string().regex(/^[0-9a-f]{64}$/, 'expected 64 lower-case hex characters'),
    /** Architecture label (free text, e.g. `tdnn-ce`). */
    architecture: z.string().optional(),
    /** Role in the lab: the audited model or a shadow model. */
    role: z.enum(['target', 'shadow', 'fixture']).optional(),
    /** Input sample rate, Hz. */
    sample_rate: z.number().int().positive(),
    frontend: z.discriminatedUnion('type', [KaldiFbankFrontendSchema, WaveformFrontendSchema]),
    input: z
      .object({
        name: z.string().min(1),
        /** `batch,frames,mel` for fbank models, `batch,samples` for waveform models. */
        layout: z.enum(['batch,frames,mel', 'batch,samples']),
      })
      .strict(),
    output: z
      .object({
        name: z.string().min(1),
        /** Affine output quantization: embedding = (q - zero_point) * scale. */
        quantization: z
          .object({
            type: z.enum(['int8', 'uint8']),
            scale: z.number().positive(),
            zero_point: z.number().int(),
          })
          .strict()
          .optional(),
      })
      .strict(),
    embedding_dim: z.number().int().positive(),
    /** Most clips per `session.run` (one query). */
    max_batch: z.number().int().positive(),
    /** Shortest and longest clip the model accepts, seconds. */
    min_seconds: z.number().positive(),
    max_seconds: z.number().positive(),
    /** L2-normalise each embedding after the model. */
    l2_normalize: z.boolean(),
    /** How embeddings are compared (SLMIA-SR: cosine by default, or negative L2 distance). */
    similarity: z.enum(['cosine', 'l2']),
    /** Optional model card next to the manifest (training speakers, EER, ...). */
    card: z.string().optional(),
  })
  .strict()
  .superRefine((m, ctx) => {
    const wantLayout = m.frontend.type === 'kaldi-fbank' ? 'batch,frames,mel' : 'batch,samples';
    if (m.input.layout !== wantLayout) {
      ctx.addIssue({
        code: 'custom',
        path: ['input', 'layout'],
        message: `front-end "${m.frontend.type}" needs layout "${wantLayout}"`,
      });
    }
    if (m.frontend.type === 'kaldi-fbank') {
      const nyquist = m.sample_rate / 2;
      const high = m.frontend.high_freq <= 0 ? nyquist + m.frontend.high_freq : m.frontend.high_freq;
      if (!(m.frontend.low_freq < high && high <= nyquist)) {
        ctx.addIssue({
          code: 'custom',
          path: ['frontend', 'high_freq'],
          message: `mel range must satisfy low_freq (${m.frontend.low_freq}) < high_freq (${high}) ≤ sample_rate/2 (${nyquist}) Hz`,
        });
      }
    }
    const q = m.output.quantization;
    if (q) {
      const [lo, hi] = q.type === 'int8' ? [-128, 127] : [0, 255];
      if (q.zero_point < lo || q.zero_point > hi) {
        ctx.addIssue({
          code: 'custom',
          path: ['output', 'quantization', 'zero_point'],
          message: `${q.type} zero point must lie in [${lo}, ${hi}]`,
        });
      }
    }
    if (m.max_seconds < m.min_seconds) {
      ctx.addIssue({ code: 'custom', path: ['max_seconds'], message: 'must be ≥ min_seconds' });
    }
  });

export type ModelManifest = z.infer<typeof ModelManifestSchema>;

/** A validated manifest with its resolved paths. */
export interface LoadedManifest {
  manifest: ModelManifest;
  /** Absolute path of model.json. */
  manifestPath: string;
  /** Absolute path of the ONNX file. */
  onnxPath: string;
}

/**
 * Validate a parsed manifest object.
 * @param raw parsed JSON
 * @param file path used in error messages
 * @throws ManifestError naming the first invalid field (dotted path) and what was expected
 */
export function parseManifest(raw: unknown, file: string): ModelManifest {
  const result = ModelManifestSchema.safeParse(raw);
  if (!result.success) {
    const issue = result.error.issues[0];
    const field = issue && issue.path.length > 0 ? issue.path.join('.') : '(root)';
    throw new ManifestError(file, field, issue?.message ?? 'invalid');
  }
  return result.data;
}

/**
 * Read and validate a model.json, and check the ONNX file's SHA-256 against the manifest (model pinning).
 * @throws ManifestError unreadable/invalid JSON, schema error, missing ONNX file, or sha256 mismatch
 */
export async function readManifest(path: string): Promise<LoadedManifest> {
  const manifestPath = resolve(path);
  let text: string;
  try {
    text = await readFile(manifestPath, 'utf8');
  } catch (err) {
    throw new ManifestError(path, '(file)', `cannot read (${(err as Error).message})`, { cause: err });
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ManifestError(path, '(file)', `not valid JSON (${(err as Error).message})`, { cause: err });
  }
  const manifest = parseManifest(raw, path);
  const onnxPath = resolve(dirname(manifestPath), manifest.onnx);
  let bytes: Buffer;
  try {
    bytes = await readFile(onnxPath);
  } catch (err) {
    throw new ManifestError(path, 'onnx', `ONNX file ${onnxPath} unreadable (${(err as Error).message})`, {
      cause: err,
    });
  }
  const actual = sha256Hex(bytes);
  if (actual !== manifest.sha256) {
    throw new ManifestError(
      path,
      'sha256',
      `expected ${manifest.sha256} but ${manifest.onnx} has ${actual} (model pinning)`,
    );
  }
  return { manifest, manifestPath, onnxPath };
}

/** Lower-case hex SHA-256 of bytes. */
export function sha256Hex(bytes: Uint8Array | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}
