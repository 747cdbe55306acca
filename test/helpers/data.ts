/**
 * Test helpers: where the shared speech data and golden files are, and a skip message when absent.
 */
import test from 'ava';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { projectRoot, speechoceanDir } from '../../src/paths.js';

/** speechocean762 folder, or undefined (tests that need it skip). */
export const speechocean = speechoceanDir();

/** Message for skipped data-dependent tests. */
export const NO_DATA =
  'speechocean762 not found (set SLMIA_DATA_DIR or provide ../shared/data): test skipped';

/** Golden reference folder (`../shared/golden`, override with SLMIA_GOLDEN_DIR). */
export const goldenDir = resolve(
  process.env.SLMIA_GOLDEN_DIR ?? resolve(projectRoot, '..', 'shared', 'golden'),
);

/** True when a golden file exists. */
export const hasGolden = (name: string): boolean => existsSync(resolve(goldenDir, name));

/** Absolute path of a speechocean762 utterance (`SPEAKER0001`, `000010011`). */
export function utterancePath(speaker: string, utterance: string): string {
  return resolve(speechocean ?? '/nonexistent', 'audio', speaker, `${utterance}.flac`);
}

/** The tiny committed test model. */
export const fixtureModel = resolve(projectRoot, 'models', 'fixture', 'model.json');

/**
 * `test` when speechocean762 is present, else `test.skip` (ava lists the test as skipped); the reason is
 * printed once per test file.
 */
export const dataTest = speechocean ? test : test.skip;
if (!speechocean) console.warn(`[slmia tests] ${NO_DATA}`);

/** The real-world input cases (`../shared/cases/real-world-inputs`, override with SLMIA_CASES_DIR). */
export const casesDir = resolve(
  process.env.SLMIA_CASES_DIR ?? resolve(projectRoot, '..', 'shared', 'cases', 'real-world-inputs'),
);

/** `test` when the real-world cases are present, else `test.skip`. */
export const casesTest = existsSync(resolve(casesDir, 'README.md')) ? test : test.skip;
if (!existsSync(resolve(casesDir, 'README.md')))
  console.warn(`[slmia tests] ${casesDir} not found (set SLMIA_CASES_DIR): real-world input tests skipped`);
