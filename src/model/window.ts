/**
 * Fixed-window models (the manifest's `window`): a wake-word speaker model takes a window of fixed length
 * (e.g. 40 log-mel frames ≈ 1 s) and its utterance embedding is the mean of the window embeddings
 * (d-vector, Variani et al. ICASSP 2014; Wan et al. GE2E, ICASSP 2018). Every voice is cut into windows here,
 * all windows of a call are embedded in one batched run, and the window embeddings are pooled per voice.
 */
import { frontendFrameGeometry } from '../frontend/index.js';
import type { ModelManifest } from './manifest.js';

/** A manifest's window in samples. */
export interface WindowPlan {
  /** Samples per window (for `frames`: exactly the samples that give that many front-end frames). */
  samples: number;
  /** Samples between window starts. */
  hopSamples: number;
  /** Front-end frames per window (undefined for a `seconds` window of the waveform front-end). */
  frames?: number;
  pad: 'wrap' | 'zero';
  l2Normalize: boolean;
}

/** The window of a manifest in samples, or undefined when the model takes whole voices. */
export function windowPlan(m: ModelManifest): WindowPlan | undefined {
  const w = m.window;
  if (!w) return undefined;
  const rate = m.sample_rate;
  if (w.frames !== undefined) {
    const g = frontendFrameGeometry(m.frontend, rate, w.frames);
    return {
      samples: g.samples,
      hopSamples: (w.hop ?? w.frames) * g.hopSamples,
      frames: w.frames,
      pad: w.pad,
      l2Normalize: w.l2_normalize,
    };
  }
  const seconds = w.seconds as number;
  return {
    samples: Math.round(seconds * rate),
    hopSamples: Math.max(1, Math.round((w.hop_seconds ?? seconds) * rate)),
    pad: w.pad,
    l2Normalize: w.l2_normalize,
  };
}

/**
 * Cut one voice into windows: starts 0, hop, 2·hop, … while the window fits (a tail shorter than that is not
 * used); a voice shorter than one window becomes one window, repeated (`wrap`) or zero-padded (`zero`).
 * @param samples `[numSamples] float32`
 * @returns `[plan.samples] float32` windows (views into `samples` where possible); none for an empty voice
 */
export function cutWindows(samples: Float32Array, plan: WindowPlan): Float32Array[] {
  const L = plan.samples;
  if (samples.length === 0) return [];
  if (samples.length < L) {
    const out = new Float32Array(L);
    if (plan.pad === 'zero') out.set(samples);
    else
      for (let o = 0; o < L; o += samples.length)
        out.set(samples.subarray(0, Math.min(samples.length, L - o)), o);
    return [out];
  }
  const windows: Float32Array[] = [];
  for (let s = 0; s + L <= samples.length; s += plan.hopSamples) windows.push(samples.subarray(s, s + L));
  return windows;
}

/** Number of windows {@link cutWindows} makes of `numSamples` samples. */
export function windowCount(numSamples: number, plan: WindowPlan): number {
  if (numSamples === 0) return 0;
  if (numSamples < plan.samples) return 1;
  return 1 + Math.floor((numSamples - plan.samples) / plan.hopSamples);
}

/**
 * Pool window embeddings into one voice embedding: the mean, after L2-normalising each window when
 * `plan.l2Normalize` is set.
 * @param windows `[windows][D] float32`, at least one
 * @returns `[D] float32`
 */
export function poolWindows(windows: Float32Array[], plan: Pick<WindowPlan, 'l2Normalize'>): Float32Array {
  const dim = (windows[0] as Float32Array).length;
  const acc = new Float64Array(dim);
  for (const w of windows) {
    let n = 1;
    if (plan.l2Normalize) {
      let s = 0;
      for (let i = 0; i < dim; i++) s += (w[i] as number) ** 2;
      n = Math.sqrt(s) || 1;
    }
    for (let i = 0; i < dim; i++) (acc[i] as number) += (w[i] as number) / n;
  }
  return Float32Array.from(acc, (v) => v / windows.length);
}
