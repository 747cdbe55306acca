/**
 * Kaldi log mel filterbank ("fbank") features, numerically compatible with
 * `torchaudio.compliance.kaldi.fbank` (which follows Kaldi's compute-fbank-feats). Parameter names are Kaldi's.
 * Golden test: ../shared/golden/fbank80.json (torchaudio output on real clips, |diff| < 1e-3).
 */
import FFT from 'fft.js';
import pffftFactory, { type PffftModule } from '@echogarden/pffft-wasm/simd';
import { emscriptenWithMemory, HeapBlock, instantiateOwnWasm, readWasm } from '../audio/wasm.js';

/**
 * Kaldi fbank options (the subset this project uses; names as in Kaldi / torchaudio). Not supported:
 * `use_energy` (so `energy_floor` and `raw_energy` have no effect), `htk_compat`, VTLN warping, dither ≠ 0.
 */
export interface KaldiFbankOptions {
  /** Hz (default 16000). */
  sample_frequency: number;
  /** Frame length, milliseconds (default 25). */
  frame_length: number;
  /** Frame shift, milliseconds (default 10). */
  frame_shift: number;
  /** Number of triangular mel bins (default 80). */
  num_mel_bins: number;
  /** Pre-emphasis coefficient (default 0.97). */
  preemphasis_coefficient: number;
  /** Subtract each frame's mean before pre-emphasis (default true). */
  remove_dc_offset: boolean;
  /** `povey` (Hann^0.85, Kaldi's default), `hanning` or `hamming` (default povey). */
  window_type: 'povey' | 'hamming' | 'hanning';
  /** Lowest mel bin edge, Hz (default 20). */
  low_freq: number;
  /** Highest mel bin edge, Hz; ≤ 0 means Nyquist + high_freq (default 0). */
  high_freq: number;
  /** Only `true` (Kaldi's default) is supported: frames lie entirely inside the signal. */
  snip_edges: true;
  /** Use power (|X|²) rather than magnitude (default true). */
  use_power: boolean;
  /** Log of the mel energies (default true). */
  use_log_fbank: boolean;
  /** Round the FFT size up to a power of two (default true). */
  round_to_power_of_two: boolean;
  /** Dither; only 0 is supported (deterministic features). */
  dither: 0;
  /** Waveform scale applied before analysis: 32768 gives Kaldi's 16-bit integer range (default 32768). */
  input_scale: number;
  /**
   * Per-utterance cepstral (feature) mean normalisation over frames. Off here, as in torchaudio
   * (`subtract_mean=False`); model manifests default it to on, since the lab's models are trained with CMN.
   */
  cmn: boolean;
  /**
   * Mel energy floor, as the RMS (in `input_scale` units, so 1 = one 16-bit LSB) of white noise: each mel bin's
   * energy is floored at the *expected* energy that such noise gives in that bin after DC removal, pre-emphasis
   * and the window, `E_b = max(E_b, noise_floor² · Σ_k w_bk · E|X_k|²)`. This is a deterministic stand-in for
   * Kaldi's `dither` (which adds such noise, std = `dither`, at random): digital silence and 8-bit quantized
   * pauses land at the level of a quiet 16-bit recording instead of the float32-epsilon floor (log −15.9), while
   * bins above the floor are untouched. 0 = off (torchaudio / Kaldi with dither 0). Needs `use_power`.
   */
  noise_floor: number;
}

/** Defaults: torchaudio.compliance.kaldi.fbank with num_mel_bins 80, dither 0, 16-bit input scale. */
export const KALDI_FBANK_DEFAULTS: KaldiFbankOptions = {
  sample_frequency: 16000,
  frame_length: 25,
  frame_shift: 10,
  num_mel_bins: 80,
  preemphasis_coefficient: 0.97,
  remove_dc_offset: true,
  window_type: 'povey',
  low_freq: 20,
  high_freq: 0,
  snip_edges: true,
  use_power: true,
  use_log_fbank: true,
  round_to_power_of_two: true,
  dither: 0,
  input_scale: 32768,
  cmn: false,
  noise_floor: 0,
};

/** float32 machine epsilon: torchaudio's log floor (`torch.finfo(torch.float).eps`). */
export const LOG_FLOOR = 1.1920928955078125e-7;

/** Fbank output: `data` is `[frames, num_mel_bins]` row-major float32. */
export interface FbankFeatures {
  data: Float32Array;
  frames: number;
  bins: number;
}

/** Samples in `ms` milliseconds, truncated as Kaldi and torchaudio do: `int(sample_frequency * ms * 0.001)`. */
function frameSamples(sampleFrequency: number, ms: number): number {
  return Math.trunc(sampleFrequency * ms * 0.001);
}

/** Number of frames for `numSamples` samples (snip_edges): `1 + floor((numSamples - window) / shift)`, or 0. */
export function fbankFrameCount(numSamples: number, options: Partial<KaldiFbankOptions> = {}): number {
  const o = { ...KALDI_FBANK_DEFAULTS, ...options };
  const win = frameSamples(o.sample_frequency, o.frame_length);
  const shift = frameSamples(o.sample_frequency, o.frame_shift);
  return numSamples < win ? 0 : 1 + Math.floor((numSamples - win) / shift);
}

const melScale = (hz: number): number => 1127 * Math.log(1 + hz / 700);

interface Plan {
  win: number;
  shift: number;
  fftSize: number;
  window: Float64Array;
  /** Per mel bin: first FFT bin and weights. */
  banks: { start: number; weights: Float64Array }[];
  fft: FFT;
  /** Per mel bin: expected mel energy of unit-variance white noise (see `noise_floor`). */
  unitNoise: Float64Array;
  /** Per mel bin: the floor of the mel energy (noise floor or float32 eps). */
  floor: Float64Array;
  /** Mel banks flattened: bin b's weights are `weights[offsets[b] … offsets[b+1])` from FFT bin `starts[b]`. */
  starts: Int32Array;
  offsets: Int32Array;
  weights: Float64Array;
  /** The window times `input_scale`. */
  scaled: Float64Array;
  /** Scratch, reused by every call (no allocation per frame or per clip besides the output). */
  mel: Float64Array;
  exactInput: Float64Array;
  spectrum: Float64Array;
  power: Float64Array;
  /** The plan's arrays in the WebAssembly memory (byte offsets), when the wasm front-end is loaded. */
  wasm?: WasmPlan;
}

/** A plan's constant arrays and per-frame scratch in PFFFT's memory (byte offsets), for fbank.wasm. */
interface WasmPlan {
  setup: number;
  fin: number;
  fout: number;
  work: number;
  /** fft.js's float64 redo: frame, spectrum, the library instance's twiddle table and bit reversal. */
  xin: number;
  spec: number;
  table: number;
  bitrev: number;
  width: number;
  power: number;
  mel: number;
  scaled: number;
  starts: number;
  offsets: number;
  weights: number;
  floor: number;
  cmnMean: number;
}

/** The exports of fbank.wasm (src/frontend/fbank.as.ts); pointers are byte offsets into PFFFT's memory. */
interface FbankWasm {
  fbankFrames(
    x: number,
    frames: number,
    win: number,
    shift: number,
    fftSize: number,
    c: number,
    removeDc: number,
    scaled: number,
    setup: number,
    fin: number,
    fout: number,
    work: number,
    xin: number,
    spec: number,
    table: number,
    bitrev: number,
    width: number,
    power: number,
    starts: number,
    offsets: number,
    weights: number,
    floor: number,
    bins: number,
    mode: number,
    range: number,
    mel: number,
    out: number,
  ): number;
  subtractFrameMean(data: number, frames: number, bins: number, mean: number): void;
}

const plans = new Map<string, Plan>();

/** Dynamic range (power ratio) below which a float32 FFT bin is redone in float64 (see kaldiFbank): 90 dB. */
const PFFFT_RANGE = 1e-9;

/**
 * The WebAssembly front-end once loaded: PFFFT (Pommier's SIMD FFT, @echogarden/pffft-wasm) and fbank.wasm
 * (the per-frame loop, src/frontend/fbank.as.ts), which works in PFFFT's memory and calls its FFT directly.
 */
let engine:
  | {
      module: PffftModule;
      fbank: FbankWasm;
      /** Per-clip buffers: samples in, features out. */
      samples: HeapBlock;
      out: HeapBlock;
    }
  | undefined;
let engineLoading: Promise<void> | undefined;
/** Benchmarks/tests: force the fft.js path (`fftjs`) to compare against. */
let forced: 'wasm' | 'fftjs' | undefined;

/**
 * Load the WebAssembly front-end used by {@link kaldiFbank}: PFFFT (SIMD FFT) and fbank.wasm, the per-frame
 * loop compiled from src/frontend/fbank.as.ts by `make build`. Until it is loaded, fbank uses fft.js in
 * JavaScript (float64; results agree to ~1e-5 in the log domain). Call once before embedding;
 * {@link SpeakerModel.embed} does.
 * @throws Error naming the file when fbank.wasm or pffft.wasm cannot be read (fbank.wasm: run `make build`)
 */
export async function fbankReady(): Promise<void> {
  if (engine) return;
  engineLoading ??= (async () => {
    const file = 'pffft.wasm';
    const { module, memory } = await emscriptenWithMemory(
      pffftFactory,
      readWasm('@echogarden/pffft-wasm/simd', file),
      file,
    );
    // The glue binds each export on its first call; after one call `_pffft_transform_ordered` is the wasm
    // function itself, so fbank.wasm calls it without passing through JavaScript.
    const setup = module._pffft_new_setup(32, 0);
    const buf = module._pffft_aligned_malloc(3 * 32 * 4);
    module._pffft_transform_ordered(setup, buf, buf + 128, buf + 256, 0);
    module._pffft_aligned_free(buf);
    module._pffft_destroy_setup(setup);
    const fbank = await instantiateOwnWasm<FbankWasm>('fbank.wasm', 'frontend', memory, {
      pffft: { transform_ordered: module._pffft_transform_ordered },
    });
    const block = () =>
      new HeapBlock(
        (n) => module._pffft_aligned_malloc(n),
        (p) => module._pffft_aligned_free(p),
        'fbank',
      );
    engine = { module, fbank, samples: block(), out: block() };
    plans.clear(); // rebuild plans with their wasm arrays
  })();
  await engineLoading;
}

/** Which path {@link kaldiFbank} uses: WebAssembly (default once loaded) or fft.js (the A/B baseline). */
export function setFbankFft(kind: 'wasm' | 'fftjs' | undefined): void {
  forced = kind;
}

/** Window, mel banks and FFT plan, cached per option set. Mel banks follow torchaudio `get_mel_banks`. */
function planFor(o: KaldiFbankOptions): Plan {
  const key = JSON.stringify(o);
  const cached = plans.get(key);
  if (cached) return cached;
  const win = frameSamples(o.sample_frequency, o.frame_length);
  const shift = frameSamples(o.sample_frequency, o.frame_shift);
  const fftSize = o.round_to_power_of_two ? 2 ** Math.ceil(Math.log2(win)) : win;
  const window = new Float64Array(win);
  for (let n = 0; n < win; n++) {
    const a = (2 * Math.PI * n) / (win - 1);
    if (o.window_type === 'povey') window[n] = (0.5 - 0.5 * Math.cos(a)) ** 0.85;
    else if (o.window_type === 'hanning') window[n] = 0.5 - 0.5 * Math.cos(a);
    else window[n] = 0.54 - 0.46 * Math.cos(a);
  }
  const nyquist = 0.5 * o.sample_frequency;
  const highFreq = o.high_freq <= 0 ? nyquist + o.high_freq : o.high_freq;
  const numFftBins = fftSize / 2;
  const binWidth = o.sample_frequency / fftSize;
  const melLow = melScale(o.low_freq);
  const melHigh = melScale(highFreq);
  const delta = (melHigh - melLow) / (o.num_mel_bins + 1);
  const banks: Plan['banks'] = [];
  for (let b = 0; b < o.num_mel_bins; b++) {
    const left = melLow + b * delta;
    const center = melLow + (b + 1) * delta;
    const right = melLow + (b + 2) * delta;
    const weights: number[] = [];
    let start = -1;
    for (let k = 0; k < numFftBins; k++) {
      const mel = melScale(binWidth * k);
      const up = (mel - left) / (center - left);
      const down = (right - mel) / (right - center);
      const w = Math.max(0, Math.min(up, down));
      if (w > 0) {
        if (start < 0) start = k;
        weights.length = k - start;
        weights.push(w);
      }
    }
    banks.push({ start: Math.max(start, 0), weights: Float64Array.from(weights, (w) => w ?? 0) });
  }
  const unitNoise = melNoiseEnergy(o, win, fftSize, window, banks);
  const offsets = new Int32Array(banks.length + 1);
  banks.forEach((b, i) => (offsets[i + 1] = (offsets[i] as number) + b.weights.length));
  const weights = new Float64Array(offsets[banks.length] as number);
  banks.forEach((b, i) => weights.set(b.weights, offsets[i]));
  const plan: Plan = {
    win,
    shift,
    fftSize,
    window,
    banks,
    fft: new FFT(fftSize),
    unitNoise,
    floor: Float64Array.from(unitNoise, (u) => Math.max(u * o.noise_floor ** 2, LOG_FLOOR)),
    starts: Int32Array.from(banks, (b) => b.start),
    offsets,
    weights,
    scaled: Float64Array.from(window, (w) => w * o.input_scale),
    mel: new Float64Array(o.num_mel_bins),
    exactInput: new Float64Array(fftSize),
    spectrum: new Float64Array(2 * fftSize),
    power: new Float64Array(fftSize / 2 + 1),
  };
  if (engine && fftSize >= 32 && fftSize % 32 === 0) plan.wasm = wasmPlan(engine.module, plan);
  plans.set(key, plan);
  return plan;
}

/**
 * Expected mel energy of unit-variance white noise per bin. Framing is linear, y = W·P·D·x (D: DC removal,
 * P: pre-emphasis with x[-1] := x[0], W: window), so for x ~ N(0, I), E|X_k|² = ‖(F_k W P D)ᵀ‖² where F_k is
 * the k-th DFT row over the zero-padded frame; computed exactly as Dᵀ Pᵀ (w ⊙ f_k).
 */
function melNoiseEnergy(
  o: KaldiFbankOptions,
  win: number,
  fftSize: number,
  window: Float64Array,
  banks: Plan['banks'],
): Float64Array {
  const c = o.preemphasis_coefficient;
  const power = new Float64Array(fftSize / 2);
  const re = new Float64Array(win);
  const im = new Float64Array(win);
  for (let k = 0; k < fftSize / 2; k++) {
    for (let n = 0; n < win; n++) {
      const a = (-2 * Math.PI * k * n) / fftSize;
      re[n] = (window[n] as number) * Math.cos(a);
      im[n] = (window[n] as number) * Math.sin(a);
    }
    // Pᵀ: y[0] = (1 - c) x[0]; y[i] = x[i] - c x[i-1]  ⇒  u[n] = v[n] - c v[n+1] (n ≥ 1), u[0] = (1 - c) v[0] - c v[1].
    let mr = 0;
    let mi = 0;
    const ur = new Float64Array(win);
    const ui = new Float64Array(win);
    for (let n = 0; n < win; n++) {
      const nr = n + 1 < win ? (re[n + 1] as number) : 0;
      const ni = n + 1 < win ? (im[n + 1] as number) : 0;
      const g = n === 0 ? 1 - c : 1;
      ur[n] = g * (re[n] as number) - c * nr;
      ui[n] = g * (im[n] as number) - c * ni;
      mr += ur[n] as number;
      mi += ui[n] as number;
    }
    let e = 0;
    const dc = o.remove_dc_offset ? 1 / win : 0;
    for (let n = 0; n < win; n++)
      e += ((ur[n] as number) - mr * dc) ** 2 + ((ui[n] as number) - mi * dc) ** 2;
    power[k] = e;
  }
  return Float64Array.from(banks, (bank) =>
    bank.weights.reduce((acc, w, j) => acc + w * (power[bank.start + j] as number), 0),
  );
}

/**
 * Compute Kaldi fbank features of one clip.
 * @param samples `[numSamples] float32` in [-1, 1) at `sample_frequency` Hz (scaled by `input_scale` inside)
 * @param options overrides of {@link KALDI_FBANK_DEFAULTS}
 * @returns `[frames, num_mel_bins] float32`; `frames` = {@link fbankFrameCount}, 0 for clips shorter than a frame
 * @throws RangeError for unsupported options (dither ≠ 0, snip_edges false)
 */
export function kaldiFbank(samples: Float32Array, options: Partial<KaldiFbankOptions> = {}): FbankFeatures {
  const o: KaldiFbankOptions = { ...KALDI_FBANK_DEFAULTS, ...options };
  if (o.dither !== 0) throw new RangeError(`kaldi fbank: dither must be 0 (deterministic), got ${o.dither}`);
  if (o.snip_edges !== true) throw new RangeError('kaldi fbank: only snip_edges=true is supported');
  if (o.noise_floor > 0 && !o.use_power)
    throw new RangeError('kaldi fbank: noise_floor needs use_power (a floor on power spectra)');
  const plan = planFor(o);
  const frames = fbankFrameCount(samples.length, o);
  const bins = o.num_mel_bins;
  const c = o.preemphasis_coefficient;
  if (forced !== 'fftjs' && engine && plan.wasm)
    return wasmFbank(engine, plan, plan.wasm, samples, frames, o);
  const data = new Float32Array(frames * bins);
  const { win, shift } = plan;
  // Frame means from a running sum: add the samples that enter the window, drop those that leave it.
  let sum = 0;
  let summedTo = 0;
  for (let f = 0; f < frames; f++) {
    const off = f * shift;
    let mean = 0;
    if (o.remove_dc_offset) {
      if (f === 0 || shift > win) {
        sum = 0;
        for (let i = off; i < off + win; i++) sum += samples[i] as number;
      } else {
        for (let i = off - shift; i < off; i++) sum -= samples[i] as number;
        for (let i = summedTo; i < off + win; i++) sum += samples[i] as number;
      }
      summedTo = off + win;
      mean = sum / win;
    }
    float64Spectrum(plan, samples, off, mean, c);
    melEnergies(plan, o.use_power, plan.mel);
    melRow(plan, o, data, f * bins);
  }
  if (o.cmn) subtractFrameMean(data, frames, bins);
  return { data, frames, bins };
}

/** Bit flags of fbank.wasm's `mode` argument. */
const MODE_POWER = 1;
const MODE_LOG = 2;
const MODE_NOISE_FLOOR = 4;

/**
 * The WebAssembly path of {@link kaldiFbank}: the clip is copied into PFFFT's memory and fbank.wasm runs every
 * frame (framing, PFFFT, power, mel, log; frames spanning more than {@link PFFFT_RANGE} again with fft.js's
 * float64 FFT, ported) in one call, then CMN; bit-identical to the JavaScript path below with the same FFTs.
 */
function wasmFbank(
  e: NonNullable<typeof engine>,
  plan: Plan,
  w: WasmPlan,
  samples: Float32Array,
  frames: number,
  o: KaldiFbankOptions,
): FbankFeatures {
  const bins = o.num_mel_bins;
  const x = e.samples.reserve(samples.length * 4);
  const out = e.out.reserve(frames * bins * 4);
  e.module.HEAPF32.set(samples, x >> 2);
  const mode =
    (o.use_power ? MODE_POWER : 0) |
    (o.use_log_fbank ? MODE_LOG : 0) |
    (o.noise_floor > 0 ? MODE_NOISE_FLOOR : 0);
  redoneFrames += e.fbank.fbankFrames(
    x,
    frames,
    plan.win,
    plan.shift,
    plan.fftSize,
    o.preemphasis_coefficient,
    o.remove_dc_offset ? 1 : 0,
    w.scaled,
    w.setup,
    w.fin,
    w.fout,
    w.work,
    w.xin,
    w.spec,
    w.table,
    w.bitrev,
    w.width,
    w.power,
    w.starts,
    w.offsets,
    w.weights,
    w.floor,
    bins,
    mode,
    PFFFT_RANGE,
    w.mel,
    out,
  );
  if (o.cmn) e.fbank.subtractFrameMean(out, frames, bins, w.cmnMean);
  const at = out >> 2;
  return { data: e.module.HEAPF32.slice(at, at + frames * bins), frames, bins };
}

/** Frames fbank.wasm redid with the float64 FFT since the process started (bench/frontend-speed.ts). */
let redoneFrames = 0;

/** Frames the WebAssembly front-end redid in float64 (the > 90 dB guard), for benchmarks. */
export function fbankRedoneFrames(): number {
  return redoneFrames;
}

/** 16-byte aligned block of PFFFT's heap. @throws Error when the wasm heap cannot grow */
function alloc(m: PffftModule, bytes: number): number {
  const p = m._pffft_aligned_malloc(Math.max(bytes, 16));
  if (!p) throw new Error(`fbank: cannot allocate ${bytes} bytes of WebAssembly memory`);
  return p;
}

/** Copy a plan's arrays into PFFFT's memory and allocate its scratch. */
function wasmPlan(m: PffftModule, plan: Plan): WasmPlan | undefined {
  const setup = m._pffft_new_setup(plan.fftSize, 0); // PFFFT_REAL
  if (!setup) return undefined;
  const put = (a: Float64Array | Int32Array): number => {
    const p = alloc(m, a.byteLength);
    // The view is taken after the allocation: the heap may have grown.
    new Uint8Array(m.HEAPF32.buffer, p, a.byteLength).set(
      new Uint8Array(a.buffer, a.byteOffset, a.byteLength),
    );
    return p;
  };
  const n = plan.fftSize;
  // The mel banks in groups of four bins, weights row-major [row][4], zero-padded (see fbank.as.ts melEnergies).
  const groups = Math.ceil(plan.banks.length / 4);
  const starts = new Int32Array(4 * groups);
  const rows = new Int32Array(groups + 1);
  let longest = 0;
  for (let g = 0; g < groups; g++) {
    const group = plan.banks.slice(4 * g, 4 * g + 4);
    const len = Math.max(...group.map((b) => b.weights.length));
    longest = Math.max(longest, len);
    rows[g + 1] = (rows[g] as number) + len;
    group.forEach((b, i) => (starts[4 * g + i] = b.start));
  }
  const grouped = new Float64Array(4 * (rows[groups] as number));
  plan.banks.forEach((b, i) =>
    b.weights.forEach((w, j) => (grouped[4 * ((rows[i >> 2] as number) + j) + (i & 3)] = w)),
  );
  const power = alloc(m, (n / 2 + 1 + longest) * 8);
  new Uint8Array(m.HEAPF32.buffer, power, (n / 2 + 1 + longest) * 8).fill(0);
  const fft = plan.fft as unknown as { table: number[]; _bitrev: number[]; _width: number };
  // The FFT inputs zeroed once: fbank.wasm writes the first `win` values of each frame, the rest is the padding.
  const zeroed = (bytes: number): number => {
    const p = alloc(m, bytes);
    new Uint8Array(m.HEAPF32.buffer, p, bytes).fill(0);
    return p;
  };
  return {
    setup,
    fin: zeroed(n * 4),
    fout: alloc(m, n * 4),
    work: alloc(m, n * 4),
    xin: zeroed(n * 8),
    spec: alloc(m, 2 * n * 8),
    table: put(Float64Array.from(fft.table)),
    bitrev: put(Int32Array.from(fft._bitrev)),
    width: fft._width,
    power,
    mel: alloc(m, plan.mel.length * 8),
    scaled: put(plan.scaled),
    starts: put(starts),
    offsets: put(rows),
    weights: put(grouped),
    floor: put(plan.floor),
    cmnMean: alloc(m, plan.mel.length * 8),
  };
}

/** One row of features from `plan.mel` into `data` at `at`: log (or not) of the floored mel energies. */
function melRow(plan: Plan, o: KaldiFbankOptions, data: Float32Array, at: number): void {
  const { mel, floor } = plan;
  for (let b = 0; b < mel.length; b++) {
    const e = mel[b] as number;
    const fl = floor[b] as number;
    data[at + b] = o.use_log_fbank ? Math.log(e > fl ? e : fl) : o.noise_floor > 0 && e < fl ? fl : e;
  }
}

/**
 * Power spectrum of the frame at `off` with fft.js in float64 (DC removal, pre-emphasis, scale and window
 * applied here) into `plan.power`.
 */
function float64Spectrum(plan: Plan, samples: Float32Array, off: number, mean: number, c: number): void {
  const { win, scaled, exactInput: x, spectrum, power, fft } = plan;
  for (let i = win - 1; i > 0; i--)
    x[i] =
      ((samples[off + i] as number) - mean - c * ((samples[off + i - 1] as number) - mean)) *
      (scaled[i] as number);
  x[0] = ((samples[off] as number) - mean) * (1 - c) * (scaled[0] as number);
  fft.realTransform(spectrum, x);
  for (let k = 0, half = plan.fftSize / 2; k < half; k++) {
    const re = spectrum[2 * k] as number;
    const im = spectrum[2 * k + 1] as number;
    power[k] = re * re + im * im;
  }
}

/** Mel energies of `plan.power` into `mel` (float64, sparse weights; magnitudes when not `usePower`). */
function melEnergies(plan: Plan, usePower: boolean, mel: Float64Array): void {
  const { power, starts, offsets, weights } = plan;
  if (!usePower) for (let k = 0; k < power.length; k++) power[k] = Math.sqrt(power[k] as number);
  for (let b = 0; b < mel.length; b++) {
    const start = (starts[b] as number) - (offsets[b] as number);
    let e = 0;
    for (let j = offsets[b] as number, end = offsets[b + 1] as number; j < end; j++)
      e += (weights[j] as number) * (power[start + j] as number);
    mel[b] = e;
  }
}

/**
 * Per-utterance mean normalisation (CMN) in place: subtract each bin's mean over frames.
 * @param data `[frames, bins]` row-major
 */
export function subtractFrameMean(data: Float32Array, frames: number, bins: number): void {
  if (frames === 0) return;
  const mean = new Float64Array(bins);
  for (let f = 0; f < frames; f++)
    for (let b = 0; b < bins; b++) (mean[b] as number) += data[f * bins + b] as number;
  for (let b = 0; b < bins; b++) (mean[b] as number) /= frames;
  for (let f = 0; f < frames; f++)
    for (let b = 0; b < bins; b++) (data[f * bins + b] as number) -= mean[b] as number;
}
