/**
 * Loading the WebAssembly binaries of Emscripten-built packages (@echogarden/fvad-wasm, pffft-wasm) without
 * letting their glue code look for files next to itself: the bytes are read here and passed as `wasmBinary`.
 * From a source or `dist/` checkout they come from node_modules; in the single-executable release (deploy/)
 * they lie in `<home>/lib/` beside the native addons. The project's own modules (AssemblyScript, compiled by
 * `make build` into `dist/`) are read the same way.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { isSea } from 'node:sea';
import { projectRoot } from '../paths.js';

/**
 * Read the `.wasm` file that sits next to a package's JavaScript glue.
 * @param glue the glue module's specifier, e.g. `@echogarden/pffft-wasm/simd`
 * @param file the binary's file name, e.g. `pffft.wasm`
 * @throws Error naming the file when it cannot be read
 */
export function readWasm(glue: string, file: string): Uint8Array {
  const path = isSea()
    ? join(projectRoot, 'lib', file)
    : join(dirname(createRequire(import.meta.url).resolve(glue)), file);
  try {
    return readFileSync(path);
  } catch (err) {
    throw new Error(`cannot read WebAssembly module ${path} (${(err as Error).message})`, { cause: err });
  }
}

/**
 * Read one of the project's own WebAssembly modules, compiled by `make build` from AssemblyScript sources
 * (`src/<folder>/<name>.as.ts` → `dist/<folder>/<name>.wasm`; `<home>/lib/<name>.wasm` in the release).
 * @param file e.g. `fbank.wasm`
 * @param folder the source folder under src/, e.g. `frontend`
 * @throws Error naming the file (and `make build`) when it is missing
 */
export function readOwnWasm(file: string, folder: string): Uint8Array {
  const path = isSea() ? join(projectRoot, 'lib', file) : join(projectRoot, 'dist', folder, file);
  try {
    return readFileSync(path);
  } catch (err) {
    throw new Error(
      `cannot read WebAssembly module ${path} (${(err as Error).message}); \`make build\` compiles it`,
      { cause: err },
    );
  }
}

/**
 * Instantiate an Emscripten-built module from its bytes and keep hold of its memory, which a module of ours
 * imports (see {@link instantiateOwnWasm}).
 * @param factory the package's module factory
 * @param bytes its `.wasm` ({@link readWasm})
 * @param file the binary's name, for errors
 * @throws Error when the module exports no memory
 */
export async function emscriptenWithMemory<M>(
  factory: (options: EmscriptenOptions) => Promise<M>,
  bytes: Uint8Array,
  file: string,
): Promise<{ module: M; memory: WebAssembly.Memory }> {
  let memory: WebAssembly.Memory | undefined;
  const module = await factory({
    instantiateWasm: (imports, receive) => {
      void WebAssembly.instantiate(bytes, imports).then(({ instance, module: compiled }) => {
        memory = Object.values(instance.exports).find((e) => e instanceof WebAssembly.Memory);
        receive(instance, compiled);
      });
      return {};
    },
  });
  if (!memory) throw new Error(`${file} exports no memory`);
  return { module, memory };
}

/**
 * Instantiate one of the project's own modules ({@link readOwnWasm}) over a library's memory (`env.memory`),
 * with the library's functions it calls. Pass the library's wasm functions themselves (an Emscripten glue binds
 * `Module._f` to the wasm export on its first call), so calls between the two stay inside WebAssembly.
 * @returns the module's exports
 * @throws Error naming the file when it is missing (run `make build`)
 */
export async function instantiateOwnWasm<T>(
  file: string,
  folder: string,
  memory: WebAssembly.Memory,
  imports: WebAssembly.Imports,
): Promise<T> {
  const { instance } = await WebAssembly.instantiate(readOwnWasm(file, folder), {
    env: { memory },
    ...imports,
  });
  return instance.exports as unknown as T;
}

/**
 * A block of a WebAssembly heap that grows (never shrinks) to the size asked: per-clip buffers reused across
 * clips, so nothing is allocated per frame and, after the longest clip, per clip.
 */
export class HeapBlock {
  /** Byte offset of the block (0 until the first {@link reserve}). */
  ptr = 0;
  private bytes = 0;
  constructor(
    private readonly alloc: (bytes: number) => number,
    private readonly free: (ptr: number) => void,
    private readonly what: string,
  ) {}

  /**
   * @returns the block's byte offset, at least `bytes` long
   * @throws Error when the heap cannot grow
   */
  reserve(bytes: number): number {
    if (bytes <= this.bytes) return this.ptr;
    if (this.ptr) this.free(this.ptr);
    this.bytes = Math.max(bytes, 2 * this.bytes, 16);
    this.ptr = this.alloc(this.bytes);
    if (!this.ptr) throw new Error(`${this.what}: cannot allocate ${this.bytes} bytes of WebAssembly memory`);
    return this.ptr;
  }
}
