/**
 * L2-regularised logistic regression (the second attack model and the EncoderMI-V baseline's classifier),
 * fitted by Newton's method (IRLS) on standardised rows. Labels 1 = member, 0 = non-member.
 */

/** p(member | x) = σ(w·x + b). */
export interface LogisticModel {
  w: number[];
  b: number;
  /** L2 penalty on w (not on b), per sample. */
  l2: number;
}

/** Solve A x = r for symmetric positive definite A (Cholesky), A given as `[n][n]`. */
function solveSpd(A: number[][], r: number[]): number[] {
  const n = r.length;
  const L = A.map(() => new Array<number>(n).fill(0));
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let s = A[i][j];
      for (let k = 0; k < j; k++) s -= L[i][k] * L[j][k];
      L[i][j] = i === j ? Math.sqrt(Math.max(s, 1e-12)) : s / L[j][j];
    }
  }
  const z = new Array<number>(n).fill(0);
  for (let i = 0; i < n; i++) {
    let s = r[i];
    for (let k = 0; k < i; k++) s -= L[i][k] * z[k];
    z[i] = s / L[i][i];
  }
  const x = new Array<number>(n).fill(0);
  for (let i = n - 1; i >= 0; i--) {
    let s = z[i];
    for (let k = i + 1; k < n; k++) s -= L[k][i] * x[k];
    x[i] = s / L[i][i];
  }
  return x;
}

const sigmoid = (t: number): number => (t >= 0 ? 1 / (1 + Math.exp(-t)) : Math.exp(t) / (1 + Math.exp(t)));

/**
 * Fit by IRLS (at most `iterations` Newton steps).
 * @param rows `[samples][F]` standardised features
 * @param labels `[samples]` 0/1
 * @param l2 penalty λ on ‖w‖² (scaled by the sample count; default 1e-2)
 */
export function trainLogistic(
  rows: ArrayLike<number>[],
  labels: ArrayLike<number>,
  l2 = 1e-2,
  iterations = 30,
): LogisticModel {
  const F = rows[0].length;
  const N = rows.length;
  const P = F + 1; // w then b
  let beta = new Array<number>(P).fill(0);
  for (let it = 0; it < iterations; it++) {
    const H = [...Array(P)].map(() => new Array<number>(P).fill(0));
    const g = new Array<number>(P).fill(0);
    for (let i = 0; i < N; i++) {
      const x = rows[i];
      let t = beta[F];
      for (let f = 0; f < F; f++) t += beta[f] * x[f];
      const p = sigmoid(t);
      const e = p - labels[i];
      const wgt = Math.max(p * (1 - p), 1e-10);
      for (let a = 0; a < P; a++) {
        const xa = a < F ? x[a] : 1;
        g[a] += e * xa;
        const ra = H[a];
        for (let c = 0; c <= a; c++) ra[c] += wgt * xa * (c < F ? x[c] : 1);
      }
    }
    for (let a = 0; a < P; a++) for (let c = 0; c < a; c++) H[c][a] = H[a][c];
    for (let f = 0; f < F; f++) {
      g[f] += l2 * N * beta[f];
      H[f][f] += l2 * N;
    }
    H[F][F] += 1e-8;
    const step = solveSpd(H, g);
    beta = beta.map((v, a) => v - step[a]);
    if (Math.max(...step.map(Math.abs)) < 1e-8) break;
  }
  return { w: beta.slice(0, F), b: beta[F], l2 };
}

/** Decision values w·x + b (log-odds). */
export function logisticDecision(m: Pick<LogisticModel, 'w' | 'b'>, rows: ArrayLike<number>[]): number[] {
  return rows.map((x) => {
    let t = m.b;
    for (let f = 0; f < m.w.length; f++) t += m.w[f] * x[f];
    return t;
  });
}

export { sigmoid };
