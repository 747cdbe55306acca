/**
 * Platt scaling: p(member | f) = 1 / (1 + exp(A·f + B)) fitted on held-out decision values, with the
 * regularised targets and the Newton method of Lin, Lin & Weng (2007), "A note on Platt's probabilistic
 * outputs for support vector machines" (as in libsvm's sigmoid_train).
 */

/** Sigmoid parameters. */
export interface Platt {
  A: number;
  B: number;
}

/** Fit A, B on decision values and 0/1 labels. */
export function fitPlatt(dec: ArrayLike<number>, labels: ArrayLike<number>): Platt {
  const l = dec.length;
  let prior1 = 0;
  for (let i = 0; i < l; i++) if (labels[i] === 1) prior1++;
  const prior0 = l - prior1;
  const hiTarget = (prior1 + 1) / (prior1 + 2);
  const loTarget = 1 / (prior0 + 2);
  const t = Array.from(labels, (y) => (y === 1 ? hiTarget : loTarget));
  const maxIter = 100;
  const minStep = 1e-10;
  const sigma = 1e-12;
  const eps = 1e-5;
  let A = 0;
  let B = Math.log((prior0 + 1) / (prior1 + 1));
  const fval = (a: number, b: number): number => {
    let f = 0;
    for (let i = 0; i < l; i++) {
      const fApB = dec[i] * a + b;
      f +=
        fApB >= 0
          ? t[i] * fApB + Math.log(1 + Math.exp(-fApB))
          : (t[i] - 1) * fApB + Math.log(1 + Math.exp(fApB));
    }
    return f;
  };
  let fv = fval(A, B);
  for (let it = 0; it < maxIter; it++) {
    let h11 = sigma;
    let h22 = sigma;
    let h21 = 0;
    let g1 = 0;
    let g2 = 0;
    for (let i = 0; i < l; i++) {
      const fApB = dec[i] * A + B;
      let p: number;
      let q: number;
      if (fApB >= 0) {
        p = Math.exp(-fApB) / (1 + Math.exp(-fApB));
        q = 1 / (1 + Math.exp(-fApB));
      } else {
        p = 1 / (1 + Math.exp(fApB));
        q = Math.exp(fApB) / (1 + Math.exp(fApB));
      }
      const d2 = p * q;
      h11 += dec[i] * dec[i] * d2;
      h22 += d2;
      h21 += dec[i] * d2;
      const d1 = t[i] - p;
      g1 += dec[i] * d1;
      g2 += d1;
    }
    if (Math.abs(g1) < eps && Math.abs(g2) < eps) break;
    const det = h11 * h22 - h21 * h21;
    const dA = -(h22 * g1 - h21 * g2) / det;
    const dB = -(-h21 * g1 + h11 * g2) / det;
    const gd = g1 * dA + g2 * dB;
    let step = 1;
    while (step >= minStep) {
      const nA = A + step * dA;
      const nB = B + step * dB;
      const nf = fval(nA, nB);
      if (nf < fv + 0.0001 * step * gd) {
        A = nA;
        B = nB;
        fv = nf;
        break;
      }
      step /= 2;
    }
    if (step < minStep) break;
  }
  return { A, B };
}

/** Member probability of a decision value. */
export function plattProbability(p: Platt, dec: number): number {
  const fApB = dec * p.A + p.B;
  return fApB >= 0 ? Math.exp(-fApB) / (1 + Math.exp(-fApB)) : 1 / (1 + Math.exp(fApB));
}
