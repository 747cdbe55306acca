/**
 * Sample loops of the decoders through pcm.wasm (src/audio/pcm.as.ts, SIMD): 16-bit little-endian PCM → float
 * (16-bit mono WAV, the microphone's s16le) and FLAC's rescaling with its range check, without a JavaScript loop
 * per sample. Results equal the JavaScript loops they replace, bit for bit.
 */
import { readOwnWasm } from './wasm.js';

interface PcmWasm {
  memory: WebAssembly.Memory;
  int16ToFloat(src: number, dst: number, n: number): void;
  scaleInPlace(x: number, n: number, k: number): number;
}

let pcm: PcmWasm | undefined;

/**
 * pcm.wasm with at least `bytes` of memory (its own, grown as needed).
 * @throws Error naming pcm.wasm when it is missing (run `make build`)
 */
function pcmModule(bytes: number): PcmWasm {
  if (!pcm) {
    const memory = new WebAssembly.Memory({ initial: 1 });
    const instance = new WebAssembly.Instance(new WebAssembly.Module(readOwnWasm('pcm.wasm', 'audio')), {
      env: { memory },
    });
    pcm = { memory, ...(instance.exports as unknown as Omit<PcmWasm, 'memory'>) };
  }
  const have = pcm.memory.buffer.byteLength;
  if (bytes > have) pcm.memory.grow(Math.ceil((bytes - have) / 65536));
  return pcm;
}

/**
 * Samples of `n` 16-bit little-endian integers at `bytes[0 … 2n)`, divided by 32768 (exact in float32, so the
 * same values as `x / 32768` in JavaScript).
 * @returns `[n] float32` in [-1, 1)
 * @throws Error naming pcm.wasm when it is missing (run `make build`)
 */
export function int16leToFloat(bytes: Uint8Array, n: number): Float32Array {
  const dst = (2 * n + 15) & ~15;
  const m = pcmModule(dst + 4 * n);
  new Uint8Array(m.memory.buffer).set(bytes.subarray(0, 2 * n));
  m.int16ToFloat(0, dst, n);
  return new Float32Array(m.memory.buffer.slice(dst, dst + 4 * n));
}

/**
 * `x[i] *= k` in place (the float64 product rounded to float32, as JavaScript does on a Float32Array).
 * @returns the largest |x[i]| afterwards; NaN when a sample is NaN
 * @throws Error naming pcm.wasm when it is missing (run `make build`)
 */
export function scaleInPlace(x: Float32Array, k: number): number {
  const m = pcmModule(4 * x.length);
  const heap = new Float32Array(m.memory.buffer, 0, x.length);
  heap.set(x);
  const max = m.scaleInPlace(0, x.length, k);
  x.set(heap);
  return max;
}
