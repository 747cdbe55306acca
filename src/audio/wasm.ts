/**
 * Loading the WebAssembly binaries of Emscripten-built packages (@echogarden/fvad-wasm, pffft-wasm) without
 * letting their glue code look for files next to itself: the bytes are read here and passed as `wasmBinary`.
 * From a source or `dist/` checkout they come from node_modules; in the single-executable release (deploy/)
 * they lie in `<home>/lib/` beside the native addons.
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
