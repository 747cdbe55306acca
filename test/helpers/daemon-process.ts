/**
 * Test helper: `slmia daemon -c <config>` as a child process (src/cli.ts through tsx), with its JSON log lines
 * collected and a wait for a line matching a pattern. The crash and chaos tests kill it with SIGKILL.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { projectRoot } from '../../src/paths.js';

/** A daemon child process. */
export interface DaemonProcess {
  proc: ChildProcess;
  /** Log lines so far (stdout and stderr). */
  lines: string[];
  /** Resolves with the first line (past or future) matching `re`; rejects after `ms` with the last lines. */
  waitLog: (re: RegExp, ms?: number) => Promise<string>;
  /** Whether the process is still running. */
  readonly alive: boolean;
  /** SIGKILL and wait for the exit (no-op when it already exited). */
  kill: () => Promise<void>;
  /** SIGTERM (graceful stop) and wait for the exit; resolves with the exit code. */
  stop: () => Promise<number | null>;
}

/**
 * Start `slmia daemon -c <config>` with `env` added to this process's environment.
 * @param keepLines log lines kept (the oldest are dropped beyond it)
 */
export function spawnDaemon(config: string, env: NodeJS.ProcessEnv = {}, keepLines = 5000): DaemonProcess {
  const proc = spawn(
    process.execPath,
    ['--import=tsx', join(projectRoot, 'src', 'cli.ts'), 'daemon', '-c', config],
    {
      cwd: projectRoot,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const lines: string[] = [];
  const waiters: { re: RegExp; res: (l: string) => void }[] = [];
  let buf = '';
  const onData = (b: Buffer): void => {
    buf += b.toString();
    const parts = buf.split('\n');
    buf = parts.pop() ?? '';
    for (const l of parts) {
      lines.push(l);
      if (lines.length > keepLines) lines.shift();
      for (const w of [...waiters]) {
        if (!w.re.test(l)) continue;
        waiters.splice(waiters.indexOf(w), 1);
        w.res(l);
      }
    }
  };
  proc.stdout?.on('data', onData);
  proc.stderr?.on('data', onData);
  const waitLog = (re: RegExp, ms = 120_000): Promise<string> => {
    const seen = lines.find((l) => re.test(l));
    if (seen) return Promise.resolve(seen);
    return new Promise((res, rej) => {
      const t = setTimeout(
        () => rej(new Error(`daemon log never matched ${re}; last lines:\n${lines.slice(-10).join('\n')}`)),
        ms,
      );
      waiters.push({ re, res: (l) => (clearTimeout(t), res(l)) });
    });
  };
  return {
    proc,
    lines,
    waitLog,
    get alive() {
      return proc.exitCode === null && proc.signalCode === null;
    },
    async kill() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      const gone = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGKILL');
      await gone;
    },
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return proc.exitCode;
      const gone = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
      proc.kill('SIGTERM');
      return gone;
    },
  };
}
