/**
 * Tests that need a system tool (mosquitto, openssl, mkfifo…): skipped with a message on a developer machine
 * that lacks it, but FAILED in CI (`CI=true`, set by .ci/run), where a missing tool means the set-up is broken
 * and a skip would let the test pass with no assertion.
 */
import test, { type SkipFn, type TestFn } from 'ava';
import { spawnSync } from 'node:child_process';

/** True under CI (`CI` set to anything but `false`/`0`/empty). */
export const IN_CI = !['', '0', 'false'].includes((process.env.CI ?? '').toLowerCase());

/** Whether `cmd args…` runs (exit status ignored). */
export function hasTool(cmd: string, args: string[] = ['--version']): boolean {
  return spawnSync(cmd, args, { stdio: 'ignore' }).error === undefined;
}

/**
 * `run` when the tool is `present`; otherwise `test.skip` (locally, with `why` printed once) or, in CI, a test
 * function whose every test fails with `why`.
 */
export function withTool<F extends TestFn<unknown> | SkipFn<unknown>>(
  present: boolean,
  why: string,
  run: F,
): F {
  if (present) return run;
  if (!IN_CI) {
    console.warn(`[slmia tests] ${why}: test skipped`);
    return test.skip as unknown as F;
  }
  const failing = (title: string): void =>
    test(title, (t) => t.fail(`${why}; CI must install it (.ci/run) — failing instead of skipping`));
  return Object.assign(failing, run) as unknown as F;
}
