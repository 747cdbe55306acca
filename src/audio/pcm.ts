/**
 * 16-bit little-endian PCM → float samples through pcm.wasm (src/audio/pcm.as.ts, eight samples per step): the
 * common recorder format (16-bit mono WAV, the microphone's s16le) without a JavaScript loop per sample.
 */
import { readOwnWasm } from './wasm.js';

let pcm: { memory: WebAssembly.Memory; int16ToFloat(src: number, dst: number, n: number): void } | undefined;

/**
 * Samples of `n` 16-bit little-endian integers at `bytes[0 … 2n)`, divided by 32768 (exact in float32, so the
 * same values as `x / 32768` in JavaScript).
 * @returns `[n] float32` in [-1, 1)
 * @throws Error naming pcm.wasm when it is missing (run `make build`)
 */
export function int16leToFloat(bytes: Uint8Array, n: number): Float32Array {
  if (!pcm) {
    const memory = new WebAssembly.Memory({ initial: 1 });
    const instance = new WebAssembly.Instance(new WebAssembly.Module(readOwnWasm('pcm.wasm', 'audio')), {
      env: { memory },
    });
    pcm = {
      memory,
      int16ToFloat: instance.exports.int16ToFloat as (s: number, d: number, n: number) => void,
    };
  }
  const dst = (2 * n + 15) & ~15;
  const need = dst + 4 * n;
  const have = pcm.memory.buffer.byteLength;
  if (need > have) pcm.memory.grow(Math.ceil((need - have) / 65536));
  new Uint8Array(pcm.memory.buffer).set(bytes.subarray(0, 2 * n));
  pcm.int16ToFloat(0, dst, n);
  return new Float32Array(pcm.memory.buffer.slice(dst, dst + 4 * n));
}
