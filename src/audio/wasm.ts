/**
 * Loading the WebAssembly binaries of Emscripten-built packages (@echogarden/fvad-wasm, pffft-wasm) without
 * letting their glue code look for files next to itself: the bytes are read here and passed as `wasmBinary`.
 * From a source or `dist/` checkout they come from node_modules; in the single-executable release (deploy/)
 * they lie in `<home>/lib/` beside the native addons.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, join } from 'node:path';
import { isSea } from 'node:sea';
import { projectRoot } from '../paths.js';

/**
 * Read a package's `.wasm` file.
 * @param specifier package subpath, e.g. `@echogarden/fvad-wasm/fvad.wasm`
 * @throws Error naming the file when it cannot be read
 */
export function readWasm(specifier: string): Uint8Array {
  const file = isSea()
    ? join(projectRoot, 'lib', basename(specifier))
    : createRequire(import.meta.url).resolve(specifier);
  try {
    return readFileSync(file);
  } catch (err) {
    throw new Error(`cannot read WebAssembly module ${file} (${(err as Error).message})`, { cause: err });
  }
}
