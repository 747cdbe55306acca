/**
 * Front-end dispatch: turn prepared samples into the model's input tensor (without the batch axis),
 * as the manifest's `frontend` section says.
 */
import { kaldiFbank, type KaldiFbankOptions } from './kaldi-fbank.js';
import { waveformFrontend, type WaveformOptions } from './waveform.js';

export * from './kaldi-fbank.js';
export * from './waveform.js';

/** A front-end configuration, as in a model manifest's `frontend` section. */
export type FrontendConfig =
  | ({ type: 'kaldi-fbank' } & Partial<Omit<KaldiFbankOptions, 'sample_frequency'>>)
  | ({ type: 'waveform' } & WaveformOptions);

/** One clip's model input: `data` row-major with `shape` (`[frames, mel]` or `[samples]`). */
export interface FrontendOutput {
  data: Float32Array;
  shape: number[];
}

/**
 * Run the manifest's front-end on one clip.
 * @param samples `[numSamples] float32` at the manifest's `sample_rate` (Hz)
 * @param frontend the manifest's `frontend` section
 * @returns fbank: `[frames, num_mel_bins] float32`; waveform: `[numSamples] float32`
 */
export function runFrontend(
  samples: Float32Array,
  frontend: FrontendConfig,
  sampleRate: number,
): FrontendOutput {
  if (frontend.type === 'waveform') {
    const data = waveformFrontend(samples, frontend);
    return { data, shape: [data.length] };
  }
  const { type: _type, ...kaldi } = frontend;
  const fb = kaldiFbank(samples, { ...kaldi, sample_frequency: sampleRate });
  return { data: fb.data, shape: [fb.frames, fb.bins] };
}
