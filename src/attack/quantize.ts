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
 * Fit ranges on rows of features (min and max per feature over the rows).
 * @param rows `[samples][F]` float64
 */
export function fitQuantizer(rows: ArrayLike<number>[]): Quantizer {
  const F = rows[0].length;
  const min = new Array<number>(F).fill(Infinity);
  const max = new Array<number>(F).fill(-Infinity);
  for (const r of rows) {
    for (let f = 0; f < F; f++) {
      if (r[f] < min[f]) min[f] = r[f];
      if (r[f] > max[f]) max[f] = r[f];
    }
  }
  const scale = min.map((lo, f) => (max[f] > lo ? (max[f] - lo) / 255 : 1));
  return { min, scale };
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
