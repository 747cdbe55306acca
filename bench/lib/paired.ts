/**
 * Helpers of the paired, interleaved measurements for a noisy shared machine: the benches run every arm once
 * per round (the order alternating between rounds, so neither arm always runs first) and take ratios within a
 * round, so a slow stretch of the machine slows both sides of a ratio alike. Summaries are median with min–max
 * and the interquartile range.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { loadavg } from 'node:os';

/** Median, quartiles and range of a sample. */
export interface Summary {
  n: number;
  median: number;
  p25: number;
  p75: number;
  min: number;
  max: number;
}

/** Summary of the finite values of `xs` (linear-interpolated quantiles). */
export function summarize(xs: number[]): Summary {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  const q = (p: number): number => {
    if (s.length === 0) return NaN;
    const i = p * (s.length - 1);
    const lo = Math.floor(i);
    const hi = Math.ceil(i);
    return (s[lo] as number) + ((s[hi] as number) - (s[lo] as number)) * (i - lo);
  };
  return { n: s.length, median: q(0.5), p25: q(0.25), p75: q(0.75), min: s[0] ?? NaN, max: s.at(-1) ?? NaN };
}

/** `median [min–max]` with `digits` decimals (and the unit appended to each number). */
export function fmt(s: Summary, digits = 1, unit = ''): string {
  const f = (x: number): string => `${x.toFixed(digits)}${unit}`;
  return `${f(s.median)} [${f(s.min)}–${f(s.max)}]`;
}

/** `median (IQR p25–p75)`. */
export function fmtIqr(s: Summary, digits = 2): string {
  return `${s.median.toFixed(digits)} (IQR ${s.p25.toFixed(digits)}–${s.p75.toFixed(digits)})`;
}

/** Per-round ratios a[i] / b[i]. */
export function ratios(a: number[], b: number[]): number[] {
  return a.map((x, i) => x / (b[i] as number));
}

/**
 * Keep one CPU core busy with a spinning child process (the "voice assistant" sharing the hub) while `fn` runs.
 * The busy process runs at normal priority.
 */
export async function withBusyCore<T>(fn: () => Promise<T>): Promise<T> {
  const busy: ChildProcess = spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' });
  await new Promise((r) => setTimeout(r, 200));
  try {
    return await fn();
  } finally {
    busy.kill('SIGKILL');
    await new Promise((r) => busy.once('exit', r));
  }
}

/** The 1-minute load average, for the record of each measurement. */
export function load1(): string {
  return (loadavg()[0] as number).toFixed(1);
}
