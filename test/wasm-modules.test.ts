/**
 * The project's own WebAssembly (src/**\/*.as.ts → dist/**\/*.wasm, `make build`) runs inside the memory of the
 * library it drives (PFFFT, libfvad) or of its caller: a data segment would be written into that memory at
 * instantiation, over the library's own data (AssemblyScript's Math.log/pow tables would). Each module must import
 * its memory, define none, and carry no data segment.
 */
import test from 'ava';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from '../src/paths.js';

/** Section ids of a WebAssembly binary (core spec §5.5.2), with their payload sizes. */
function sections(bytes: Uint8Array): { id: number; size: number; at: number }[] {
  const out: { id: number; size: number; at: number }[] = [];
  let p = 8; // magic + version
  while (p < bytes.length) {
    const id = bytes[p++] as number;
    let size = 0;
    for (let shift = 0; ; shift += 7) {
      const b = bytes[p++] as number;
      size |= (b & 0x7f) << shift;
      if (b < 0x80) break;
    }
    out.push({ id, size, at: p });
    p += size;
  }
  return out;
}

for (const file of ['frontend/fbank.wasm', 'audio/vad.wasm', 'audio/pcm.wasm']) {
  test(`${file} imports its memory and has no data segments`, (t) => {
    const bytes = readFileSync(join(projectRoot, 'dist', file));
    const s = sections(bytes);
    const data = s.find((x) => x.id === 11); // data section: its first byte (LEB128) is the segment count
    t.true(data === undefined || bytes[data.at] === 0, 'data segments present');
    t.falsy(
      s.find((x) => x.id === 5),
      'defines a memory of its own',
    ); // memory section
    const mod = new WebAssembly.Module(bytes);
    t.true(
      WebAssembly.Module.imports(mod).some(
        (i) => i.module === 'env' && i.name === 'memory' && i.kind === 'memory',
      ),
    );
  });
}
