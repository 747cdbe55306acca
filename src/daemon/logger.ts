/** Structured JSON logs (pino) on stdout: one object per line with `level`, `time`, `msg` and context. */
import { format } from 'node:util';
import { pino, type Logger } from 'pino';

export type { Logger };

/** A pino logger named `slmia` at `level` (`silent` for none). */
export function createLogger(level = 'info'): Logger {
  return pino({ name: 'slmia', level, base: { pid: process.pid } });
}

/**
 * Route `console.*` output of libraries (e.g. the FLAC decoder's `console.error` on a bad frame) into the JSON
 * log, so the service's output stays one JSON object per line: `console.error`/`warn` → warn, the rest → debug,
 * each with `source: "console"`.
 * @returns a function that restores the original console methods
 */
export function captureConsole(log: Logger): () => void {
  const saved = { ...console };
  const to =
    (level: 'warn' | 'debug') =>
    (...args: unknown[]): void =>
      log[level]({ source: 'console' }, format(...args).slice(0, 2000));
  console.error = to('warn');
  console.warn = to('warn');
  console.log = to('debug');
  console.info = to('debug');
  console.debug = to('debug');
  console.trace = to('debug');
  return () => Object.assign(console, saved);
}
