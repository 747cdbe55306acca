/**
 * Per-feature affine 8-bit quantization of the attack features: ranges fitted on the shadow features at
 * calibration and stored in the attack bundle; q = clamp(round((x − min) / scale), 0, 255), x̂ = min + q·scale.
 */

/** Quantization parameters for F features. */
export interface Quantizer {
  /** `[F]` lower end of each feature's range. */
  min: number[];
  /** `[F]` step per code (range / 255; 1 for a constant feature). */
  scale: number[];
}

/**
 * Fit ranges on rows of features: min and max per feature over the rows, widened by `margin` × (max − min) on
 * each side, so that a target model's features a little outside the shadow's range are not clamped (with
 * margin 0.5 the 256 codes span twice the observed range; the rounding error stays far below the features'
 * spread).
 * @param rows `[samples][F]` float64
 * @param margin widening on each side, as a fraction of the observed range (default 0)
 */
export function fitQuantizer(rows: ArrayLike<number>[], margin = 0): Quantizer {
  const F = rows[0].length;
  const min = new Array<number>(F).fill(Infinity);
  const max = new Array<number>(F).fill(-Infinity);
  for (const r of rows) {
    for (let f = 0; f < F; f++) {
      if (r[f] < min[f]) min[f] = r[f];
      if (r[f] > max[f]) max[f] = r[f];
    }
  }
  const lo = min.map((v, f) => v - margin * (max[f] - v));
  const scale = min.map((v, f) => (max[f] > v ? ((max[f] - v) * (1 + 2 * margin)) / 255 : 1));
  return { min: lo, scale };
}

/** Quantize one feature vector to `[F] uint8` (out-of-range values clamp to 0 / 255). */
export function quantize(q: Quantizer, x: ArrayLike<number>): Uint8Array {
  const out = new Uint8Array(q.min.length);
  for (let f = 0; f < out.length; f++) {
    const v = Math.round((x[f] - q.min[f]) / q.scale[f]);
    out[f] = v < 0 ? 0 : v > 255 ? 255 : v;
  }
  return out;
}

/** Back to `[F] float64` feature values (the attack models work on these). */
export function dequantize(q: Quantizer, codes: ArrayLike<number>): Float64Array {
  const out = new Float64Array(q.min.length);
  for (let f = 0; f < out.length; f++) out[f] = q.min[f] + codes[f] * q.scale[f];
  return out;
}
