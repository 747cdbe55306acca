/**
 * Where the project's files are: the project root (for the committed models) and the speech data folder.
 */
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { isSea } from 'node:sea';
import { fileURLToPath } from 'node:url';

/**
 * The project root: the folder holding package.json and `models/` (this file lives in `src/` or `dist/`).
 * `$SLMIA_HOME` overrides it; in the single-executable release (deploy/) it is the folder holding the
 * executable, where the tarball puts `models/` and `lib/` (native addons).
 */
export const projectRoot: string = process.env.SLMIA_HOME
  ? resolve(process.env.SLMIA_HOME)
  : isSea()
    ? dirname(process.execPath)
    : resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** Default target model manifest of the daemon and `slmia audit` (relative to the project root). */
export const DEFAULT_MODEL = 'models/tdnn-ce-target/model.json';
/** Default attack bundle of the daemon and `slmia audit` (relative to the project root). */
export const DEFAULT_ATTACK = 'models/attack/tdnn-ce/attack.json';

/**
 * The speech data folder: `$SLMIA_DATA_DIR`, else `../shared/data` beside the project root.
 * It holds `speechocean762/` and `arabic-speech-commands/` (see ../shared/data/README.md).
 */
export function dataDir(): string {
  return resolve(process.env.SLMIA_DATA_DIR ?? resolve(projectRoot, '..', 'shared', 'data'));
}

/** The speechocean762 folder inside {@link dataDir}, or `undefined` when it is absent. */
export function speechoceanDir(): string | undefined {
  const dir = resolve(dataDir(), 'speechocean762');
  return existsSync(resolve(dir, 'utterances.tsv')) ? dir : undefined;
}

/**
 * The demo set shipped with the project (demo/README.md): 20 speechocean762 utterances of one member and one
 * non-member of the default target model, in the data folder's layout. `slmia daemon --demo` audits it.
 */
export function demoDir(): string {
  return resolve(projectRoot, 'demo', 'speechocean762');
}

/** Path of a committed model manifest, e.g. `modelPath('fixture')` → `<root>/models/fixture/model.json`. */
export function modelPath(name: string): string {
  return resolve(projectRoot, 'models', name, 'model.json');
}
