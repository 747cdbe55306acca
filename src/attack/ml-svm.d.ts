/** Minimal types of ml-svm 2.1 (mljs/svm, simplified SMO), the parts this project uses. */
declare module 'ml-svm' {
  interface SvmOptions {
    C?: number;
    tol?: number;
    maxPasses?: number;
    maxIterations?: number;
    kernel?: string;
    kernelOptions?: Record<string, number>;
    alphaTol?: number;
    random?: () => number;
    whitening?: boolean;
  }
  interface SvmJson {
    b: number;
    X: number[][];
    Y: number[];
    alphas: number[];
  }
  class SVM {
    constructor(options?: SvmOptions);
    train(features: number[][], labels: number[]): void;
    margin(features: number[][]): number[];
    supportVectors(): number[];
    toJSON(): SvmJson;
    iterations: number;
  }
  export default SVM;
}
