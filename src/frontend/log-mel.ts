/**
 * The `log-mel` front-end: the configurable log mel spectrogram that wake-word and keyword chips compute
 * before their speaker/keyword network (window type, frame and hop in ms, FFT size, magnitude or power, mel
 * range and count, HTK or Slaney mel, dB or natural/base-10/base-2 log with a floor, affine scale and offset,
 * clip, optional n-bit rounding).
 *
 * Formulas follow torchaudio / librosa: `torch.hamming_window` / `torch.hann_window` (symmetric or periodic),
 * `torch.stft` framing when `center` is set, `torchaudio.functional.melscale_fbanks` (triangles in Hz) or
 * Kaldi's `get_mel_banks` (triangles in mel), `torchaudio.functional.amplitude_to_DB`. The reference
 * implementation is models/train/logmel.py; golden values in test/golden/log-mel.json (|diff| < 1e-4).
 */
import FFT from 'fft.js';

/** Analysis windows: `hamming` = 0.54 − 0.46 cos(2πn/(N−1)); `-periodic` divides by N instead (torch default). */
export type LogMelWindow =
  'hamming' | 'hamming-periodic' | 'hann' | 'hann-periodic' | 'povey' | 'rectangular';

/** The log step (see {@link LogMelOptions.log}). */
export interface LogMelLog {
  /** `db`: multiplier · log10; `ln`, `log10`, `log2`: that logarithm; `none`: linear mel energies. */
  type: 'db' | 'ln' | 'log10' | 'log2' | 'none';
  /** Floor applied before the log (`amin` of librosa/torchaudio). */
  floor: number;
  /** `clamp`: log(max(x, floor)) (librosa, torchaudio); `add`: log(x + floor) (common in device code). */
  floor_mode: 'clamp' | 'add';
  /** dB multiplier: 10 for power, 20 for magnitude (the default follows `spectrum`). */
  multiplier?: number;
  /** dB only: raise every value to at least (max over the clip or window) − top_db (librosa, torchaudio). */
  top_db?: number;
}

/** Options of {@link logMel} (the manifest's `frontend` section with `type: "log-mel"`, plus the rate). */
export interface LogMelOptions {
  /** Hz. */
  sample_frequency: number;
  /** Frame length, milliseconds; samples = trunc(rate · ms / 1000) (as Kaldi/torchaudio). */
  frame_length: number;
  /** Hop between frame starts, milliseconds (truncated to whole samples the same way). */
  frame_shift: number;
  /** FFT size ≥ frame samples, a power of two (default: the next power of two); frames are zero-padded. */
  fft_size?: number;
  window_type: LogMelWindow;
  /**
   * `false`: frame t holds samples [t·hop, t·hop + frame) (Kaldi, tf.signal.stft, CMSIS, most device code).
   * `true`: torch.stft / librosa centring: pad fft_size/2 on both sides (`pad_mode`), frames of fft_size with the
   * window centred in them.
   */
  center: boolean;
  /** Padding of centred frames: `reflect` (torch.stft default) or `constant` (zeros). */
  pad_mode: 'reflect' | 'constant';
  /** `magnitude` |X| or `power` |X|². */
  spectrum: 'magnitude' | 'power';
  num_mel_bins: number;
  /** Lowest mel edge, Hz. */
  low_freq: number;
  /** Highest mel edge, Hz (default: Nyquist). */
  high_freq?: number;
  /** Mel formula: HTK 2595·log10(1 + f/700), or Slaney (linear below 1 kHz, log above; librosa's default). */
  mel_scale: 'htk' | 'slaney';
  /** `slaney`: scale each triangle to unit area (2 / (right − left) Hz, librosa `norm="slaney"`). */
  mel_norm: 'none' | 'slaney';
  /** Where triangles are linear: `hz` (librosa, torchaudio) or `mel` (Kaldi, tf.signal.linear_to_mel_weight_matrix). */
  filter_domain: 'hz' | 'mel';
  log: LogMelLog;
  /** Waveform scale before analysis (32768 for devices that work on 16-bit integers). */
  input_scale: number;
  /** Subtract each mel bin's mean over the frames (of the clip, or of the window in a fixed-window model). */
  cmn: boolean;
  /** Affine map after the log: y = x · scale + offset. */
  scale: number;
  offset: number;
  /** Clip y to [lo, hi]. */
  clip?: [number, number];
  /** Round y to 2^bits − 1 equal steps over the clip range (round half to even, as torch.round). Needs `clip`. */
  quantize_bits?: number;
}

/** Output: `data` is `[frames, num_mel_bins]` row-major float32. */
export interface LogMelFeatures {
  data: Float32Array;
  frames: number;
  bins: number;
}

/** Samples in `ms` milliseconds, truncated: `trunc(rate · ms · 0.001)`. */
export function msToSamples(sampleFrequency: number, ms: number): number {
  return Math.trunc(sampleFrequency * ms * 0.001);
}

/** The FFT size in use: `fft_size`, or the next power of two of the frame length. */
export function logMelFftSize(
  o: Pick<LogMelOptions, 'sample_frequency' | 'frame_length' | 'fft_size'>,
): number {
  return o.fft_size ?? 2 ** Math.ceil(Math.log2(msToSamples(o.sample_frequency, o.frame_length)));
}

type FrameOptions = Pick<LogMelOptions, 'sample_frequency' | 'frame_length' | 'frame_shift' | 'center'>;

/** Frame length and hop in samples. */
function frameSamples(o: FrameOptions): { win: number; hop: number } {
  return {
    win: msToSamples(o.sample_frequency, o.frame_length),
    hop: msToSamples(o.sample_frequency, o.frame_shift),
  };
}

/**
 * Frames of a clip of `numSamples` samples. Not centred: `1 + floor((n − frame) / hop)`, 0 when n < frame.
 * Centred (torch.stft): `1 + floor(n / hop)`.
 */
export function logMelFrameCount(numSamples: number, o: FrameOptions): number {
  const { win, hop } = frameSamples(o);
  if (o.center) return numSamples === 0 ? 0 : 1 + Math.floor(numSamples / hop);
  return numSamples < win ? 0 : 1 + Math.floor((numSamples - win) / hop);
}

/** Fewest samples that give `frames` frames (the input length of a fixed window of `frames` frames). */
export function logMelSamplesForFrames(frames: number, o: FrameOptions): number {
  const { win, hop } = frameSamples(o);
  return o.center ? Math.max(1, (frames - 1) * hop) : win + (frames - 1) * hop;
}

function hzToMel(f: number, scale: 'htk' | 'slaney'): number {
  if (scale === 'htk') return 2595 * Math.log10(1 + f / 700);
  const fSp = 200 / 3;
  const minLogHz = 1000;
  const logstep = Math.log(6.4) / 27;
  return f >= minLogHz ? minLogHz / fSp + Math.log(f / minLogHz) / logstep : f / fSp;
}

function melToHz(m: number, scale: 'htk' | 'slaney'): number {
  if (scale === 'htk') return 700 * (10 ** (m / 2595) - 1);
  const fSp = 200 / 3;
  const minLogHz = 1000;
  const minLogMel = minLogHz / fSp;
  const logstep = Math.log(6.4) / 27;
  return m >= minLogMel ? minLogHz * Math.exp(logstep * (m - minLogMel)) : fSp * m;
}

/** Round half to even (numpy / torch.round). */
function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

function makeWindow(kind: LogMelWindow, n: number): Float64Array {
  const w = new Float64Array(n);
  const periodic = kind.endsWith('-periodic');
  const denom = periodic ? n : n - 1;
  for (let i = 0; i < n; i++) {
    const a = denom > 0 ? (2 * Math.PI * i) / denom : 0;
    if (kind === 'rectangular') w[i] = 1;
    else if (kind.startsWith('hamming')) w[i] = 0.54 - 0.46 * Math.cos(a);
    else if (kind === 'povey') w[i] = (0.5 - 0.5 * Math.cos(a)) ** 0.85;
    else w[i] = 0.5 - 0.5 * Math.cos(a);
  }
  return w;
}

/** A mel triangle over a run of FFT bins. */
interface Bank {
  start: number;
  weights: Float64Array;
}

/**
 * Mel filterbank over the `fft_size/2 + 1` FFT bins.
 * `hz`: torchaudio.functional.melscale_fbanks (bin k at k · floor(rate/2) / (fft_size/2) Hz, as torchaudio).
 * `mel`: Kaldi get_mel_banks (bin k at k · rate / fft_size Hz, slopes in mel).
 */
function melBanks(o: LogMelOptions, fftSize: number): Bank[] {
  const nFreqs = fftSize / 2 + 1;
  const high = o.high_freq ?? o.sample_frequency / 2;
  const mMin = hzToMel(o.low_freq, o.mel_scale);
  const mMax = hzToMel(high, o.mel_scale);
  const edgesMel = Array.from(
    { length: o.num_mel_bins + 2 },
    (_, i) => mMin + ((mMax - mMin) * i) / (o.num_mel_bins + 1),
  );
  const edgesHz = edgesMel.map((m) => melToHz(m, o.mel_scale));
  const banks: Bank[] = [];
  for (let b = 0; b < o.num_mel_bins; b++) {
    const full = new Float64Array(nFreqs);
    for (let k = 0; k < nFreqs; k++) {
      let w: number;
      if (o.filter_domain === 'hz') {
        const f = (k * Math.floor(o.sample_frequency / 2)) / (nFreqs - 1);
        const [l, c, r] = [edgesHz[b] as number, edgesHz[b + 1] as number, edgesHz[b + 2] as number];
        w = Math.max(0, Math.min((f - l) / (c - l), (r - f) / (r - c)));
      } else {
        const m = hzToMel((k * o.sample_frequency) / fftSize, o.mel_scale);
        const [l, c, r] = [edgesMel[b] as number, edgesMel[b + 1] as number, edgesMel[b + 2] as number];
        w = Math.max(0, Math.min((m - l) / (c - l), (r - m) / (r - c)));
      }
      if (o.mel_norm === 'slaney') w *= 2 / ((edgesHz[b + 2] as number) - (edgesHz[b] as number));
      full[k] = w;
    }
    let start = 0;
    while (start < nFreqs && full[start] === 0) start++;
    let end = nFreqs;
    while (end > start && full[end - 1] === 0) end--;
    banks.push({ start, weights: full.slice(start, end) });
  }
  return banks;
}

interface Plan {
  win: number;
  hop: number;
  fftSize: number;
  /** Window placed in the FFT frame: `fftSize` long for centred frames (window centred), else `win`. */
  window: Float64Array;
  banks: Bank[];
  fft: FFT;
}

const plans = new Map<string, Plan>();

function planFor(o: LogMelOptions): Plan {
  const key = JSON.stringify([
    o.sample_frequency,
    o.frame_length,
    o.frame_shift,
    o.fft_size,
    o.window_type,
    o.center,
    o.num_mel_bins,
    o.low_freq,
    o.high_freq,
    o.mel_scale,
    o.mel_norm,
    o.filter_domain,
  ]);
  const cached = plans.get(key);
  if (cached) return cached;
  const { win, hop } = frameSamples(o);
  const fftSize = logMelFftSize(o);
  if (win < 1 || hop < 1)
    throw new RangeError(`log-mel: frame of ${win} samples with a hop of ${hop} samples`);
  if (fftSize < win || !Number.isInteger(Math.log2(fftSize)) || fftSize < 4)
    throw new RangeError(
      `log-mel: fft_size ${fftSize} must be a power of two ≥ the frame length (${win} samples)`,
    );
  let window = makeWindow(o.window_type, win);
  if (o.center) {
    const padded = new Float64Array(fftSize);
    padded.set(window, Math.floor((fftSize - win) / 2));
    window = padded;
  }
  const plan: Plan = { win, hop, fftSize, window, banks: melBanks(o, fftSize), fft: new FFT(fftSize) };
  plans.set(key, plan);
  return plan;
}

/** Sample i of the centred signal (padded by `pad` on both sides), torch.stft's `reflect` or `constant`. */
function centredSample(x: Float32Array, i: number, pad: number, mode: 'reflect' | 'constant'): number {
  let j = i - pad;
  const n = x.length;
  if (j >= 0 && j < n) return x[j] as number;
  if (mode === 'constant') return 0;
  // reflect without repeating the edge sample: x[-1] = x[1], x[n] = x[n-2]
  const period = 2 * (n - 1);
  if (period <= 0) return x[0] ?? 0;
  j = ((j % period) + period) % period;
  return x[j < n ? j : period - j] as number;
}

/**
 * Log mel spectrogram of one clip.
 * @param samples `[numSamples] float32` in [-1, 1) at `sample_frequency` Hz
 * @returns `[frames, num_mel_bins] float32`, frames = {@link logMelFrameCount} (0 for a clip shorter than a frame)
 * @throws RangeError for options the schema should have refused (FFT size, frame length, clip range), or a
 *   centred reflect-padded clip not longer than fft_size/2 (torch.stft refuses it too)
 */
export function logMel(samples: Float32Array, o: LogMelOptions): LogMelFeatures {
  const plan = planFor(o);
  const { win, hop, fftSize, window, banks, fft } = plan;
  const frames = logMelFrameCount(samples.length, o);
  const bins = o.num_mel_bins;
  const out = new Float64Array(frames * bins);
  const input = new Float64Array(fftSize);
  const spectrum = new Float64Array(2 * fftSize);
  const mag = new Float64Array(fftSize / 2 + 1);
  const pad = Math.floor(fftSize / 2);
  if (o.center && o.pad_mode === 'reflect' && samples.length > 0 && samples.length <= pad)
    throw new RangeError(
      `log-mel: centred reflect padding needs more than ${pad} samples, got ${samples.length}`,
    );
  const scale = o.input_scale;
  for (let f = 0; f < frames; f++) {
    input.fill(0);
    if (o.center) {
      const off = f * hop;
      for (let i = 0; i < fftSize; i++) {
        const w = window[i] as number;
        if (w !== 0) input[i] = centredSample(samples, off + i, pad, o.pad_mode) * scale * w;
      }
    } else {
      const off = f * hop;
      for (let i = 0; i < win; i++) input[i] = (samples[off + i] as number) * scale * (window[i] as number);
    }
    fft.realTransform(spectrum, input);
    for (let k = 0; k <= fftSize / 2; k++) {
      const re = spectrum[2 * k] as number;
      const im = spectrum[2 * k + 1] as number;
      const p = re * re + im * im;
      mag[k] = o.spectrum === 'power' ? p : Math.sqrt(p);
    }
    for (let b = 0; b < bins; b++) {
      const bank = banks[b] as Bank;
      let e = 0;
      for (let j = 0; j < bank.weights.length; j++)
        e += (bank.weights[j] as number) * (mag[bank.start + j] as number);
      out[f * bins + b] = e;
    }
  }
  applyLog(out, o);
  if (o.cmn && frames > 0) {
    for (let b = 0; b < bins; b++) {
      let mean = 0;
      for (let f = 0; f < frames; f++) mean += out[f * bins + b] as number;
      mean /= frames;
      for (let f = 0; f < frames; f++) (out[f * bins + b] as number) -= mean;
    }
  }
  const data = new Float32Array(out.length);
  const [lo, hi] = o.clip ?? [-Infinity, Infinity];
  if (o.quantize_bits !== undefined && !(Number.isFinite(lo) && Number.isFinite(hi) && hi > lo))
    throw new RangeError('log-mel: quantize_bits needs a finite clip range [lo, hi] with lo < hi');
  const levels = o.quantize_bits !== undefined ? 2 ** o.quantize_bits - 1 : 0;
  for (let i = 0; i < out.length; i++) {
    let y = (out[i] as number) * o.scale + o.offset;
    y = Math.min(hi, Math.max(lo, y));
    if (levels > 0) y = lo + roundHalfEven(((y - lo) / (hi - lo)) * levels) * ((hi - lo) / levels);
    data[i] = y;
  }
  return { data, frames, bins };
}

/** The log step in place on `[frames, bins]` mel energies. */
function applyLog(x: Float64Array, o: LogMelOptions): void {
  const l = o.log;
  if (l.type === 'none') return;
  const mult = l.type === 'db' ? (l.multiplier ?? (o.spectrum === 'power' ? 10 : 20)) : 1;
  const logf =
    l.type === 'ln' ? Math.log : l.type === 'log2' ? Math.log2 : (v: number) => mult * Math.log10(v);
  let max = -Infinity;
  for (let i = 0; i < x.length; i++) {
    const v = x[i] as number;
    const y = logf(l.floor_mode === 'clamp' ? Math.max(v, l.floor) : v + l.floor);
    x[i] = y;
    if (y > max) max = y;
  }
  if (l.type === 'db' && l.top_db !== undefined) {
    const min = max - l.top_db;
    for (let i = 0; i < x.length; i++) if ((x[i] as number) < min) x[i] = min;
  }
}
