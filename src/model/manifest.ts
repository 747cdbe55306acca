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
    /** Mel energy floor as white-noise RMS in 16-bit LSBs (src/frontend/kaldi-fbank.ts); 0 = off. */
    noise_floor: z.number().min(0).default(1),
  })
  .strict();

const WaveformFrontendSchema = z
  .object({
    type: z.literal('waveform'),
    normalize: z.enum(['none', 'peak', 'rms']).default('none'),
    target_rms: z.number().positive().optional(),
  })
  .strict();

/** Analysis windows of the log-mel front-end (see src/frontend/log-mel.ts). */
const LOG_MEL_WINDOWS = [
  'hamming',
  'hamming-periodic',
  'hann',
  'hann-periodic',
  'povey',
  'rectangular',
] as const;

export const LogMelFrontendSchema = z
  .object({
    type: z.literal('log-mel'),
    /** Frame length and hop, milliseconds (truncated to whole samples). */
    frame_length: z.number().positive(),
    frame_shift: z.number().positive(),
    /** FFT size (power of two ≥ frame samples); default: the next power of two of the frame length. */
    fft_size: z.number().int().positive().optional(),
    window_type: z.enum(LOG_MEL_WINDOWS),
    center: z.boolean().default(false),
    pad_mode: z.enum(['reflect', 'constant']).default('reflect'),
    spectrum: z.enum(['magnitude', 'power']),
    num_mel_bins: z.number().int().positive(),
    low_freq: z.number().min(0).default(0),
    /** Highest mel edge, Hz (default: sample_rate / 2). */
    high_freq: z.number().positive().optional(),
    mel_scale: z.enum(['htk', 'slaney']),
    mel_norm: z.enum(['none', 'slaney']).default('none'),
    filter_domain: z.enum(['hz', 'mel']).default('hz'),
    log: z
      .object({
        type: z.enum(['db', 'ln', 'log10', 'log2', 'none']),
        floor: z.number().min(0),
        floor_mode: z.enum(['clamp', 'add']).default('clamp'),
        multiplier: z.number().positive().optional(),
        top_db: z.number().positive().optional(),
      })
      .strict(),
    input_scale: z.number().positive().default(1),
    cmn: z.boolean().default(false),
    scale: z.number().default(1),
    offset: z.number().default(0),
    clip: z.tuple([z.number(), z.number()]).optional(),
    quantize_bits: z.number().int().min(1).max(16).optional(),
  })
  .strict();

/** Input layouts: axis order of the ONNX input; `1` is a channel axis of size 1. */
export const INPUT_LAYOUTS = [
  'batch,frames,mel',
  'batch,mel,frames',
  'batch,frames,mel,1',
  'batch,mel,frames,1',
  'batch,1,frames,mel',
  'batch,1,mel,frames',
  'batch,samples',
  'batch,1,samples',
  'batch,samples,1',
] as const;
export type InputLayout = (typeof INPUT_LAYOUTS)[number];

const WindowSchema = z
  .object({
    /** Window length in front-end frames (feature front-ends) … */
    frames: z.number().int().positive().optional(),
    /** … and the hop between windows, frames (default: `frames`, no overlap). */
    hop: z.number().int().positive().optional(),
    /** Or the window length in seconds (any front-end) … */
    seconds: z.number().positive().optional(),
    /** … and the hop, seconds (default: `seconds`). */
    hop_seconds: z.number().positive().optional(),
    /** How window embeddings become one voice embedding. */
    pool: z.enum(['mean']).default('mean'),
    /** L2-normalise each window embedding before pooling. */
    l2_normalize: z.boolean().default(false),
    /** A voice shorter than one window is repeated (`wrap`) or zero-padded (`zero`) to the window length. */
    pad: z.enum(['wrap', 'zero']).default('wrap'),
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
    frontend: z.discriminatedUnion('type', [
      KaldiFbankFrontendSchema,
      LogMelFrontendSchema,
      WaveformFrontendSchema,
    ]),
    input: z
      .object({
        name: z.string().min(1),
        /** Axis order of the input, e.g. `batch,frames,mel` or `batch,frames,mel,1` (see INPUT_LAYOUTS). */
        layout: z.enum(INPUT_LAYOUTS),
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
    /** Fixed-window model: voices are cut into windows, embedded, and the window embeddings pooled. */
    window: WindowSchema.optional(),
    embedding_dim: z.number().int().positive(),
    /** Most model inputs (clips, or windows of a fixed-window model) per `session.run` (one query). */
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
    const waveform = m.frontend.type === 'waveform';
    if (layoutIsWaveform(m.input.layout) !== waveform) {
      ctx.addIssue({
        code: 'custom',
        path: ['input', 'layout'],
        message: `front-end "${m.frontend.type}" needs a layout with ${waveform ? '"samples"' : '"frames" and "mel"'}: one of ${INPUT_LAYOUTS.filter((l) => layoutIsWaveform(l) === waveform).join(' | ')}`,
      });
    }
    const nyquist = m.sample_rate / 2;
    if (m.frontend.type === 'kaldi-fbank') {
      const high = m.frontend.high_freq <= 0 ? nyquist + m.frontend.high_freq : m.frontend.high_freq;
      if (!(m.frontend.low_freq < high && high <= nyquist)) {
        ctx.addIssue({
          code: 'custom',
          path: ['frontend', 'high_freq'],
          message: `mel range must satisfy low_freq (${m.frontend.low_freq}) < high_freq (${high}) ≤ sample_rate/2 (${nyquist}) Hz`,
        });
      }
    }
    if (m.frontend.type === 'log-mel') refineLogMel(m.frontend, m.sample_rate, ctx);
    if (m.window) refineWindow(m.window, waveform, ctx);
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

/** True for the layouts of waveform models (`samples` axis). */
export function layoutIsWaveform(layout: InputLayout): boolean {
  return layout.split(',').includes('samples');
}

function refineLogMel(f: z.infer<typeof LogMelFrontendSchema>, rate: number, ctx: z.RefinementCtx): void {
  const issue = (path: (string | number)[], message: string) =>
    ctx.addIssue({ code: 'custom', path: ['frontend', ...path], message });
  const win = Math.trunc(rate * f.frame_length * 0.001);
  const hop = Math.trunc(rate * f.frame_shift * 0.001);
  if (win < 2) issue(['frame_length'], `${f.frame_length} ms is ${win} samples at ${rate} Hz; need ≥ 2`);
  if (hop < 1) issue(['frame_shift'], `${f.frame_shift} ms is less than one sample at ${rate} Hz`);
  if (f.fft_size !== undefined && (f.fft_size < win || !Number.isInteger(Math.log2(f.fft_size)))) {
    issue(['fft_size'], `must be a power of two ≥ the frame length (${win} samples), got ${f.fft_size}`);
  }
  const nyquist = rate / 2;
  const high = f.high_freq ?? nyquist;
  if (!(f.low_freq < high && high <= nyquist)) {
    issue(
      ['high_freq'],
      `mel range must satisfy low_freq (${f.low_freq}) < high_freq (${high}) ≤ sample_rate/2 (${nyquist}) Hz`,
    );
  }
  if (f.log.type !== 'none' && !(f.log.floor > 0)) {
    issue(['log', 'floor'], `a ${f.log.type} log needs a floor > 0 (log of 0 is −∞), got ${f.log.floor}`);
  }
  if (f.log.type !== 'db' && (f.log.multiplier !== undefined || f.log.top_db !== undefined)) {
    issue(['log', 'type'], 'multiplier and top_db belong to a "db" log');
  }
  if (f.clip && !(f.clip[0] < f.clip[1])) issue(['clip'], `needs lo < hi, got [${f.clip.join(', ')}]`);
  if (f.quantize_bits !== undefined && !f.clip) {
    issue(['quantize_bits'], 'rounding to n bits needs a clip range [lo, hi] to spread the levels over');
  }
}

function refineWindow(w: z.infer<typeof WindowSchema>, waveform: boolean, ctx: z.RefinementCtx): void {
  const issue = (path: string, message: string) =>
    ctx.addIssue({ code: 'custom', path: ['window', path], message });
  const byFrames = w.frames !== undefined;
  if (byFrames === (w.seconds !== undefined)) {
    issue('frames', 'give the window length either as frames (with hop) or as seconds (with hop_seconds)');
  }
  if (byFrames && waveform)
    issue('frames', 'the waveform front-end has no frames: use seconds and hop_seconds');
  if (w.hop !== undefined && !byFrames) issue('hop', 'hop (frames) goes with frames; use hop_seconds');
  if (w.hop_seconds !== undefined && byFrames) issue('hop_seconds', 'hop_seconds goes with seconds; use hop');
}

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
