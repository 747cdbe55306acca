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
