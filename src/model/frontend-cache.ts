/**
 * Model inputs shared between models that see the same clips: an audit queries the target and its reference
 * models (difficulty calibration) with the same voices, and models whose front-end, window and input layout are
 * identical (a target and the shadow of its architecture) need the features only once.
 */
import type { ModelManifest } from './manifest.js';

/** One model input: `data` arranged as the layout says, with its shape (without the batch axis). */
export interface ModelInput {
  data: Float32Array;
  shape: number[];
}

/**
 * Inputs per clip (by array identity) and per input configuration. Entries live as long as the clip arrays
 * (a WeakMap): make one cache per audit and pass the same clip arrays to every model's `embed`.
 */
export class FrontendCache {
  private readonly byClip = new WeakMap<Float32Array, Map<string, ModelInput[]>>();
  /** Clips whose inputs were served from the cache / computed. */
  hits = 0;
  misses = 0;

  /** The inputs computed for `clip` under `key` (see {@link inputKey}), if any. */
  get(clip: Float32Array, key: string): ModelInput[] | undefined {
    const found = this.byClip.get(clip)?.get(key);
    if (found) this.hits++;
    else this.misses++;
    return found;
  }

  set(clip: Float32Array, key: string, inputs: ModelInput[]): void {
    let m = this.byClip.get(clip);
    if (!m) this.byClip.set(clip, (m = new Map()));
    m.set(key, inputs);
  }
}

/**
 * Everything that shapes a model's inputs from a clip's samples: sample rate, front-end section (defaults
 * filled in), fixed window and input layout. Equal keys give equal inputs.
 */
export function inputKey(m: ModelManifest): string {
  return JSON.stringify({
    rate: m.sample_rate,
    frontend: m.frontend,
    window: m.window,
    layout: m.input.layout,
  });
}
