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
  /**
   * Energy gate, lower threshold, dB above the clip's noise floor (0 or absent: no energy gate): a frame is
   * speech only when libfvad calls it speech *and* its energy is at least this far above the clip's noise floor
   * (half way from the floor to the clip's loudest 50 ms, in dB, when the clip spans less than twice this).
   */
  energyAboveFloorDb?: number;
  /**
   * Energy gate, upper threshold, dB below the clip's loudest 50 ms (0 or absent: the lower threshold only):
   * the clip is cut to the first … last speech frame that also reaches this level (or the lower threshold,
   * if higher). Steady background noise, hum or dither at the ends of a clip, far below its speech, is then cut
   * however libfvad scores it; quieter speech between such frames is kept.
   */
  energyBelowPeakDb?: number;
}

/** Defaults used by the audit, the reference bank and calibration (no energy gate: the shipped bundles' stage). */
export const VAD_DEFAULTS: VadOptions = { mode: 2, marginSeconds: 0.1, dropDigitalSilence: true };

/**
 * The defaults with the energy gate (lower threshold 6 dB above the clip's noise floor, upper 25 dB below its
 * loudest 50 ms; settings chosen on shadow speakers' clips, docs/audio.md). Not yet the audit's stage (the shipped
 * bundles would have to be recalibrated through it); audits run it next to the stage to measure how much of each
 * kept clip is steady background rather than speech (`Clip.gatedSeconds`, the `noisy-margins` guard).
 */
export const VAD_GATED: VadOptions = { ...VAD_DEFAULTS, energyAboveFloorDb: 6, energyBelowPeakDb: 25 };

/**
 * Stable text form of VAD options for cache keys and file headers, e.g.
 * `fvad:m2,margin=0.100,drop-ds,floor+6dB,peak-25dB`.
 */
export function vadLabel(o: VadOptions): string {
  return (
    `fvad:m${o.mode},margin=${o.marginSeconds.toFixed(3)}${o.dropDigitalSilence ? ',drop-ds' : ''}` +
    (o.energyAboveFloorDb ? `,floor+${o.energyAboveFloorDb}dB` : '') +
    (o.energyAboveFloorDb && o.energyBelowPeakDb ? `,peak-${o.energyBelowPeakDb}dB` : '')
  );
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

/** Frames of the moving average whose maximum is the clip's loudest level. */
const LEVEL_FRAMES = 5;
/** Share of the clip's frames (digital silence left out) at or below its noise-floor estimate. */
const FLOOR_QUANTILE = 0.05;

/**
 * The energy gate of {@link VadOptions.energyAboveFloorDb} and {@link VadOptions.energyBelowPeakDb}, in place:
 * speech decisions (1) of frames below the lower threshold become non-speech (0), those at or above the upper
 * threshold become 2 (speech that anchors the trimming); digital silence (-1) and non-speech stay.
 *
 * Frame energy: mean square of the frame's samples after removing the frame's mean (DC offset, as Kaldi's
 * `remove_dc_offset`). Noise floor: the 5 % quantile of the frame energies (digital silence left out). Loudest
 * level: the largest mean energy of 5 consecutive frames (50 ms: one click cannot set it). Lower threshold:
 * floor + min(`aboveDb`, (loudest − floor) / 2) in dB; upper: max(lower, loudest − `belowPeakDb`).
 * These are the two thresholds of Rabiner & Sambur's endpoint detector ("An algorithm for determining the
 * endpoints of isolated utterances", Bell Syst. Tech. J. 54(2), 1975): a lower one a fixed factor above the
 * background energy measured on the recording itself, an upper one relative to the recording's peak that a
 * stretch must reach to count as an utterance — the same idea as the relative-to-peak floor of trimming tools
 * (librosa.effects.trim, `top_db`) and Kaldi's energy VAD (compute-vad), whose threshold follows the
 * recording's own log-energy rather than an absolute level. Settings chosen on shadow speakers' clips
 * (docs/audio.md).
 * @param decisions `[frames]` int8 from {@link frameDecisions}
 * @param samples `[numSamples] float32` the decisions were made on
 * @param len samples per frame
 * @param aboveDb lower threshold, dB above the noise floor
 * @param belowPeakDb upper threshold, dB below the loudest 50 ms (0: no upper threshold)
 */
function gateByEnergy(
  decisions: Int8Array,
  samples: Float32Array,
  len: number,
  aboveDb: number,
  belowPeakDb: number,
): void {
  const frames = decisions.length;
  if (frames === 0) return;
  const energy = new Float64Array(frames);
  const live: number[] = [];
  for (let f = 0; f < frames; f++) {
    const o = f * len;
    let sum = 0;
    let sq = 0;
    for (let i = 0; i < len; i++) {
      const v = samples[o + i];
      sum += v;
      sq += v * v;
    }
    const e = sq / len - (sum / len) ** 2;
    energy[f] = e > 0 ? e : 0; // NaN (never after decoding's checks) counts as 0
    if (decisions[f] !== -1) live.push(energy[f]);
  }
  if (live.length === 0) return;
  live.sort((a, b) => a - b);
  const floor = live[Math.floor((live.length - 1) * FLOOR_QUANTILE)];
  // The largest mean over LEVEL_FRAMES consecutive frames (over all frames when the clip has fewer).
  const w = Math.min(LEVEL_FRAMES, frames);
  let run = 0;
  for (let f = 0; f < w; f++) run += energy[f];
  let loudest = run;
  for (let f = w; f < frames; f++) {
    run += energy[f] - energy[f - w];
    loudest = Math.max(loudest, run);
  }
  loudest /= w;
  if (!(loudest > 0)) return;
  const spanDb = floor > 0 ? 10 * Math.log10(loudest / floor) : Infinity;
  const lower = floor * 10 ** (Math.min(aboveDb, spanDb / 2) / 10);
  const upper = belowPeakDb ? Math.max(lower, loudest * 10 ** (-belowPeakDb / 10)) : Infinity;
  for (let f = 0; f < frames; f++) {
    if (decisions[f] !== 1) continue;
    if (energy[f] < lower) decisions[f] = 0;
    else if (energy[f] >= upper) decisions[f] = 2;
  }
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
  const { decisions, probe, rate } = await probeDecisions(samples, sampleRate, options.mode);
  if (options.energyAboveFloorDb) gate(decisions, probe, rate, options);
  return cutToSpeech(samples, sampleRate, decisions, options);
}

/**
 * {@link detectSpeech} with `options`, plus the seconds the same stage with the energy gate of `gated` would
 * keep — from one pass of libfvad over the clip (the gate is applied to a copy of its decisions).
 * @param gated options whose `energyAboveFloorDb` / `energyBelowPeakDb` are the gate (e.g. {@link VAD_GATED})
 */
export async function detectSpeechAndGate(
  samples: Float32Array,
  sampleRate: number,
  options: VadOptions,
  gated: VadOptions,
): Promise<SpeechActivity & { gatedKeptSeconds: number }> {
  const { decisions, probe, rate } = await probeDecisions(samples, sampleRate, options.mode);
  const gatedDecisions = decisions.slice();
  if (options.energyAboveFloorDb) gate(decisions, probe, rate, options);
  if (gated.energyAboveFloorDb) gate(gatedDecisions, probe, rate, gated);
  return {
    ...cutToSpeech(samples, sampleRate, decisions, options),
    gatedKeptSeconds: cutToSpeech(samples, sampleRate, gatedDecisions, gated).keptSeconds,
  };
}

/** libfvad's per-frame decisions of a clip (analysed on a 16 kHz copy at rates libfvad does not take). */
async function probeDecisions(
  samples: Float32Array,
  sampleRate: number,
  mode: number,
): Promise<{ decisions: Int8Array; probe: Float32Array; rate: number }> {
  await vadReady();
  const rate = FVAD_RATES.includes(sampleRate) ? sampleRate : 16000;
  const probe = rate === sampleRate ? samples : await resample(samples, sampleRate, rate);
  return { decisions: frameDecisions(probe, rate, mode), probe, rate };
}

/** {@link gateByEnergy} with the thresholds of `o`, on frames of the probe's rate. */
function gate(decisions: Int8Array, probe: Float32Array, rate: number, o: VadOptions): void {
  const len = Math.round(rate * FRAME_SECONDS);
  gateByEnergy(decisions, probe, len, o.energyAboveFloorDb ?? 0, o.energyBelowPeakDb ?? 0);
}

/** Cut a clip to its speech by per-frame decisions (-1 digital silence, 0 none, 1 speech, 2 loud speech). */
function cutToSpeech(
  samples: Float32Array,
  sampleRate: number,
  decisions: Int8Array,
  options: VadOptions,
): SpeechActivity {
  const hop = sampleRate * FRAME_SECONDS; // input samples per decision frame (may be fractional)
  const at = (f: number): number => Math.min(samples.length, Math.round(f * hop));
  // Trimming anchors on the frames the energy gate calls loud speech (2), when there are any.
  const anchor = decisions.includes(2) ? 2 : 1;
  let first = decisions.indexOf(anchor);
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
  let last = decisions.lastIndexOf(anchor);
  let speech = 0; // speech frames between the anchors (not in the margins)
  for (let f = first; f <= last; f++) if (decisions[f] >= 1) speech++;
  const margin = Math.round(options.marginSeconds / FRAME_SECONDS);
  for (let k = 0; k < margin && first > 0 && decisions[first - 1] !== -1; k++) first--;
  for (let k = 0; k < margin && last + 1 < decisions.length && decisions[last + 1] !== -1; k++) last++;
  const start = at(first);
  // The last frame's margin may reach the clip's tail that is shorter than one frame; keep it unless silent.
  const end = last === decisions.length - 1 && decisions[last] !== -1 ? samples.length : at(last + 1);
  let silent = 0;
  for (let f = first; f <= last; f++) if (decisions[f] === -1) silent++;
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
