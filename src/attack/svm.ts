/**
 * RBF support-vector machine: training with ml-svm (simplified SMO, Platt 1998), decision function
 * evaluated here over flat arrays. Inputs are standardised feature rows; labels 1 = member, 0 = non-member.
 */
import SVM from 'ml-svm';
import { SlmiaError } from '../errors.js';
import { seededRng } from './rng.js';

/** A trained RBF SVM: f(x) = Σ coef_i · exp(−gamma ‖x − sv_i‖²) + b. */
export interface RbfSvm {
  C: number;
  gamma: number;
  b: number;
  /** `[S]` alpha_i · y_i of each support vector. */
  coef: number[];
  /** `[S]` row index of each support vector in the training rows. */
  supportIndex: number[];
}

/** SVM training that did not converge or got one class only. */
export class AttackTrainingError extends SlmiaError {
  constructor(detail: string, options?: { cause?: unknown }) {
    super('attack.training', detail, options);
  }
}

/**
 * Train an RBF SVM with ml-svm.
 * @param rows `[samples][F]` standardised features
 * @param labels `[samples]` 1 = member, 0 = non-member
 * @throws AttackTrainingError with fewer than one sample per class or when SMO hits its iteration limit
 */
export function trainRbfSvm(
  rows: number[][],
  labels: ArrayLike<number>,
  options: { C: number; gamma: number; seed?: number },
): RbfSvm {
  const y = Array.from(labels, (l) => (l === 1 ? 1 : -1));
  if (!y.includes(1) || !y.includes(-1))
    throw new AttackTrainingError('SVM training needs members and non-members');
  const svm = new SVM({
    C: options.C,
    kernel: 'rbf',
    kernelOptions: { sigma: Math.sqrt(1 / (2 * options.gamma)) },
    whitening: false,
    tol: 1e-3,
    maxPasses: 5,
    maxIterations: 5000,
    random: seededRng(options.seed ?? 1),
  });
  try {
    svm.train(rows, y);
  } catch (err) {
    throw new AttackTrainingError(
      `ml-svm: ${(err as Error).message} (C ${options.C}, gamma ${options.gamma})`,
      {
        cause: err,
      },
    );
  }
  const model = svm.toJSON();
  if (!Number.isFinite(model.b) || model.alphas.some((a) => !Number.isFinite(a))) {
    // ml-svm's simplified SMO can diverge to NaN for some (C, gamma): report it so the grid skips the point.
    throw new AttackTrainingError(
      `ml-svm produced a non-finite model (C ${options.C}, gamma ${options.gamma})`,
    );
  }
  return {
    C: options.C,
    gamma: options.gamma,
    b: model.b,
    coef: model.alphas.map((a, i) => a * model.Y[i]),
    supportIndex: svm.supportVectors(),
  };
}

/**
 * Decision values of an RBF SVM.
 * @param sv `[S][F]` support vectors (standardised), in the order of `coef`
 * @param rows `[samples][F]` standardised features
 */
export function rbfDecision(
  svm: Pick<RbfSvm, 'gamma' | 'b' | 'coef'>,
  sv: ArrayLike<number>[],
  rows: ArrayLike<number>[],
): number[] {
  return rows.map((x) => {
    let s = svm.b;
    for (let i = 0; i < sv.length; i++) {
      const v = sv[i];
      let d = 0;
      for (let f = 0; f < x.length; f++) {
        const t = x[f] - v[f];
        d += t * t;
      }
      s += svm.coef[i] * Math.exp(-svm.gamma * d);
    }
    return s;
  });
}
