/**
 * Speech-activity stage between decoding and the front-end: WebRTC's voice activity detector (libfvad, the
 * GMM VAD of the WebRTC project, compiled to WebAssembly by @echogarden/fvad-wasm) finds speech in 10 ms
 * frames; the clip is cut to its first..last speech frame (plus a short margin), runs of digital silence
 * (frames whose samples are all one 16-bit value) are removed, and the seconds of speech are counted.
 *
 * Why WebRTC's VAD and not Silero VAD (bench/RESULTS.md, "VAD choice"): on 200 speechocean762 clips both keep
 * a similar share of the audio (fvad mode 3: 85%, Silero: 86%), but Silero found almost no speech (0.19 s of
 * 2.0 s) in clips of two children that fvad and a listener hear as speech, and it costs 18.5 ms per 2 s clip
 * (62 sequential onnxruntime calls) against ~0.1 ms per mode for fvad, which matters because decoding and the
 * front-end must stay well under the model's own time (issue 12). fvad is deterministic and needs no model
 * file.
 */
import fvadFactory, { type FvadModule } from '@echogarden/fvad-wasm';
import { resample } from './resample.js';
import { emscriptenWithMemory, HeapBlock, instantiateOwnWasm, readWasm } from './wasm.js';

/** Options of {@link detectSpeech}. Part of the embedding-cache key (see {@link vadLabel}). */
export interface VadOptions {
  /** WebRTC VAD aggressiveness 0 (least) … 3 (most likely to call a frame non-speech). */
  mode: 0 | 1 | 2 | 3;
  /** Audio kept before the first and after the last speech frame, seconds (never digital silence). */
  marginSeconds: number;
  /** Remove runs of digital silence inside the kept region too (not only at the ends). */
  dropDigitalSilence: boolean;
}

/** Defaults used by the audit, the reference bank and calibration. */
export const VAD_DEFAULTS: VadOptions = { mode: 2, marginSeconds: 0.1, dropDigitalSilence: true };

/** Stable text form of VAD options for cache keys and file headers, e.g. `fvad:m2,margin=0.100,drop-ds`. */
export function vadLabel(o: VadOptions): string {
  return `fvad:m${o.mode},margin=${o.marginSeconds.toFixed(3)}${o.dropDigitalSilence ? ',drop-ds' : ''}`;
}

/** Result of {@link detectSpeech}. */
export interface SpeechActivity {
  /** The kept samples: `[numKept] float32` (a view of the input when nothing inside was removed). */
  samples: Float32Array;
  /** First and one-past-last input sample of the kept region (0, 0 when there is no speech). */
  start: number;
  end: number;
  /** Seconds in frames the VAD called speech (inside the kept region). */
  speechSeconds: number;
  /** Seconds kept (`samples.length / sampleRate`). */
  keptSeconds: number;
  /** Seconds of digital silence removed from inside the kept region. */
  droppedSilenceSeconds: number;
}

/** Sample rates libfvad accepts. */
const FVAD_RATES = [8000, 16000, 32000, 48000];
const FRAME_SECONDS = 0.01;

/** The exports of vad.wasm (src/audio/vad.as.ts); pointers are byte offsets into libfvad's memory. */
interface VadWasm {
  frameDecisions(inst: number, x: number, frames: number, len: number, buf: number, out: number): void;
}

/**
 * libfvad (WebAssembly) and vad.wasm, which works in libfvad's memory and calls `fvad_process` directly; one
 * VAD instance, a 10 ms frame buffer, and per-clip buffers (samples in, decisions out) grown as needed.
 */
let fvad:
  | {
      module: FvadModule;
      loop: VadWasm;
      handle: number;
      buffer: number;
      /** Per-clip buffers: samples in, decisions out. */
      samples: HeapBlock;
      decisions: HeapBlock;
    }
  | undefined;
let loading: Promise<void> | undefined;

/**
 * Instantiate the WebAssembly VAD once per process: libfvad and vad.wasm (compiled by `make build` from
 * src/audio/vad.as.ts).
 * @throws Error naming the file when fvad.wasm or vad.wasm cannot be read (vad.wasm: run `make build`)
 */
export async function vadReady(): Promise<void> {
  if (fvad) return;
  loading ??= (async () => {
    const file = 'fvad.wasm';
    const { module, memory } = await emscriptenWithMemory(
      fvadFactory,
      readWasm('@echogarden/fvad-wasm', file),
      file,
    );
    const handle = module._fvad_new();
    if (!handle) throw new Error('fvad: cannot allocate a VAD instance');
    const buffer = module._malloc(480 * 2); // 10 ms at 48 kHz
    // The glue binds each export on its first call; after one call `_fvad_process` is the wasm function itself,
    // so vad.wasm calls it without passing through JavaScript.
    module._fvad_process(handle, buffer, 0);
    const loop = await instantiateOwnWasm<VadWasm>('vad.wasm', 'audio', memory, {
      fvad: { process: module._fvad_process },
    });
    const block = () =>
      new HeapBlock(
        (n) => module._malloc(n),
        (p) => module._free(p),
        'fvad',
      );
    fvad = { module, loop, handle, buffer, samples: block(), decisions: block() };
  })();
  await loading;
}

/**
 * Per 10 ms frame: 1 speech, 0 non-speech, -1 digital silence (all samples one 16-bit value; not given to
 * libfvad). The conversion to 16-bit (round half up, clamped) and the calls run in vad.wasm.
 * @param samples `[numSamples] float32` in [-1, 1) at `rate` (one of 8, 16, 32, 48 kHz)
 */
function frameDecisions(samples: Float32Array, rate: number, mode: number): Int8Array {
  const v = fvad as NonNullable<typeof fvad>;
  const m = v.module;
  const len = Math.round(rate * FRAME_SECONDS);
  const frames = Math.floor(samples.length / len);
  m._fvad_reset(v.handle); // also resets mode and rate
  if (m._fvad_set_sample_rate(v.handle, rate) < 0 || m._fvad_set_mode(v.handle, mode) < 0)
    throw new RangeError(`fvad: rate ${rate} Hz or mode ${mode} not accepted`);
  const n = frames * len;
  const x = v.samples.reserve(n * 4);
  const out = v.decisions.reserve(frames);
  m.HEAPF32.set(samples.subarray(0, n), x >> 2);
  v.loop.frameDecisions(v.handle, x, frames, len, v.buffer, out);
  return new Int8Array(m.HEAP16.buffer.slice(out, out + frames));
}

/**
 * Find the speech in a clip and cut it to it (see the module comment).
 * @param samples `[numSamples] float32` in [-1, 1)
 * @param sampleRate Hz; rates libfvad does not take (other than 8/16/32/48 kHz) are analysed on a 16 kHz copy
 * @returns the kept samples and the seconds of speech; `speechSeconds` 0 and no samples when none was found
 */
export async function detectSpeech(
  samples: Float32Array,
  sampleRate: number,
  options: VadOptions = VAD_DEFAULTS,
): Promise<SpeechActivity> {
  await vadReady();
  const rate = FVAD_RATES.includes(sampleRate) ? sampleRate : 16000;
  const probe = rate === sampleRate ? samples : await resample(samples, sampleRate, rate);
  const decisions = frameDecisions(probe, rate, options.mode);
  const hop = sampleRate * FRAME_SECONDS; // input samples per decision frame (may be fractional)
  const at = (f: number): number => Math.min(samples.length, Math.round(f * hop));
  let first = decisions.indexOf(1);
  if (first < 0) {
    return {
      samples: samples.subarray(0, 0),
      start: 0,
      end: 0,
      speechSeconds: 0,
      keptSeconds: 0,
      droppedSilenceSeconds: 0,
    };
  }
  let last = decisions.lastIndexOf(1);
  const margin = Math.round(options.marginSeconds / FRAME_SECONDS);
  for (let k = 0; k < margin && first > 0 && decisions[first - 1] !== -1; k++) first--;
  for (let k = 0; k < margin && last + 1 < decisions.length && decisions[last + 1] !== -1; k++) last++;
  const start = at(first);
  // The last frame's margin may reach the clip's tail that is shorter than one frame; keep it unless silent.
  const end = last === decisions.length - 1 && decisions[last] !== -1 ? samples.length : at(last + 1);
  let speech = 0;
  let silent = 0;
  for (let f = first; f <= last; f++) {
    if (decisions[f] === 1) speech++;
    else if (decisions[f] === -1) silent++;
  }
  let kept = samples.subarray(start, end);
  if (options.dropDigitalSilence && silent > 0) {
    const parts: Float32Array[] = [];
    let runStart = -1;
    for (let f = first; f <= last + 1; f++) {
      const keep = f <= last && decisions[f] !== -1;
      if (keep && runStart < 0) runStart = f;
      if (!keep && runStart >= 0) {
        parts.push(samples.subarray(at(runStart), f === last + 1 ? end : at(f)));
        runStart = -1;
      }
    }
    const total = parts.reduce((n, p) => n + p.length, 0);
    const out = new Float32Array(total);
    let o = 0;
    for (const p of parts) {
      out.set(p, o);
      o += p.length;
    }
    kept = out;
  }
  return {
    samples: kept,
    start,
    end,
    speechSeconds: speech * FRAME_SECONDS,
    keptSeconds: kept.length / sampleRate,
    droppedSilenceSeconds: options.dropDigitalSilence ? (end - start - kept.length) / sampleRate : 0,
  };
}
