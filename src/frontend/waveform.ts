/**
 * The `waveform` front-end: the model takes raw samples; optional peak or RMS normalisation.
 */

/** Options of {@link waveformFrontend}. */
export interface WaveformOptions {
  /** `peak`: scale so max |x| = 1; `rms`: scale so RMS = `target_rms`; `none`: passthrough. */
  normalize: 'none' | 'peak' | 'rms';
  /** RMS target for `rms` normalisation (default 0.1). */
  target_rms?: number;
}

/**
 * @param samples `[numSamples] float32`
 * @returns `[numSamples] float32` (a new array unless `normalize` is `none`); silent input is returned as is
 */
export function waveformFrontend(samples: Float32Array, options: WaveformOptions): Float32Array {
  if (options.normalize === 'none') return samples;
  let scale: number;
  if (options.normalize === 'peak') {
    let peak = 0;
    for (let i = 0; i < samples.length; i++) peak = Math.max(peak, Math.abs(samples[i] as number));
    scale = peak > 0 ? 1 / peak : 1;
  } else {
    let acc = 0;
    for (let i = 0; i < samples.length; i++) acc += (samples[i] as number) ** 2;
    const rms = Math.sqrt(acc / Math.max(1, samples.length));
    scale = rms > 0 ? (options.target_rms ?? 0.1) / rms : 1;
  }
  const out = new Float32Array(samples.length);
  for (let i = 0; i < samples.length; i++) out[i] = (samples[i] as number) * scale;
  return out;
}
