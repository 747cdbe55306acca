/**
 * Kaldi log mel filterbank ("fbank") features, numerically compatible with
 * `torchaudio.compliance.kaldi.fbank` (which follows Kaldi's compute-fbank-feats). Parameter names are Kaldi's.
 * Golden test: ../shared/golden/fbank80.json (torchaudio output on real clips, |diff| < 1e-3).
 */
import FFT from 'fft.js';

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
}

const plans = new Map<string, Plan>();

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
  const plan: Plan = { win, shift, fftSize, window, banks, fft: new FFT(fftSize), unitNoise };
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
  const plan = planFor(o);
  const { win, shift, fftSize, window, banks, fft } = plan;
  const frames = fbankFrameCount(samples.length, o);
  const bins = o.num_mel_bins;
  const data = new Float32Array(frames * bins);
  const frame = new Float64Array(win);
  const input = new Float64Array(fftSize);
  const spectrum = new Float64Array(2 * fftSize);
  const power = new Float64Array(fftSize / 2);
  const scale = o.input_scale;
  if (o.noise_floor > 0 && !o.use_power)
    throw new RangeError('kaldi fbank: noise_floor needs use_power (a floor on power spectra)');
  const floor = Float64Array.from(plan.unitNoise, (u) => Math.max(u * o.noise_floor ** 2, LOG_FLOOR));
  for (let f = 0; f < frames; f++) {
    const off = f * shift;
    let mean = 0;
    for (let i = 0; i < win; i++) {
      frame[i] = (samples[off + i] as number) * scale;
      mean += frame[i] as number;
    }
    if (o.remove_dc_offset) {
      mean /= win;
      for (let i = 0; i < win; i++) (frame[i] as number) -= mean;
    }
    // Pre-emphasis, torchaudio style: x[i] -= c * x[i-1], with x[-1] := x[0].
    const c = o.preemphasis_coefficient;
    if (c !== 0) {
      for (let i = win - 1; i > 0; i--) (frame[i] as number) -= c * (frame[i - 1] as number);
      (frame[0] as number) -= c * (frame[0] as number);
    }
    for (let i = 0; i < win; i++) input[i] = (frame[i] as number) * (window[i] as number);
    fft.realTransform(spectrum, input);
    for (let k = 0; k < fftSize / 2; k++) {
      const re = spectrum[2 * k] as number;
      const im = spectrum[2 * k + 1] as number;
      const p = re * re + im * im;
      power[k] = o.use_power ? p : Math.sqrt(p);
    }
    for (let b = 0; b < bins; b++) {
      const bank = banks[b] as Plan['banks'][number];
      let e = 0;
      for (let j = 0; j < bank.weights.length; j++)
        e += (bank.weights[j] as number) * (power[bank.start + j] as number);
      data[f * bins + b] = o.use_log_fbank
        ? Math.log(Math.max(e, floor[b] as number))
        : o.noise_floor > 0
          ? Math.max(e, floor[b] as number)
          : e;
    }
  }
  if (o.cmn) subtractFrameMean(data, frames, bins);
  return { data, frames, bins };
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
