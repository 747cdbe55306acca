/**
 * Debian's chromium driven by playwright-core (`executablePath`: nothing is downloaded), with the flags that work
 * in a container without a display or network. Used by the fleet's browser test and bench/fleet-scale.ts.
 */
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

/** Debian's chromium (`.ci/run` installs it); `SLMIA_CHROMIUM` overrides. */
export const chromiumPath = process.env.SLMIA_CHROMIUM ?? '/usr/bin/chromium';

/** Whether {@link chromiumPath} exists. */
export const hasChromium = existsSync(chromiumPath);

/** Why browser tests cannot run. */
export const NO_CHROMIUM = `${chromiumPath} not found (apt-get install chromium; .ci/run does it)`;

/** Launch headless chromium (playwright gives it a fresh temporary profile). */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}
