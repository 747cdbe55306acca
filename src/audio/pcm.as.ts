/**
 * AssemblyScript (compiled to WebAssembly by `make build`: dist/audio/pcm.wasm) — the 16-bit PCM → float loop
 * of src/audio/wav.ts (16-bit WAV and the microphone's s16le), eight samples per step. Not part of the tsc build.
 * The module's own memory (exported) holds the caller's input and output; the caller grows it.
 */

/**
 * `dst[i] = src[i] / 32768` for `n` samples: `src` `[n]` i16 (little-endian), `dst` `[n]` f32. Exact (a 16-bit
 * integer times 2^-15 is a float32), so equal to JavaScript's `x / 32768` rounded to float32.
 */
export function int16ToFloat(src: usize, dst: usize, n: i32): void {
  const scale = f32x4.splat(1.0 / 32768.0);
  let i = 0;
  for (; i + 7 < n; i += 8) {
    const v = v128.load(src + ((<usize>i) << 1));
    const lo = f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(v));
    const hi = f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(v));
    v128.store(dst + ((<usize>i) << 2), f32x4.mul(lo, scale));
    v128.store(dst + ((<usize>i) << 2), f32x4.mul(hi, scale), 16);
  }
  for (; i < n; i++) store<f32>(dst + ((<usize>i) << 2), <f32>load<i16>(src + ((<usize>i) << 1)) * (1.0 / 32768.0));
}
