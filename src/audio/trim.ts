/**
 * Energy-based trimming of leading and trailing silence.
 */

/** Options of {@link trimSilence}. */
export interface TrimOptions {
  /** Frames whose energy is this many dB below the loudest frame count as silence (default 40 dB). */
  thresholdDb?: number;
  /** Analysis frame length, seconds (default 0.025). */
  frameSeconds?: number;
  /** Analysis hop, seconds (default 0.010). */
  hopSeconds?: number;
  /** Audio kept before the first and after the last voiced frame, seconds (default 0.05). */
  marginSeconds?: number;
}

/**
 * Cut leading/trailing frames whose mean-square energy is more than `thresholdDb` below the loudest frame.
 * Silence inside the clip is kept. All-silent (all-zero) input is returned unchanged.
 * @param samples `[numSamples] float32`
 * @param sampleRate Hz
 * @returns a subarray view of `samples`
 */
export function trimSilence(
  samples: Float32Array,
  sampleRate: number,
  options: TrimOptions = {},
): Float32Array {
  const frame = Math.max(1, Math.round((options.frameSeconds ?? 0.025) * sampleRate));
  const hop = Math.max(1, Math.round((options.hopSeconds ?? 0.01) * sampleRate));
  const margin = Math.round((options.marginSeconds ?? 0.05) * sampleRate);
  const threshold = 10 ** (-(options.thresholdDb ?? 40) / 10);
  if (samples.length <= frame) return samples;
  const numFrames = 1 + Math.floor((samples.length - frame) / hop);
  const energy = new Float64Array(numFrames);
  let peak = 0;
  for (let f = 0; f < numFrames; f++) {
    let acc = 0;
    for (let i = f * hop, end = f * hop + frame; i < end; i++) acc += (samples[i] as number) ** 2;
    energy[f] = acc / frame;
    if (energy[f] > peak) peak = energy[f];
  }
  if (peak === 0) return samples;
  let first = 0;
  while (first < numFrames && energy[first] < peak * threshold) first++;
  let last = numFrames - 1;
  while (last > first && energy[last] < peak * threshold) last--;
  const start = Math.max(0, first * hop - margin);
  const end = Math.min(samples.length, last * hop + frame + margin);
  return samples.subarray(start, end);
}
