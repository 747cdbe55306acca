/**
 * AssemblyScript (compiled to WebAssembly by `make build`: dist/frontend/fbank.wasm) — the per-frame loop of the
 * Kaldi fbank in src/frontend/kaldi-fbank.ts, moved out of JavaScript. Not part of the tsc build (excluded in
 * tsconfig.json; AssemblyScript types such as `f64` and `usize`).
 *
 * The module owns no memory: it imports PFFFT's (`env.memory`, the @echogarden/pffft-wasm instance) and calls
 * PFFFT's `pffft_transform_ordered` as an import, so a whole clip is one call from JavaScript with no copy per
 * frame. Every pointer is a byte offset into that memory, allocated by the caller. The arithmetic repeats the
 * JavaScript reference path operation for operation in float64 (frame means from a running sum, fused DC
 * removal / pre-emphasis / window, power spectrum, sparse mel weights, and fdlibm's `log`, which is V8's
 * `Math.log`), so its output is bit-identical to that path's. No data segments (they would land in PFFFT's
 * memory): the log is computed without tables.
 */

@external('pffft', 'transform_ordered')
declare function transformOrdered(
  setup: usize,
  input: usize,
  output: usize,
  work: usize,
  direction: i32,
): void;

const LN2_HI: f64 = 6.9314718036912381649e-1;
const LN2_LO: f64 = 1.90821492927058770002e-10;
const TWO54: f64 = 1.8014398509481984e16;
const LG1: f64 = 6.66666666666673513e-1;
const LG2: f64 = 3.999999999940941908e-1;
const LG3: f64 = 2.857142874366239149e-1;
const LG4: f64 = 2.222219843214978396e-1;
const LG5: f64 = 1.818357216161805012e-1;
const LG6: f64 = 1.531383769920937332e-1;
const LG7: f64 = 1.479819860511658591e-1;

/**
 * Natural log, fdlibm's `__ieee754_log` (e_log.c, Sun Microsystems 1993) line for line: the function V8 uses
 * for `Math.log` (src/base/ieee754.cc), so results are bit-identical to JavaScript's. Table-free.
 */
@inline
function fdlibmLog(x: f64): f64 {
  let bits = reinterpret<u64>(x);
  let hx = <i32>(bits >> 32);
  const lx = <u32>bits;
  let k: i32 = 0;
  if (hx < 0x00100000) {
    if (((hx & 0x7fffffff) | lx) == 0) return -Infinity; // log(±0)
    if (hx < 0) return NaN; // log(negative)
    k -= 54;
    x *= TWO54; // subnormal: scale up
    bits = reinterpret<u64>(x);
    hx = <i32>(bits >> 32);
  }
  if (hx >= 0x7ff00000) return x + x;
  k += (hx >> 20) - 1023;
  hx &= 0x000fffff;
  let i = (hx + 0x95f64) & 0x100000;
  x = reinterpret<f64>(((<u64>(<u32>(hx | (i ^ 0x3ff00000)))) << 32) | (bits & 0xffffffff)); // x or x/2 in [sqrt(2)/2, sqrt(2))
  k += i >> 20;
  const f = x - 1.0;
  const dk = <f64>k;
  if ((0x000fffff & (2 + hx)) < 3) {
    // |f| < 2^-20
    if (f == 0) return k == 0 ? 0 : dk * LN2_HI + dk * LN2_LO;
    const r = f * f * (0.5 - 0.33333333333333333 * f);
    return k == 0 ? f - r : dk * LN2_HI - (r - dk * LN2_LO - f);
  }
  const s = f / (2.0 + f);
  const z = s * s;
  i = hx - 0x6147a;
  const w = z * z;
  const j = 0x6b851 - hx;
  const t1 = w * (LG2 + w * (LG4 + w * LG6));
  const t2 = z * (LG1 + w * (LG3 + w * (LG5 + w * LG7)));
  i |= j;
  const r = t2 + t1;
  if (i > 0) {
    const hfsq = 0.5 * f * f;
    return k == 0 ? f - (hfsq - s * (hfsq + r)) : dk * LN2_HI - (hfsq - (s * (hfsq + r) + dk * LN2_LO) - f);
  }
  return k == 0 ? f - s * (f - r) : dk * LN2_HI - (s * (f - r) - dk * LN2_LO - f);
}

/**
 * fft.js's `realTransform` (fft.js 4.0.4, radix-4, Fedor Indutny, MIT) ported operation for operation, so its
 * float64 spectra are bit-identical to the library's: the first half of the spectrum of the real `size`-point
 * signal at `data` (f64) into `out` (f64 complex pairs, `2 · size` values). `table` [2 · size] f64 and `bitrev`
 * [1 << width] i32 are the library instance's own tables (`fft.table`, `fft._bitrev`, `fft._width`), copied.
 */
function fftjsRealTransform(
  out: usize,
  data: usize,
  size: i32,
  width: i32,
  table: usize,
  bitrev: usize,
): void {
  const csize = size << 1;
  let step = 1 << width;
  let len = (csize / step) << 1;
  const s = step >>> 1;
  let t = 0;
  if (len == 4) {
    for (let outOff = 0; outOff < csize; outOff += len, t++) {
      const off = load<i32>(bitrev + ((<usize>t) << 2)) >>> 1;
      const evenR = load<f64>(data + ((<usize>off) << 3));
      const oddR = load<f64>(data + ((<usize>(off + s)) << 3));
      const o = out + ((<usize>outOff) << 3);
      store<f64>(o, evenR + oddR);
      store<f64>(o, 0, 8);
      store<f64>(o, evenR - oddR, 16);
      store<f64>(o, 0, 24);
    }
  } else {
    for (let outOff = 0; outOff < csize; outOff += len, t++) {
      const off = load<i32>(bitrev + ((<usize>t) << 2)) >>> 1;
      const ar = load<f64>(data + ((<usize>off) << 3));
      const br = load<f64>(data + ((<usize>(off + s)) << 3));
      const cr = load<f64>(data + ((<usize>(off + 2 * s)) << 3));
      const dr = load<f64>(data + ((<usize>(off + 3 * s)) << 3));
      const t0r = ar + cr;
      const t1r = ar - cr;
      const t2r = br + dr;
      const t3r = br - dr;
      const o = out + ((<usize>outOff) << 3);
      store<f64>(o, t0r + t2r);
      store<f64>(o, 0, 8);
      store<f64>(o, t1r, 16);
      store<f64>(o, -t3r, 24);
      store<f64>(o, t0r - t2r, 32);
      store<f64>(o, 0, 40);
      store<f64>(o, t1r, 48);
      store<f64>(o, t3r, 56);
    }
  }
  for (step >>= 2; step >= 2; step >>= 2) {
    len = (csize / step) << 1;
    const halfLen = len >>> 1;
    const quarterLen = halfLen >>> 1;
    const hquarterLen = quarterLen >>> 1;
    for (let outOff = 0; outOff < csize; outOff += len) {
      for (let i = 0, k = 0; i <= hquarterLen; i += 2, k += step) {
        const pa = out + ((<usize>(outOff + i)) << 3);
        const pb = pa + ((<usize>quarterLen) << 3);
        const pc = pb + ((<usize>quarterLen) << 3);
        const pd = pc + ((<usize>quarterLen) << 3);
        const ar = load<f64>(pa);
        const ai = load<f64>(pa, 8);
        const br = load<f64>(pb);
        const bi = load<f64>(pb, 8);
        const cr = load<f64>(pc);
        const ci = load<f64>(pc, 8);
        const dr = load<f64>(pd);
        const di = load<f64>(pd, 8);
        const tbr = load<f64>(table + ((<usize>k) << 3));
        const tbi = load<f64>(table + ((<usize>(k + 1)) << 3));
        const mbr = br * tbr - bi * tbi;
        const mbi = br * tbi + bi * tbr;
        const tcr = load<f64>(table + ((<usize>(2 * k)) << 3));
        const tci = load<f64>(table + ((<usize>(2 * k + 1)) << 3));
        const mcr = cr * tcr - ci * tci;
        const mci = cr * tci + ci * tcr;
        const tdr = load<f64>(table + ((<usize>(3 * k)) << 3));
        const tdi = load<f64>(table + ((<usize>(3 * k + 1)) << 3));
        const mdr = dr * tdr - di * tdi;
        const mdi = dr * tdi + di * tdr;
        const t0r = ar + mcr;
        const t0i = ai + mci;
        const t1r = ar - mcr;
        const t1i = ai - mci;
        const t2r = mbr + mdr;
        const t2i = mbi + mdi;
        const t3r = mbr - mdr;
        const t3i = mbi - mdi;
        store<f64>(pa, t0r + t2r);
        store<f64>(pa, t0i + t2i, 8);
        store<f64>(pb, t1r + t3i);
        store<f64>(pb, t1i - t3r, 8);
        if (i == 0) {
          store<f64>(pc, t0r - t2r);
          store<f64>(pc, t0i - t2i, 8);
          continue;
        }
        if (i == hquarterLen) continue;
        // The mirrored outputs (fft.js: ST0 = conj(T1), ST1 = conj(T0), ST2 = -i·conj(T3)…).
        const st0r = t1r;
        const st0i = -t1i;
        const st1r = t0r;
        const st1i = -t0i;
        const st2r = -t3i;
        const st2i = -t3r;
        const st3r = -t2i;
        const st3i = -t2r;
        const sa = out + ((<usize>(outOff + quarterLen - i)) << 3);
        const sb = out + ((<usize>(outOff + halfLen - i)) << 3);
        store<f64>(sa, st0r + st2r);
        store<f64>(sa, st0i + st2i, 8);
        store<f64>(sb, st1r + st3i);
        store<f64>(sb, st1i - st3r, 8);
      }
    }
  }
}

/**
 * `fdlibmLog` of two values at once, rounded to float32 and stored at `out` (two f32): the integer part per
 * value, the polynomial of both in one pair of float64 lanes. Both of fdlibm's final formulas are evaluated and
 * one selected per lane; its `k == 0` shortcuts are the general formulas with `dk` = 0 (same result, sign of
 * zero included). Values fdlibm treats specially (zero, negative, subnormal, infinite, NaN, |x − 1| < 2^-20
 * after scaling) take the scalar function.
 */
@inline
function logPair(a: f64, b: f64, out: usize): void {
  const ba = reinterpret<u64>(a);
  const bb = reinterpret<u64>(b);
  let ha = <i32>(ba >> 32);
  let hb = <i32>(bb >> 32);
  if (ha < 0x00100000 || hb < 0x00100000 || ha >= 0x7ff00000 || hb >= 0x7ff00000) {
    store<f32>(out, <f32>fdlibmLog(a));
    store<f32>(out, <f32>fdlibmLog(b), 4);
    return;
  }
  let ka = (ha >> 20) - 1023;
  let kb = (hb >> 20) - 1023;
  ha &= 0x000fffff;
  hb &= 0x000fffff;
  const ia = (ha + 0x95f64) & 0x100000;
  const ib = (hb + 0x95f64) & 0x100000;
  const xa = reinterpret<f64>((<u64>(<u32>(ha | (ia ^ 0x3ff00000))) << 32) | (ba & 0xffffffff));
  const xb = reinterpret<f64>((<u64>(<u32>(hb | (ib ^ 0x3ff00000))) << 32) | (bb & 0xffffffff));
  ka += ia >> 20;
  kb += ib >> 20;
  if ((0x000fffff & (2 + ha)) < 3 || (0x000fffff & (2 + hb)) < 3) {
    store<f32>(out, <f32>fdlibmLog(a));
    store<f32>(out, <f32>fdlibmLog(b), 4);
    return;
  }
  const f = f64x2.sub(f64x2(xa, xb), f64x2.splat(1.0));
  const dk = f64x2(<f64>ka, <f64>kb);
  const s = f64x2.div(f, f64x2.add(f64x2.splat(2.0), f));
  const z = f64x2.mul(s, s);
  const w = f64x2.mul(z, z);
  const t1 = f64x2.mul(
    w,
    f64x2.add(f64x2.splat(LG2), f64x2.mul(w, f64x2.add(f64x2.splat(LG4), f64x2.mul(w, f64x2.splat(LG6))))),
  );
  const t2 = f64x2.mul(
    z,
    f64x2.add(
      f64x2.splat(LG1),
      f64x2.mul(
        w,
        f64x2.add(f64x2.splat(LG3), f64x2.mul(w, f64x2.add(f64x2.splat(LG5), f64x2.mul(w, f64x2.splat(LG7))))),
      ),
    ),
  );
  const r = f64x2.add(t2, t1);
  const hi = f64x2.mul(dk, f64x2.splat(LN2_HI));
  const lo = f64x2.mul(dk, f64x2.splat(LN2_LO));
  // i > 0: dk·ln2_hi − ((hfsq − (s·(hfsq + R) + dk·ln2_lo)) − f)
  const hfsq = f64x2.mul(f64x2.mul(f64x2.splat(0.5), f), f);
  const r1 = f64x2.sub(
    hi,
    f64x2.sub(f64x2.sub(hfsq, f64x2.add(f64x2.mul(s, f64x2.add(hfsq, r)), lo)), f),
  );
  // otherwise: dk·ln2_hi − ((s·(f − R) − dk·ln2_lo) − f)
  const r2 = f64x2.sub(hi, f64x2.sub(f64x2.sub(f64x2.mul(s, f64x2.sub(f, r)), lo), f));
  const ma: i64 = ((ha - 0x6147a) | (0x6b851 - ha)) > 0 ? -1 : 0;
  const mb: i64 = ((hb - 0x6147a) | (0x6b851 - hb)) > 0 ? -1 : 0;
  const res = v128.bitselect(r1, r2, i64x2(ma, mb));
  v128.store64_lane(out, f32x4.demote_f64x2_zero(res), 0);
}

const MODE_POWER: i32 = 1;
const MODE_LOG: i32 = 2;
const MODE_NOISE_FLOOR: i32 = 4;

/**
 * Mel energies of the power spectrum at `power` (f64) into `mel` (f64); magnitudes first unless `usePower`.
 * The banks come in groups of four bins summed side by side (independent accumulators, so the additions of
 * one bin overlap those of the others): group g's weights are rows `offsets[g] … offsets[g+1])` of `weights`
 * (four f64 per row, bin 4g+i in column i, zero-padded to the group's longest bin), bin b starts at FFT bin
 * `starts[b]`. Each bin still sums its own terms in FFT-bin order, so the energies equal a plain loop's; the
 * padding adds 0 · (a power value, or the zeroed slack after `power[half]`).
 * Returns whether the frame needs the float64 FFT: its smallest mel energy lies above its bin's floor and more
 * than `range` (power ratio) below its largest (a float32 FFT is exact to ~1e-7 of the strongest bin).
 */
function melEnergies(
  power: usize,
  half: i32,
  usePower: bool,
  starts: usize,
  offsets: usize,
  weights: usize,
  floor: usize,
  bins: i32,
  range: f64,
  mel: usize,
): bool {
  if (!usePower) {
    for (let k = 0; k <= half; k++) {
      const p = power + (<usize>k << 3);
      store<f64>(p, Math.sqrt(load<f64>(p)));
    }
  }
  let lo: f64 = Infinity;
  let loFloor: f64 = 0;
  let hi: f64 = 0;
  for (let b = 0; b < bins; b += 4) {
    const g = b >> 2;
    const r0 = load<i32>(offsets + (<usize>g << 2));
    const r1 = load<i32>(offsets + (<usize>(g + 1) << 2));
    let w = weights + (<usize>r0 << 5);
    let p0 = power + (<usize>load<i32>(starts + (<usize>b << 2)) << 3);
    let p1 = power + (<usize>load<i32>(starts + (<usize>(b + 1) << 2)) << 3);
    let p2 = power + (<usize>load<i32>(starts + (<usize>(b + 2) << 2)) << 3);
    let p3 = power + (<usize>load<i32>(starts + (<usize>(b + 3) << 2)) << 3);
    // Bins (b, b+1) and (b+2, b+3) in float64 lanes, each lane its own sum in FFT-bin order.
    let e01 = f64x2.splat(0);
    let e23 = f64x2.splat(0);
    for (let j = r0; j < r1; j++) {
      const p01 = v128.load64_lane(p1, v128.load64_zero(p0), 1);
      const p23 = v128.load64_lane(p3, v128.load64_zero(p2), 1);
      e01 = f64x2.add(e01, f64x2.mul(v128.load(w), p01));
      e23 = f64x2.add(e23, f64x2.mul(v128.load(w, 16), p23));
      w += 32;
      p0 += 8;
      p1 += 8;
      p2 += 8;
      p3 += 8;
    }
    const e0 = f64x2.extract_lane(e01, 0);
    const e1 = f64x2.extract_lane(e01, 1);
    const e2 = f64x2.extract_lane(e23, 0);
    const e3 = f64x2.extract_lane(e23, 1);
    for (let i = 0; i < 4 && b + i < bins; i++) {
      const e = i == 0 ? e0 : i == 1 ? e1 : i == 2 ? e2 : e3;
      store<f64>(mel + (<usize>(b + i) << 3), e);
      if (e < lo) {
        lo = e;
        loFloor = load<f64>(floor + (<usize>(b + i) << 3));
      }
      if (e > hi) hi = e;
    }
  }
  return lo < hi * range && lo > loFloor;
}

/**
 * Log mel energies of `frames` frames of the float32 signal at `x` into `out` (`[frames, bins]` float32).
 * Each frame: mean (running sum), DC removal, pre-emphasis, window and scale in float64, rounded to float32 for
 * PFFFT; power spectrum and mel energies in float64; a frame whose mel energies span more than `range` above
 * the floor is redone with the float64 FFT (fftjsRealTransform on the float64 frame). Returns the number of
 * frames redone.
 * Plan arrays: `scaled` [win] f64 (window × input scale), `starts`/`offsets`/`weights` the mel banks in groups
 * of four (see melEnergies), `floor` [bins] f64, fft.js's `table`/`bitrev`/`width`; scratch: `fin`/
 * `fout`/`work` [fftSize] f32 (PFFFT, 16-byte aligned), `xin` [fftSize] f64 (`fin` and `xin` zeroed by the caller
 * from `win` on: the zero padding, which neither FFT writes), `spec` [2 · fftSize] f64,
 * `power` [fftSize/2 + 1 + longest bank] f64 (zeroed slack), `mel` [bins] f64.
 */
export function fbankFrames(
  x: usize,
  frames: i32,
  win: i32,
  shift: i32,
  fftSize: i32,
  c: f64,
  removeDc: i32,
  scaled: usize,
  setup: usize,
  fin: usize,
  fout: usize,
  work: usize,
  xin: usize,
  spec: usize,
  table: usize,
  bitrev: usize,
  width: i32,
  power: usize,
  starts: usize,
  offsets: usize,
  weights: usize,
  floor: usize,
  bins: i32,
  mode: i32,
  range: f64,
  mel: usize,
  out: usize,
): i32 {
  const half = fftSize >> 1;
  const usePower = (mode & MODE_POWER) != 0;
  const useLog = (mode & MODE_LOG) != 0;
  const noiseFloor = (mode & MODE_NOISE_FLOOR) != 0;
  let redone = 0;
  let sum: f64 = 0;
  let summedTo: i32 = 0;
  for (let f = 0; f < frames; f++) {
    const off = f * shift;
    let mean: f64 = 0;
    if (removeDc) {
      if (f == 0 || shift > win) {
        sum = 0;
        for (let i = off; i < off + win; i++) sum += <f64>load<f32>(x + ((<usize>i) << 2));
      } else {
        for (let i = off - shift; i < off; i++) sum -= <f64>load<f32>(x + ((<usize>i) << 2));
        for (let i = summedTo; i < off + win; i++) sum += <f64>load<f32>(x + ((<usize>i) << 2));
      }
      summedTo = off + win;
      mean = sum / <f64>win;
    }
    // ((x[i] - mean) - c (x[i-1] - mean)) · scale · w[i]; x[-1] := x[0] (torchaudio).
    const m1 = mean * (1 - c);
    const xf = x + ((<usize>off) << 2);
    // Two samples per step in float64 lanes (the same operations as one at a time, so the same roundings).
    const cv = f64x2.splat(c);
    const m1v = f64x2.splat(m1);
    let i = 1;
    for (; i + 1 < win; i += 2) {
      const p = xf + ((<usize>i) << 2);
      const cur = f64x2.promote_low_f32x4(v128.load64_zero(p));
      const prev = f64x2.promote_low_f32x4(v128.load64_zero(p - 4));
      const y = f64x2.mul(
        f64x2.sub(f64x2.sub(cur, f64x2.mul(cv, prev)), m1v),
        v128.load(scaled + ((<usize>i) << 3)),
      );
      v128.store64_lane(fin + ((<usize>i) << 2), f32x4.demote_f64x2_zero(y), 0);
    }
    for (; i < win; i++) {
      const cur = <f64>load<f32>(xf + ((<usize>i) << 2));
      const prev = <f64>load<f32>(xf + ((<usize>(i - 1)) << 2));
      store<f32>(
        fin + ((<usize>i) << 2),
        <f32>((cur - c * prev - m1) * load<f64>(scaled + ((<usize>i) << 3))),
      );
    }
    store<f32>(fin, <f32>((<f64>load<f32>(xf) - mean) * (1 - c) * load<f64>(scaled)));
    transformOrdered(setup, fin, fout, work, 0);
    // Ordered real output: [X0, X(N/2), Re X1, Im X1, Re X2, …].
    const x0 = <f64>load<f32>(fout);
    store<f64>(power, x0 * x0);
    // Two bins per step: [Re Xk, Im Xk, Re Xk+1, Im Xk+1] → (Re, Re) and (Im, Im) float64 lanes.
    let k = 1;
    for (; k + 1 < half; k += 2) {
      const four = v128.load(fout + ((<usize>k) << 3));
      const re = f64x2.promote_low_f32x4(i32x4.shuffle(four, four, 0, 2, 1, 3));
      const im = f64x2.promote_low_f32x4(i32x4.shuffle(four, four, 1, 3, 0, 2));
      v128.store(power + ((<usize>k) << 3), f64x2.add(f64x2.mul(re, re), f64x2.mul(im, im)));
    }
    for (; k < half; k++) {
      const re = <f64>load<f32>(fout + ((<usize>k) << 3));
      const im = <f64>load<f32>(fout + ((<usize>k) << 3) + 4);
      store<f64>(power + ((<usize>k) << 3), re * re + im * im);
    }
    if (melEnergies(power, half, usePower, starts, offsets, weights, floor, bins, range, mel)) {
      // The frame again in float64, as kaldi-fbank.ts float64Spectrum: x[i] = ((x[i] - mean) - c (x[i-1] - mean)).
      for (let i = win - 1; i > 0; i--) {
        const xi = <f64>load<f32>(xf + ((<usize>i) << 2));
        const xp = <f64>load<f32>(xf + ((<usize>(i - 1)) << 2));
        store<f64>(
          xin + ((<usize>i) << 3),
          (xi - mean - c * (xp - mean)) * load<f64>(scaled + ((<usize>i) << 3)),
        );
      }
      store<f64>(xin, (<f64>load<f32>(xf) - mean) * (1 - c) * load<f64>(scaled));
      fftjsRealTransform(spec, xin, fftSize, width, table, bitrev);
      for (let k = 0; k < half; k++) {
        const re = load<f64>(spec + ((<usize>k) << 4));
        const im = load<f64>(spec + ((<usize>k) << 4) + 8);
        store<f64>(power + ((<usize>k) << 3), re * re + im * im);
      }
      melEnergies(power, half, usePower, starts, offsets, weights, floor, bins, range, mel);
      redone++;
    }
    const row = out + ((<usize>(f * bins)) << 2);
    let b = 0;
    if (useLog) {
      for (; b + 1 < bins; b += 2) {
        const ea = load<f64>(mel + ((<usize>b) << 3));
        const fa = load<f64>(floor + ((<usize>b) << 3));
        const eb = load<f64>(mel + ((<usize>(b + 1)) << 3));
        const fb = load<f64>(floor + ((<usize>(b + 1)) << 3));
        logPair(ea > fa ? ea : fa, eb > fb ? eb : fb, row + ((<usize>b) << 2));
      }
    }
    for (; b < bins; b++) {
      const e = load<f64>(mel + ((<usize>b) << 3));
      const fl = load<f64>(floor + ((<usize>b) << 3));
      const v: f64 = useLog ? fdlibmLog(e > fl ? e : fl) : noiseFloor && e < fl ? fl : e;
      store<f32>(row + ((<usize>b) << 2), <f32>v);
    }
  }
  return redone;
}

/**
 * Per-utterance mean normalisation in place, as `subtractFrameMean` in kaldi-fbank.ts: `data` `[frames, bins]`
 * float32, `mean` scratch [bins] f64.
 */
export function subtractFrameMean(data: usize, frames: i32, bins: i32, mean: usize): void {
  if (frames == 0) return;
  memory.fill(mean, 0, (<usize>bins) << 3);
  for (let f = 0; f < frames; f++) {
    const row = data + ((<usize>(f * bins)) << 2);
    for (let b = 0; b < bins; b++) {
      const p = mean + ((<usize>b) << 3);
      store<f64>(p, load<f64>(p) + <f64>load<f32>(row + ((<usize>b) << 2)));
    }
  }
  for (let b = 0; b < bins; b++) {
    const p = mean + ((<usize>b) << 3);
    store<f64>(p, load<f64>(p) / <f64>frames);
  }
  for (let f = 0; f < frames; f++) {
    const row = data + ((<usize>(f * bins)) << 2);
    for (let b = 0; b < bins; b++) {
      const q = row + ((<usize>b) << 2);
      store<f32>(q, <f32>(<f64>load<f32>(q) - load<f64>(mean + ((<usize>b) << 3))));
    }
  }
}
