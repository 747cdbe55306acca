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
  for (let f = 0; f < frames; f++) {
    const xf = x + ((<usize>(f * len)) << 2);
    // To 16-bit (round half up, clamped); NaN gives -32768 as JavaScript's `| 0` does.
    let first: i32 = 0;
    let constant = true;
    for (let i = 0; i < len; i++) {
      const v = <f64>load<f32>(xf + ((<usize>i) << 2));
      const q: i32 =
        v >= 0.99996948 ? 32767 : v <= -1 ? -32768 : <i32>(v * 32768 + 32768.5) - 32768;
      store<i16>(buf + ((<usize>i) << 1), <i16>q);
      if (i == 0) first = q;
      else if (q != first) constant = false;
    }
    store<i8>(out + <usize>f, constant ? -1 : fvadProcess(inst, buf, len) == 1 ? 1 : 0);
  }
}
