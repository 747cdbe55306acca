/**
 * Front-end dispatch: turn prepared samples into the model's input tensor (without the batch axis),
 * as the manifest's `frontend` section says.
 */
import { kaldiFbank, KALDI_FBANK_DEFAULTS, type KaldiFbankOptions } from './kaldi-fbank.js';
import { logMel, logMelSamplesForFrames, msToSamples, type LogMelOptions } from './log-mel.js';
import { waveformFrontend, type WaveformOptions } from './waveform.js';

export * from './kaldi-fbank.js';
export * from './log-mel.js';
export * from './waveform.js';

/** A front-end configuration, as in a model manifest's `frontend` section. */
export type FrontendConfig =
  | ({ type: 'kaldi-fbank' } & Partial<Omit<KaldiFbankOptions, 'sample_frequency'>>)
  | ({ type: 'log-mel' } & Omit<LogMelOptions, 'sample_frequency'>)
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
 * @returns fbank and log-mel: `[frames, num_mel_bins] float32`; waveform: `[numSamples] float32`
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
  if (frontend.type === 'log-mel') {
    const { type: _type, ...options } = frontend;
    const lm = logMel(samples, { ...options, sample_frequency: sampleRate });
    return { data: lm.data, shape: [lm.frames, lm.bins] };
  }
  const { type: _type, ...kaldi } = frontend;
  const fb = kaldiFbank(samples, { ...kaldi, sample_frequency: sampleRate });
  return { data: fb.data, shape: [fb.frames, fb.bins] };
}

/**
 * Frame geometry of a feature front-end, for cutting fixed windows: the fewest samples that give `frames`
 * frames, and the samples between the starts of consecutive frames.
 * @throws RangeError for the waveform front-end (it has no frames)
 */
export function frontendFrameGeometry(
  frontend: FrontendConfig,
  sampleRate: number,
  frames: number,
): { samples: number; hopSamples: number } {
  if (frontend.type === 'waveform') throw new RangeError('the waveform front-end has no frames');
  if (frontend.type === 'log-mel') {
    const o = { ...frontend, sample_frequency: sampleRate };
    return { samples: logMelSamplesForFrames(frames, o), hopSamples: msToSamples(sampleRate, o.frame_shift) };
  }
  const o = { ...KALDI_FBANK_DEFAULTS, ...frontend };
  const win = msToSamples(sampleRate, o.frame_length);
  const shift = msToSamples(sampleRate, o.frame_shift);
  return { samples: win + (frames - 1) * shift, hopSamples: shift };
}
