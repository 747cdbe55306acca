/**
 * Batched speaker-embedding model adapter over onnxruntime-node. Every `session.run` is one *query* of the
 * model (SLMIA-SR "query economy"); the adapter counts them and reports the count with every result.
 */
import { cpus } from 'node:os';
import * as ort from 'onnxruntime-node';
import { AudioError, ManifestError, ModelError } from '../errors.js';
import { runFrontend, type FrontendOutput } from '../frontend/index.js';
import { readManifest, type LoadedManifest, type ModelManifest } from './manifest.js';

/** Result of {@link SpeakerModel.embed}. */
export interface EmbedResult {
  /** One embedding per input clip, in input order: `[embedding_dim] float32`. */
  embeddings: Float32Array[];
  /** Model calls made for this result. */
  queries: number;
  /** Wall time per stage, milliseconds. */
  timings: { frontendMs: number; inferenceMs: number };
}

/** ONNX I/O as the session reports it (for `inspect-model` and load-time checks). */
export interface OnnxIo {
  name: string;
  type: string;
  shape: (number | string)[];
}

/** A loaded speaker model. */
export interface SpeakerModel {
  readonly manifest: ModelManifest;
  readonly manifestPath: string;
  readonly onnxPath: string;
  /** SHA-256 of the ONNX file (checked against the manifest at load). */
  readonly sha256: string;
  readonly inputs: OnnxIo[];
  readonly outputs: OnnxIo[];
  /** Queries made since load. */
  readonly totalQueries: number;
  /**
   * Embed clips in as few queries as possible: clips whose model input has the same shape are batched
   * together (up to `max_batch` per query); clips of different lengths are never padded.
   * @param clips `[numSamples] float32` each, at `manifest.sample_rate` Hz
   * @param labels optional names of the clips for error messages, parallel to `clips`
   * @throws AudioError `too-long` when a clip is longer than the manifest's `max_seconds`
   * @throws ModelError when a clip is too short for one frame or the session fails
   */
  embed(clips: Float32Array[], labels?: string[]): Promise<EmbedResult>;
  close(): Promise<void>;
}

/** Options of {@link loadSpeakerModel}. */
export interface LoadOptions {
  /** onnxruntime intra-op threads (default: `SLMIA_ORT_THREADS` or the number of CPUs). */
  threads?: number;
}

function describe(meta: readonly ort.InferenceSession.ValueMetadata[]): OnnxIo[] {
  return meta.map((m) =>
    m.isTensor
      ? { name: m.name, type: m.type, shape: [...m.shape] }
      : { name: m.name, type: 'non-tensor', shape: [] },
  );
}

/**
 * Check the manifest against the session's real inputs/outputs (names, ranks, fixed dims, element types).
 * @throws ManifestError naming the mismatching field
 */
export function checkManifestAgainstSession(
  manifest: ModelManifest,
  inputs: OnnxIo[],
  outputs: OnnxIo[],
  file: string,
): void {
  const input = inputs.find((i) => i.name === manifest.input.name);
  if (!input) {
    throw new ManifestError(
      file,
      'input.name',
      `"${manifest.input.name}" is not an ONNX input; the model has ${inputs.map((i) => `"${i.name}"`).join(', ')}`,
    );
  }
  const rank = manifest.input.layout === 'batch,frames,mel' ? 3 : 2;
  if (input.shape.length !== rank) {
    throw new ManifestError(
      file,
      'input.layout',
      `layout "${manifest.input.layout}" needs rank ${rank}, ONNX input "${input.name}" has rank ${input.shape.length} [${input.shape.join(', ')}]`,
    );
  }
  const batchDim = input.shape[0];
  if (typeof batchDim === 'number' && batchDim !== -1 && batchDim < manifest.max_batch) {
    throw new ManifestError(
      file,
      'max_batch',
      `manifest allows ${manifest.max_batch} clips per query but ONNX input "${input.name}" has a fixed batch size of ${batchDim}`,
    );
  }
  if (input.type !== 'float32') {
    throw new ManifestError(
      file,
      'input.name',
      `ONNX input "${input.name}" is ${input.type}, expected float32`,
    );
  }
  if (manifest.frontend.type === 'kaldi-fbank') {
    const mel = input.shape[2];
    if (typeof mel === 'number' && mel !== manifest.frontend.num_mel_bins) {
      throw new ManifestError(
        file,
        'frontend.num_mel_bins',
        `manifest says ${manifest.frontend.num_mel_bins}, ONNX input "${input.name}" takes ${mel} mel bins`,
      );
    }
  }
  const output = outputs.find((o) => o.name === manifest.output.name);
  if (!output) {
    throw new ManifestError(
      file,
      'output.name',
      `"${manifest.output.name}" is not an ONNX output; the model has ${outputs.map((o) => `"${o.name}"`).join(', ')}`,
    );
  }
  if (output.shape.length !== 2) {
    throw new ManifestError(
      file,
      'output.name',
      `ONNX output "${output.name}" has rank ${output.shape.length}, expected 2 [batch, embedding_dim]`,
    );
  }
  const dim = output.shape[1];
  if (typeof dim === 'number' && dim !== manifest.embedding_dim) {
    throw new ManifestError(
      file,
      'embedding_dim',
      `manifest says ${manifest.embedding_dim}, ONNX output "${output.name}" has ${dim}`,
    );
  }
  const wantType = manifest.output.quantization?.type ?? 'float32';
  if (output.type !== wantType) {
    throw new ManifestError(
      file,
      manifest.output.quantization ? 'output.quantization.type' : 'output.name',
      `ONNX output "${output.name}" is ${output.type}, manifest expects ${wantType}`,
    );
  }
}

/**
 * Load model.json + its ONNX file, verify the pin and the I/O, and return a batched adapter.
 * @param manifestPath path to model.json
 * @throws ManifestError invalid manifest, sha256 mismatch, or manifest/ONNX mismatch
 * @throws ModelError the ONNX file cannot be opened by onnxruntime
 */
export async function loadSpeakerModel(
  manifestPath: string,
  options: LoadOptions = {},
): Promise<SpeakerModel> {
  const loaded = await readManifest(manifestPath);
  const threads = options.threads ?? (Number(process.env.SLMIA_ORT_THREADS) || cpus().length);
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(loaded.onnxPath, {
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
      graphOptimizationLevel: 'all',
    });
  } catch (err) {
    throw new ModelError(
      `${loaded.onnxPath}: onnxruntime cannot load the model (${(err as Error).message})`,
      { cause: err },
    );
  }
  const inputs = describe(session.inputMetadata);
  const outputs = describe(session.outputMetadata);
  try {
    checkManifestAgainstSession(loaded.manifest, inputs, outputs, manifestPath);
  } catch (err) {
    await session.release();
    throw err;
  }
  return new OnnxSpeakerModel(loaded, session, inputs, outputs);
}

class OnnxSpeakerModel implements SpeakerModel {
  readonly manifest: ModelManifest;
  readonly manifestPath: string;
  readonly onnxPath: string;
  readonly sha256: string;
  totalQueries = 0;
  constructor(
    loaded: LoadedManifest,
    private readonly session: ort.InferenceSession,
    readonly inputs: OnnxIo[],
    readonly outputs: OnnxIo[],
  ) {
    this.manifest = loaded.manifest;
    this.manifestPath = loaded.manifestPath;
    this.onnxPath = loaded.onnxPath;
    this.sha256 = loaded.manifest.sha256;
  }

  async embed(clips: Float32Array[], labels?: string[]): Promise<EmbedResult> {
    const m = this.manifest;
    const t0 = performance.now();
    const features: FrontendOutput[] = clips.map((samples, i) => {
      const seconds = samples.length / m.sample_rate;
      if (seconds > m.max_seconds) {
        const label = labels?.[i] ?? `clip ${i}`;
        throw new AudioError(
          label,
          'too-long',
          `${seconds.toFixed(2)} s of audio; the model takes at most ${m.max_seconds} s per clip (use voice chunk splitting)`,
        );
      }
      const f = runFrontend(samples, m.frontend, m.sample_rate);
      if (f.shape.some((d) => d === 0)) {
        const label = labels?.[i] ?? `clip ${i}`;
        throw new ModelError(
          `${label}: ${samples.length} samples give an empty model input [${f.shape.join(', ')}]`,
        );
      }
      return f;
    });
    const t1 = performance.now();
    const groups = new Map<string, number[]>();
    features.forEach((f, i) => {
      const key = f.shape.join('x');
      const g = groups.get(key);
      if (g) g.push(i);
      else groups.set(key, [i]);
    });
    const embeddings = new Array<Float32Array>(clips.length);
    let queries = 0;
    for (const indices of groups.values()) {
      for (let s = 0; s < indices.length; s += m.max_batch) {
        const batch = indices.slice(s, s + m.max_batch);
        const shape = (features[batch[0] as number] as FrontendOutput).shape;
        const size = shape.reduce((a, b) => a * b, 1);
        const data = new Float32Array(batch.length * size);
        batch.forEach((idx, b) => data.set((features[idx] as FrontendOutput).data, b * size));
        const out = await this.run(new ort.Tensor('float32', data, [batch.length, ...shape]), batch.length);
        queries++;
        this.totalQueries++;
        batch.forEach((idx, b) => {
          embeddings[idx] = out.subarray(b * m.embedding_dim, (b + 1) * m.embedding_dim);
        });
      }
    }
    return { embeddings, queries, timings: { frontendMs: t1 - t0, inferenceMs: performance.now() - t1 } };
  }

  /** One query; returns `[batch * embedding_dim] float32`, dequantized and L2-normalised per the manifest. */
  private async run(input: ort.Tensor, batch: number): Promise<Float32Array> {
    const m = this.manifest;
    let result: ort.InferenceSession.OnnxValueMapType;
    try {
      result = await this.session.run({ [m.input.name]: input }, [m.output.name]);
    } catch (err) {
      throw new ModelError(
        `${this.onnxPath}: session.run failed on input [${input.dims.join(', ')}] (${(err as Error).message})`,
        { cause: err },
      );
    }
    const tensor = result[m.output.name] as ort.Tensor;
    const expected = [batch, m.embedding_dim];
    if (tensor.dims.length !== 2 || tensor.dims[0] !== batch || tensor.dims[1] !== m.embedding_dim) {
      throw new ModelError(
        `${this.onnxPath}: output "${m.output.name}" has shape [${tensor.dims.join(', ')}], expected [${expected.join(', ')}]`,
      );
    }
    const raw = tensor.data as Float32Array | Int8Array | Uint8Array;
    const q = m.output.quantization;
    const out = new Float32Array(raw.length);
    if (q) for (let i = 0; i < raw.length; i++) out[i] = ((raw[i] as number) - q.zero_point) * q.scale;
    else out.set(raw as Float32Array);
    if (m.l2_normalize) {
      for (let b = 0; b < batch; b++) {
        const v = out.subarray(b * m.embedding_dim, (b + 1) * m.embedding_dim);
        let n = 0;
        for (let i = 0; i < v.length; i++) n += (v[i] as number) ** 2;
        n = Math.sqrt(n) || 1;
        for (let i = 0; i < v.length; i++) (v[i] as number) /= n;
      }
    }
    for (let i = 0; i < out.length; i++) {
      if (!Number.isFinite(out[i]))
        throw new ModelError(`${this.onnxPath}: output contains ${out[i]} at index ${i}`);
    }
    return out;
  }

  async close(): Promise<void> {
    await this.session.release();
  }
}
