/**
 * AssemblyScript (compiled to WebAssembly by `make build`: dist/audio/pcm.wasm) — the decoders' sample loops
 * (src/audio/pcm.ts): 16-bit PCM → float (16-bit WAV, the microphone's s16le) and FLAC's rescaling with its
 * range check. Not part of the tsc build.
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

/**
 * `x[i] = f32(f64(x[i]) · k)` for `n` float32 samples in place, two per step in float64 lanes (the same
 * operations as JavaScript's `x[i] *= k` on a Float32Array), and the largest |x[i]| afterwards (NaN if any
 * sample is NaN).
 */
export function scaleInPlace(x: usize, n: i32, k: f64): f64 {
  const kv = f64x2.splat(k);
  let hi = f64x2.splat(0);
  let i = 0;
  for (; i + 1 < n; i += 2) {
    const p = x + ((<usize>i) << 2);
    const y = f32x4.demote_f64x2_zero(f64x2.mul(f64x2.promote_low_f32x4(v128.load64_zero(p)), kv));
    v128.store64_lane(p, y, 0);
    hi = f64x2.max(hi, f64x2.abs(f64x2.promote_low_f32x4(y))); // NaN propagates
  }
  let m = f64x2.extract_lane(f64x2.max(hi, f64x2.splat(f64x2.extract_lane(hi, 1))), 0);
  for (; i < n; i++) {
    const p = x + ((<usize>i) << 2);
    const y = <f32>(<f64>load<f32>(p) * k);
    store<f32>(p, y);
    m = f64x2.extract_lane(f64x2.max(f64x2.splat(m), f64x2.splat(Math.abs(<f64>y))), 0);
  }
  return m;
}
