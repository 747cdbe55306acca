/**
 * AssemblyScript (compiled to WebAssembly by `make build`: dist/audio/vad.wasm) — the per-frame loop of the
 * speech-activity stage in src/audio/vad.ts, moved out of JavaScript. Not part of the tsc build (excluded in
 * tsconfig.json).
 *
 * The module owns no memory: it imports libfvad's (`env.memory`, the @echogarden/fvad-wasm instance) and calls
 * its `fvad_process` as an import, so a whole clip is one call from JavaScript. Pointers are byte offsets into
 * that memory, allocated by the caller. The 16-bit conversion is vad.ts's, operation for operation.
 */

@external('fvad', 'process')
declare function fvadProcess(inst: usize, frame: usize, length: usize): i32;

/**
 * Per frame of `len` samples: 1 speech, 0 non-speech, -1 digital silence (every 16-bit value equal; libfvad
 * does not see such a frame). `x`: `[frames · len]` float32 in [-1, 1); `buf`: `[len]` i16 scratch; `out`:
 * `[frames]` i8. The fvad instance `inst` is configured (rate, mode, reset) by the caller.
 */
export function frameDecisions(inst: usize, x: usize, frames: i32, len: i32, buf: usize, out: usize): void {
  const scale = f64x2.splat(32768);
  const half = f64x2.splat(32768.5);
  const top = f64x2.splat(0.99996948);
  const bottom = f64x2.splat(-1);
  const offset = i32x4.splat(32768);
  const max = i32x4.splat(32767);
  const min = i32x4.splat(-32768);
  for (let f = 0; f < frames; f++) {
    const xf = x + ((<usize>(f * len)) << 2);
    // To 16-bit (round half up, clamped); NaN gives -32768 as JavaScript's `| 0` does. Four samples per step,
    // each in a float64 lane with the scalar formula's operations (so the same results).
    const first: i32 = quantize(<f64>load<f32>(xf));
    const firstv = i16x8.splat(<i16>first);
    let same = true;
    let i = 0;
    for (; i + 3 < len; i += 4) {
      const four = v128.load(xf + ((<usize>i) << 2));
      const lo = f64x2.promote_low_f32x4(four);
      const hi = f64x2.promote_low_f32x4(i32x4.shuffle(four, four, 2, 3, 0, 1));
      let q = i32x4.shuffle(
        i32x4.trunc_sat_f64x2_s_zero(f64x2.add(f64x2.mul(lo, scale), half)),
        i32x4.trunc_sat_f64x2_s_zero(f64x2.add(f64x2.mul(hi, scale), half)),
        0,
        1,
        4,
        5,
      );
      q = i32x4.sub(q, offset);
      // Clamp where the scalar formula does: v ≥ 0.99996948 → 32767, v ≤ -1 → -32768.
      const ge = i32x4.shuffle(f64x2.ge(lo, top), f64x2.ge(hi, top), 0, 2, 4, 6);
      const le = i32x4.shuffle(f64x2.le(lo, bottom), f64x2.le(hi, bottom), 0, 2, 4, 6);
      q = v128.bitselect(max, v128.bitselect(min, q, le), ge);
      const q16 = i16x8.narrow_i32x4_s(q, q);
      v128.store64_lane(buf + ((<usize>i) << 1), q16, 0);
      if (same && i16x8.bitmask(i16x8.eq(q16, firstv)) != 0xff) same = false;
    }
    for (; i < len; i++) {
      const q = quantize(<f64>load<f32>(xf + ((<usize>i) << 2)));
      store<i16>(buf + ((<usize>i) << 1), <i16>q);
      if (q != first) same = false;
    }
    store<i8>(out + <usize>f, same ? -1 : fvadProcess(inst, buf, len) == 1 ? 1 : 0);
  }
}

/** One sample to 16-bit, as vad.ts did in JavaScript: round half up, clamped; NaN → -32768. */
@inline
function quantize(v: f64): i32 {
  return v >= 0.99996948 ? 32767 : v <= -1 ? -32768 : <i32>(v * 32768 + 32768.5) - 32768;
}
