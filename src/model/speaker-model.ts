/**
 * Batched speaker-embedding model adapter over onnxruntime-node. Every `session.run` is one *query* of the
 * model (SLMIA-SR "query economy"); the adapter counts them and reports the count with every result.
 */
import { cpus } from 'node:os';
import * as ort from 'onnxruntime-node';
import { AudioError, ManifestError, ModelError } from '../errors.js';
import { fbankReady, runFrontend } from '../frontend/index.js';
import { arrangeItem, itemShape, layoutAxes } from './layout.js';
import {
  INPUT_LAYOUTS,
  layoutIsWaveform,
  readManifest,
  type InputLayout,
  type LoadedManifest,
  type ModelManifest,
} from './manifest.js';
import { inputKey, type FrontendCache, type ModelInput } from './frontend-cache.js';
import { cutWindows, poolWindows, windowPlan, type WindowPlan } from './window.js';

/** Result of {@link SpeakerModel.embed}. */
export interface EmbedResult {
  /** One embedding per input clip, in input order: `[embedding_dim] float32`. */
  embeddings: Float32Array[];
  /** Model calls made for this result. */
  queries: number;
  /** Wall time per stage, milliseconds. */
  timings: { frontendMs: number; inferenceMs: number };
}

/** Options of {@link SpeakerModel.embed}. */
export interface EmbedOptions {
  frontendCache?: FrontendCache;
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
  /** The manifest's fixed window in samples, or undefined when the model takes whole clips. */
  readonly window: WindowPlan | undefined;
  /**
   * Embed clips in as few queries as possible: clips whose model input has the same shape are batched
   * together (up to `max_batch` inputs per query); clips of different lengths are never padded. A
   * fixed-window model gets every clip's windows (see window.ts), all batched together, and returns per clip
   * the pooled window embeddings; `l2_normalize` applies to that pooled embedding.
   * @param clips `[numSamples] float32` each, at `manifest.sample_rate` Hz
   * @param labels optional names of the clips for error messages, parallel to `clips`
   * @param options `frontendCache`: inputs shared with other models given the same clip arrays (an audit's
   *   target and reference models): a model whose sample rate, front-end, window and layout equal an earlier
   *   one's reuses its features instead of computing them again
   * @throws AudioError `too-long` when a clip is longer than the manifest's `max_seconds`
   * @throws ModelError when a clip is too short for one frame or the session fails
   */
  embed(clips: Float32Array[], labels?: string[], options?: EmbedOptions): Promise<EmbedResult>;
  close(): Promise<void>;
}

/**
 * How onnxruntime runs a session. The defaults suit a hub whose cores are shared with other programs (the voice
 * assistant being audited): measured in bench/RESULTS.md ("ONNX Runtime session options").
 */
export interface RuntimeOptions {
  /** Intra-op threads per session (default: `SLMIA_ORT_THREADS`, else the number of CPUs). */
  threads?: number;
  /**
   * Let idle intra-op threads spin (busy-wait) for the next parallel section (onnxruntime's default) instead of
   * sleeping (session config `session.intra_op.allow_spinning`). Default false: spinning threads compete with
   * the main thread and with other processes for the same cores, which makes inference several times slower
   * as soon as another process keeps a core busy.
   */
  spinning?: boolean;
  /**
   * onnxruntime's CPU memory arena (`enableCpuMemArena`): keeps the largest activations ever allocated for
   * reuse. Default true.
   */
  cpuMemArena?: boolean;
}

/** Options of {@link loadSpeakerModel}. */
export type LoadOptions = RuntimeOptions;

let runtimeDefaults: RuntimeOptions = {};

/**
 * Set the runtime options every later {@link loadSpeakerModel} call starts from (the daemon applies its
 * `onnxruntime` settings here, so every model it loads, target or reference, runs the same way). Keys left
 * undefined keep the built-in defaults.
 */
export function configureOnnxRuntime(defaults: RuntimeOptions): void {
  runtimeDefaults = { ...defaults };
}

/**
 * onnxruntime session options for {@link RuntimeOptions} (the built-in defaults and
 * {@link configureOnnxRuntime}'s filled in).
 */
export function sessionOptions(o: RuntimeOptions = {}): ort.InferenceSession.SessionOptions {
  const r = { ...runtimeDefaults, ...o };
  const threads = r.threads ?? (Number(process.env.SLMIA_ORT_THREADS) || cpus().length);
  const spin = (r.spinning ?? false) ? '1' : '0';
  return {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    enableCpuMemArena: r.cpuMemArena ?? true,
    // failures reach the caller as typed errors with onnxruntime's message; no second copy on stderr
    logSeverityLevel: 4,
    extra: { session: { intra_op: { allow_spinning: spin }, inter_op: { allow_spinning: spin } } },
  };
}

function describe(meta: readonly ort.InferenceSession.ValueMetadata[]): OnnxIo[] {
  return meta.map((m) =>
    m.isTensor
      ? { name: m.name, type: m.type, shape: [...m.shape] }
      : { name: m.name, type: 'non-tensor', shape: [] },
  );
}

/** Fixed size of each input axis the manifest implies (undefined where the model may take any size). */
function expectedAxis(
  manifest: ModelManifest,
  axis: string,
): { size: number; field: string; what: string } | undefined {
  const f = manifest.frontend;
  const plan = windowPlan(manifest);
  if (axis === '1') return { size: 1, field: 'input.layout', what: 'a channel axis of size 1' };
  if (axis === 'mel' && f.type !== 'waveform') {
    return { size: f.num_mel_bins ?? 80, field: 'frontend.num_mel_bins', what: 'mel bins' };
  }
  if (axis === 'frames' && plan) {
    const frames =
      plan.frames ??
      runFrontend(new Float32Array(plan.samples), manifest.frontend, manifest.sample_rate).shape[0];
    return {
      size: frames as number,
      field: manifest.window?.frames !== undefined ? 'window.frames' : 'window.seconds',
      what: 'frames per window',
    };
  }
  if (axis === 'samples' && plan)
    return { size: plan.samples, field: 'window.seconds', what: 'samples per window' };
  return undefined;
}

/**
 * Check the manifest against the session's real inputs/outputs (names, ranks, every fixed axis, element
 * types). Fixed frames or samples in the ONNX input need a `window` that gives exactly that many.
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
  const axes = layoutAxes(manifest.input.layout);
  const shape = `[${input.shape.join(', ')}]`;
  if (input.shape.length !== axes.length) {
    throw new ManifestError(
      file,
      'input.layout',
      `layout "${manifest.input.layout}" needs rank ${axes.length}, ONNX input "${input.name}" has rank ${input.shape.length} ${shape}`,
    );
  }
  const batchDim = input.shape[0];
  if (typeof batchDim === 'number' && batchDim !== -1 && batchDim < manifest.max_batch) {
    throw new ManifestError(
      file,
      'max_batch',
      `manifest allows ${manifest.max_batch} inputs per query but ONNX input "${input.name}" has a fixed batch size of ${batchDim}`,
    );
  }
  if (input.type !== 'float32') {
    throw new ManifestError(
      file,
      'input.name',
      `ONNX input "${input.name}" is ${input.type}, expected float32`,
    );
  }
  /**
   * The first axis whose fixed ONNX size contradicts the manifest under `layout`, if any: a size the manifest
   * implies that differs, or a fixed frames/samples axis when the manifest has no window.
   */
  const conflict = (layout: InputLayout) =>
    layoutAxes(layout)
      .map((axis, k) => ({ axis, k, dim: input.shape[k], want: expectedAxis(manifest, axis) }))
      .find(
        ({ axis, k, dim, want }) =>
          k > 0 &&
          typeof dim === 'number' &&
          dim >= 0 &&
          (want ? want.size !== dim : axis === 'frames' || axis === 'samples'),
      );
  const first = conflict(manifest.input.layout);
  // A size-1 channel axis in the wrong place, or a fixed frames axis where another order of the same axes
  // fits everything, is a layout error; a plain size mismatch names its own field below.
  if (first && (first.axis === '1' || first.dim === 1 || first.want === undefined)) {
    const fits = INPUT_LAYOUTS.filter(
      (l) =>
        l !== manifest.input.layout &&
        layoutAxes(l).length === axes.length &&
        layoutIsWaveform(l) === layoutIsWaveform(manifest.input.layout) &&
        !conflict(l),
    );
    if (fits.length > 0) {
      throw new ManifestError(
        file,
        'input.layout',
        `ONNX input "${input.name}" ${shape} does not fit layout "${manifest.input.layout}" with this front-end and window, but fits ${fits.map((l) => `"${l}"`).join(' or ')}`,
      );
    }
  }
  axes.forEach((axis, k) => {
    const dim = input.shape[k];
    if (k === 0 || typeof dim !== 'number' || dim < 0) return;
    const want = expectedAxis(manifest, axis);
    if (want && want.size !== dim) {
      throw new ManifestError(
        file,
        want.field,
        `layout "${manifest.input.layout}" puts ${want.what} on axis ${k}: the manifest gives ${want.size}, ONNX input "${input.name}" ${shape} takes ${dim}`,
      );
    }
    if (!want && (axis === 'frames' || axis === 'samples')) {
      throw new ManifestError(
        file,
        'window',
        `ONNX input "${input.name}" ${shape} takes exactly ${dim} ${axis} on axis ${k}: a fixed-window model needs window.${axis === 'frames' ? 'frames' : 'seconds'} in the manifest`,
      );
    }
  });
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
  if (typeof dim === 'number' && dim >= 0 && dim !== manifest.embedding_dim) {
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
 * Load model.json + its ONNX file, verify the pin and the I/O, run one dummy query through the whole path
 * (front-end, window, layout) and check the real output shape, so that a wrong manifest fails here.
 * @param manifestPath path to model.json
 * @throws ManifestError invalid manifest, sha256 mismatch, manifest/ONNX mismatch, or a dummy query whose
 *   input the model refuses or whose output is not `[1, embedding_dim]` (the field at fault is named)
 * @throws ModelError the ONNX file cannot be opened by onnxruntime
 */
export async function loadSpeakerModel(
  manifestPath: string,
  options: LoadOptions = {},
): Promise<SpeakerModel> {
  const loaded = await readManifest(manifestPath);
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(loaded.onnxPath, sessionOptions(options));
  } catch (err) {
    throw new ModelError(
      `${loaded.onnxPath}: onnxruntime cannot load the model (${(err as Error).message})`,
      { cause: err },
    );
  }
  const inputs = describe(session.inputMetadata);
  const outputs = describe(session.outputMetadata);
  const model = new OnnxSpeakerModel(loaded, session, inputs, outputs);
  try {
    checkManifestAgainstSession(loaded.manifest, inputs, outputs, manifestPath);
    await model.probe();
  } catch (err) {
    await session.release();
    throw err;
  }
  return model;
}

/** Deterministic test signal for the load-time dummy query: two tones and a little noise, 0.3 peak. */
function probeSignal(samples: number, rate: number): Float32Array {
  let s = 12345;
  return Float32Array.from({ length: samples }, (_, i) => {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    const t = i / rate;
    return (
      0.2 * Math.sin(2 * Math.PI * 180 * t) +
      0.08 * Math.sin(2 * Math.PI * 1250 * t) +
      0.02 * (s / 2 ** 31 - 0.5)
    );
  });
}

/** One model input ready for batching: the layout-ordered data and its shape without the batch axis. */
type Item = ModelInput;

class OnnxSpeakerModel implements SpeakerModel {
  readonly manifest: ModelManifest;
  readonly manifestPath: string;
  readonly onnxPath: string;
  readonly sha256: string;
  readonly window: WindowPlan | undefined;
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
    this.window = windowPlan(loaded.manifest);
  }

  /** Front-end + layout of one piece of audio (a clip or a window). */
  private item(samples: Float32Array, label: string): Item {
    const m = this.manifest;
    const f = runFrontend(samples, m.frontend, m.sample_rate);
    if (f.shape.some((d) => d === 0)) {
      throw new ModelError(
        `${label}: ${samples.length} samples give an empty model input [${f.shape.join(', ')}]`,
      );
    }
    return { data: arrangeItem(m.input.layout, f.data, f.shape), shape: itemShape(m.input.layout, f.shape) };
  }

  /**
   * The load-time dummy query: one input as the pipeline builds it (a window, or a clip of 1 s within
   * [min_seconds, max_seconds]), and the real output shape checked against the manifest. Not counted in
   * {@link totalQueries}.
   */
  async probe(): Promise<void> {
    await fbankReady(); // the front-end the queries use (else fbank's plans are made twice, once for fft.js)
    const m = this.manifest;
    const file = this.manifestPath;
    const samples =
      this.window?.samples ?? Math.round(Math.min(m.max_seconds, Math.max(m.min_seconds, 1)) * m.sample_rate);
    const item = this.item(probeSignal(samples, m.sample_rate), 'dummy query');
    const dims = [1, ...item.shape];
    let tensor: ort.Tensor;
    try {
      const result = await this.session.run({ [m.input.name]: new ort.Tensor('float32', item.data, dims) }, [
        m.output.name,
      ]);
      tensor = result[m.output.name] as ort.Tensor;
    } catch (err) {
      const fields = m.window ? 'frontend, window and input.layout' : 'frontend and input.layout';
      throw new ManifestError(
        file,
        m.window ? 'window' : 'input',
        `the model refuses a dummy input [${dims.join(', ')}] built as ${fields} say (${(err as Error).message.split('\n')[0]})${m.window ? '' : '; if it takes a fixed number of frames, describe the window with window.frames'}`,
        { cause: err },
      );
    }
    if (tensor.dims.length !== 2) {
      throw new ManifestError(
        file,
        'output.name',
        `a dummy query [${dims.join(', ')}] returns "${m.output.name}" of shape [${tensor.dims.join(', ')}], expected [1, embedding_dim]`,
      );
    }
    if (tensor.dims[0] !== 1 || tensor.dims[1] !== m.embedding_dim) {
      throw new ManifestError(
        file,
        tensor.dims[0] !== 1 ? 'output.name' : 'embedding_dim',
        `manifest says ${m.embedding_dim}, but a dummy query [${dims.join(', ')}] returns "${m.output.name}" of shape [${tensor.dims.join(', ')}]`,
      );
    }
  }

  async embed(clips: Float32Array[], labels?: string[], options: EmbedOptions = {}): Promise<EmbedResult> {
    const m = this.manifest;
    await fbankReady(); // the SIMD FFT (once per process)
    const t0 = performance.now();
    // pieces = what goes into the model: whole clips, or the windows of every clip
    const cache = options.frontendCache;
    const key = inputKey(m);
    const items: Item[] = [];
    const owner: number[] = [];
    clips.forEach((samples, i) => {
      const label = labels?.[i] ?? `clip ${i}`;
      const seconds = samples.length / m.sample_rate;
      if (seconds > m.max_seconds) {
        throw new AudioError(
          label,
          'too-long',
          `${seconds.toFixed(2)} s of audio; the model takes at most ${m.max_seconds} s per clip (use voice chunk splitting)`,
        );
      }
      let made = cache?.get(samples, key);
      if (!made) {
        const pieces = this.window ? cutWindows(samples, this.window) : [samples];
        if (pieces.length === 0) throw new ModelError(`${label}: empty clip`);
        made = pieces.map((p, j) => this.item(p, this.window ? `${label} window ${j}` : label));
        cache?.set(samples, key, made);
      }
      for (const item of made) {
        items.push(item);
        owner.push(i);
      }
    });
    const t1 = performance.now();
    const groups = new Map<string, number[]>();
    items.forEach((f, i) => {
      const key = f.shape.join('x');
      const g = groups.get(key);
      if (g) g.push(i);
      else groups.set(key, [i]);
    });
    const rows = new Array<Float32Array>(items.length);
    let queries = 0;
    for (const indices of groups.values()) {
      for (let s = 0; s < indices.length; s += m.max_batch) {
        const batch = indices.slice(s, s + m.max_batch);
        const shape = (items[batch[0] as number] as Item).shape;
        const size = shape.reduce((a, b) => a * b, 1);
        const data = new Float32Array(batch.length * size);
        batch.forEach((idx, b) => data.set((items[idx] as Item).data, b * size));
        const out = await this.run(new ort.Tensor('float32', data, [batch.length, ...shape]), batch.length);
        queries++;
        this.totalQueries++;
        batch.forEach((idx, b) => {
          rows[idx] = out.subarray(b * m.embedding_dim, (b + 1) * m.embedding_dim);
        });
      }
    }
    let embeddings: Float32Array[];
    if (this.window) {
      const perClip: Float32Array[][] = clips.map(() => []);
      rows.forEach((r, k) => (perClip[owner[k] as number] as Float32Array[]).push(r));
      const plan = this.window;
      embeddings = perClip.map((w) => poolWindows(w, plan));
    } else embeddings = rows;
    if (m.l2_normalize) for (const e of embeddings) l2NormalizeInPlace(e);
    return { embeddings, queries, timings: { frontendMs: t1 - t0, inferenceMs: performance.now() - t1 } };
  }

  /** One query; returns `[batch * embedding_dim] float32`, dequantized per the manifest. */
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

/** Scale a vector to unit L2 norm in place (a zero vector stays zero). */
function l2NormalizeInPlace(v: Float32Array): void {
  let n = 0;
  for (let i = 0; i < v.length; i++) n += (v[i] as number) ** 2;
  n = Math.sqrt(n) || 1;
  for (let i = 0; i < v.length; i++) (v[i] as number) /= n;
}
