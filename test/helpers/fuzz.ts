/**
 * A small property-based fuzz harness over fast-check, shared by the test smoke runs and the bench runs (and
 * usable for any "bytes in → typed error or correct result" surface: audio files, MQTT payloads, YAML config).
 * Every case runs the target once; the outcome is classified as a correct result, a typed error (an
 * `SlmiaError` with a code), a crash (anything else thrown, or a result that fails its own check) or a hang
 * (a case slower than `hangMs`). The run is seeded and reproducible; `fc.check` shrinks the first crash.
 */
import type { ExecutionContext } from 'ava';
import fc from 'fast-check';
import { SlmiaError } from '../../src/errors.js';

/** Options of {@link fuzz}. */
export interface FuzzOptions<T> {
  /** Name in reports. */
  name: string;
  seed: number;
  numRuns: number;
  arbitrary: fc.Arbitrary<T>;
  /**
   * Run the target on one input. Resolve to a string describing a failed check (a wrong result), or
   * undefined when the result is correct; throw what the target throws.
   */
  run: (input: T) => Promise<string | undefined>;
  /** A case slower than this counts as a hang (default 2,000 ms). */
  hangMs?: number;
}

/** Outcome of a run. */
export interface FuzzReport {
  name: string;
  seed: number;
  cases: number;
  /** Cases that gave a result that passed its check. */
  results: number;
  /** Cases that threw a typed error, by code. */
  typedErrors: Record<string, number>;
  crashes: number;
  hangs: number;
  /** Slowest case, ms. */
  maxMs: number;
  /** First crash or hang, shrunk by fast-check (counterexample and message), when there is one. */
  firstFailure?: string;
}

/** Run a seeded fuzz campaign; never throws for a failing case (see `crashes`, `hangs`, `firstFailure`). */
export async function fuzz<T>(o: FuzzOptions<T>): Promise<FuzzReport> {
  const hangMs = o.hangMs ?? 2000;
  const report: FuzzReport = {
    name: o.name,
    seed: o.seed,
    cases: 0,
    results: 0,
    typedErrors: {},
    crashes: 0,
    hangs: 0,
    maxMs: 0,
  };
  let shrinking = false;
  const property = fc.asyncProperty(o.arbitrary, async (input) => {
    const t0 = performance.now();
    let failure: string | undefined;
    let outcome: 'result' | string;
    try {
      failure = await o.run(input);
      outcome = 'result';
    } catch (err) {
      if (err instanceof SlmiaError && /^[a-z-]+\.[a-z-]+$/.test(err.code)) {
        outcome = err.code;
      } else {
        failure = `untyped ${(err as Error)?.name ?? typeof err}: ${(err as Error)?.message ?? String(err)}`;
        outcome = 'crash';
      }
    }
    const ms = performance.now() - t0;
    if (!shrinking) {
      report.cases++;
      report.maxMs = Math.max(report.maxMs, ms);
      if (ms > hangMs) report.hangs++;
      if (failure) report.crashes++;
      else if (outcome === 'result') report.results++;
      else report.typedErrors[outcome] = (report.typedErrors[outcome] ?? 0) + 1;
    }
    if (ms > hangMs) failure = `hang: ${ms.toFixed(0)} ms`;
    if (failure && !shrinking) shrinking = true; // later calls are fast-check's shrinking, not new cases
    if (failure) throw new Error(failure);
  });
  const details = await fc.check(property, { seed: o.seed, numRuns: o.numRuns, endOnFailure: false });
  if (details.failed) {
    const why = (details.errorInstance as Error | undefined)?.message ?? 'failed';
    report.firstFailure = `${JSON.stringify(details.counterexample)?.slice(0, 400)}: ${why.slice(0, 400)}`;
  }
  return report;
}

/** Assert a clean campaign in a test: all `cases` ran, no crash, no hang, no failure (the report is logged). */
export function assertClean(t: ExecutionContext, r: FuzzReport, cases: number): void {
  t.log(JSON.stringify(r));
  t.is(r.firstFailure, undefined);
  t.is(r.crashes, 0);
  t.is(r.hangs, 0);
  t.is(r.cases, cases);
}
