/**
 * Test helper: write a changed copy of a model.json (ONNX path made absolute) to check how loading treats it.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

/** A model.json as plain JSON, for tests to patch field by field. */
export interface RawManifest {
  onnx: string;
  embedding_dim: number;
  frontend: Record<string, unknown>;
  input: Record<string, unknown>;
  output: Record<string, unknown>;
  window?: Record<string, unknown>;
}

/** Read a model.json as {@link RawManifest}. */
export function readRawManifest(path: string): RawManifest {
  return JSON.parse(readFileSync(path, 'utf8')) as RawManifest;
}

/**
 * Write `patch`ed copy of the manifest at `source` as `<dir>/<name>.json` and return its path.
 * @param source path of the original model.json
 */
export function manifestVariant(
  dir: string,
  source: string,
  name: string,
  patch: (m: RawManifest) => void,
): string {
  const m = readRawManifest(source);
  m.onnx = resolve(dirname(source), m.onnx);
  patch(m);
  const out = join(dir, `${name}.json`);
  writeFileSync(out, JSON.stringify(m));
  return out;
}
