/** The package version, read from package.json at start-up. */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { projectRoot } from './paths.js';

export const version: string = (() => {
  try {
    return (JSON.parse(readFileSync(resolve(projectRoot, 'package.json'), 'utf8')) as { version: string })
      .version;
  } catch {
    return '0.0.0';
  }
})();
