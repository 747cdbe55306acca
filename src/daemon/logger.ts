/** Structured JSON logs (pino) on stdout: one object per line with `level`, `time`, `msg` and context. */
import { pino, type Logger } from 'pino';

export type { Logger };

/** A pino logger named `slmia` at `level` (`silent` for none). */
export function createLogger(level = 'info'): Logger {
  return pino({ name: 'slmia', level, base: { pid: process.pid } });
}
