/**
 * Kaldi log mel filterbank ("fbank") features, numerically compatible with
 * `torchaudio.compliance.kaldi.fbank` (which follows Kaldi's compute-fbank-feats). Parameter names are Kaldi's.
 * Golden test: ../shared/golden/fbank80.json (torchaudio output on real clips, |diff| < 1e-3).
 */
import FFT from 'fft.js';
import pffftFactory, { type PffftModule } from '@echogarden/pffft-wasm/simd';
import { readWasm } from '../audio/wasm.js';

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
  /** pffft setup and aligned buffers in the wasm heap (byte offsets), when pffft is loaded. */
  pffft?: { setup: number; input: number; output: number; work: number };
}

const plans = new Map<string, Plan>();

/** Dynamic range (power ratio) below which a float32 FFT bin is redone in float64 (see kaldiFbank): 90 dB. */
const PFFFT_RANGE = 1e-9;

/** PFFFT (Pommier's SIMD FFT, WebAssembly build @echogarden/pffft-wasm) once loaded; fft.js until then. */
let pffft: { module: PffftModule } | undefined;
let pffftLoading: Promise<void> | undefined;
/** Benchmarks/tests: force the fft.js path (`fftjs`) to compare against. */
let forced: 'pffft' | 'fftjs' | undefined;

/**
 * Load the SIMD FFT (PFFFT as WebAssembly) used by {@link kaldiFbank}; until it is loaded (or where it cannot
 * be), fbank uses fft.js (float64) — results agree to ~1e-5 in the log domain. Call once before embedding;
 * {@link SpeakerModel.embed} does.
 */
export async function fbankReady(): Promise<void> {
  if (pffft) return;
  pffftLoading ??= (async () => {
    const module = await pffftFactory({ wasmBinary: readWasm('@echogarden/pffft-wasm/simd', 'pffft.wasm') });
    pffft = { module };
    plans.clear(); // rebuild plans with pffft setups
  })();
  await pffftLoading;
}

/** Which FFT {@link kaldiFbank} uses: PFFFT (default once loaded) or fft.js (the A/B baseline). */
export function setFbankFft(kind: 'pffft' | 'fftjs' | undefined): void {
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
  if (pffft && fftSize >= 32 && fftSize % 32 === 0) {
    const m = pffft.module;
    const setup = m._pffft_new_setup(fftSize, 0); // PFFFT_REAL
    if (setup) {
      plan.pffft = {
        setup,
        input: m._pffft_aligned_malloc(fftSize * 4),
        output: m._pffft_aligned_malloc(fftSize * 4),
        work: m._pffft_aligned_malloc(fftSize * 4),
      };
    }
  }
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
  const { win, shift, fftSize, scaled, floor, mel, power } = plan;
  const half = fftSize / 2;
  const frames = fbankFrameCount(samples.length, o);
  const bins = o.num_mel_bins;
  const data = new Float32Array(frames * bins);
  const c = o.preemphasis_coefficient;
  const wasm = forced !== 'fftjs' && pffft && plan.pffft ? { m: pffft.module, ...plan.pffft } : undefined;
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
    // Pre-emphasis, torchaudio style: x[i] -= c * x[i-1], with x[-1] := x[0]; then the window.
    if (wasm) {
      const heap = wasm.m.HEAPF32;
      const at = wasm.input >> 2;
      // ((x[i] - mean) - c (x[i-1] - mean)) · scale · w[i], in one pass over the samples.
      const m1 = mean * (1 - c);
      let prev = samples[off] as number;
      for (let i = 1; i < win; i++) {
        const cur = samples[off + i] as number;
        heap[at + i] = (cur - c * prev - m1) * (scaled[i] as number);
        prev = cur;
      }
      heap[at] = ((samples[off] as number) - mean) * (1 - c) * (scaled[0] as number);
      heap.fill(0, at + win, at + fftSize);
      wasm.m._pffft_transform_ordered(wasm.setup, wasm.input, wasm.output, wasm.work, 0);
      // Ordered real output: [X0, X(N/2), Re X1, Im X1, Re X2, …].
      const out = wasm.output >> 2;
      power[0] = (heap[out] as number) ** 2;
      for (let k = 1; k < half; k++) {
        const re = heap[out + 2 * k] as number;
        const im = heap[out + 2 * k + 1] as number;
        power[k] = re * re + im * im;
      }
    } else {
      float64Spectrum(plan, samples, off, mean, c);
    }
    let lo = melEnergies(plan, o.use_power, mel);
    // A float32 FFT is exact to ~1e-7 of the frame's strongest bin: where a mel bin lies more than 90 dB below
    // the strongest one and above the floor (pure tones, synthetic input; ~2% of speech frames), the frame is
    // redone in float64 so that log energies keep torchaudio's precision (golden tests).
    if (wasm && lo > 0) {
      float64Spectrum(plan, samples, off, mean, c);
      lo = melEnergies(plan, o.use_power, mel);
    }
    const row = f * bins;
    for (let b = 0; b < bins; b++) {
      const e = mel[b] as number;
      const fl = floor[b] as number;
      data[row + b] = o.use_log_fbank ? Math.log(e > fl ? e : fl) : o.noise_floor > 0 && e < fl ? fl : e;
    }
  }
  if (o.cmn) subtractFrameMean(data, frames, bins);
  return { data, frames, bins };
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

/**
 * Mel energies of `plan.power` into `mel`.
 * @returns the smallest energy when it lies above its bin's floor and more than {@link PFFFT_RANGE} below the
 *   largest (a float32 FFT is not precise enough there), else 0
 */
function melEnergies(plan: Plan, usePower: boolean, mel: Float64Array): number {
  const { power, starts, offsets, weights, floor } = plan;
  if (!usePower) for (let k = 0; k < power.length; k++) power[k] = Math.sqrt(power[k] as number);
  let lo = Infinity;
  let loFloor = 0;
  let hi = 0;
  for (let b = 0; b < mel.length; b++) {
    const start = (starts[b] as number) - (offsets[b] as number);
    let e = 0;
    for (let j = offsets[b] as number, end = offsets[b + 1] as number; j < end; j++)
      e += (weights[j] as number) * (power[start + j] as number);
    mel[b] = e;
    if (e < lo) {
      lo = e;
      loFloor = floor[b] as number;
    }
    if (e > hi) hi = e;
  }
  return lo < hi * PFFFT_RANGE && lo > loFloor ? lo : 0;
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
