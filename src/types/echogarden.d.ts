/** Minimal types of the Emscripten modules used from @echogarden (they ship none). */
interface EmscriptenModuleBase {
  HEAP16: Int16Array;
  HEAPF32: Float32Array;
  _malloc(bytes: number): number;
  _free(ptr: number): void;
}

/** Options of an Emscripten module factory used here. */
interface EmscriptenOptions {
  wasmBinary?: Uint8Array;
  /** Emscripten's hook: instantiate the module yourself, hand the instance to `receive`, return `{}`. */
  instantiateWasm?: (
    imports: WebAssembly.Imports,
    receive: (instance: WebAssembly.Instance, module: WebAssembly.Module) => void,
  ) => object;
}

declare module '@echogarden/fvad-wasm' {
  export interface FvadModule extends EmscriptenModuleBase {
    _fvad_new(): number;
    _fvad_free(inst: number): void;
    _fvad_reset(inst: number): void;
    _fvad_set_mode(inst: number, mode: number): number;
    _fvad_set_sample_rate(inst: number, rate: number): number;
    _fvad_process(inst: number, frame: number, length: number): number;
  }
  const factory: (options?: EmscriptenOptions) => Promise<FvadModule>;
  export default factory;
}

declare module '@echogarden/pffft-wasm/simd' {
  export interface PffftModule extends EmscriptenModuleBase {
    _pffft_new_setup(n: number, transform: number): number;
    _pffft_destroy_setup(setup: number): void;
    _pffft_transform_ordered(
      setup: number,
      input: number,
      output: number,
      work: number,
      direction: number,
    ): void;
    _pffft_aligned_malloc(bytes: number): number;
    _pffft_aligned_free(ptr: number): void;
    _pffft_simd_size(): number;
  }
  const factory: (options?: EmscriptenOptions) => Promise<PffftModule>;
  export default factory;
}
