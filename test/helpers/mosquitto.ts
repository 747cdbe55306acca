/**
 * Test harness: a real Mosquitto broker on a free loopback port, with on-disk persistence so that it can be
 * stopped and restarted (same port, retained messages and persistent sessions kept) for fault tests.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Path of the mosquitto binary, or undefined when it is not installed (`.ci/run` installs it). */
export const mosquittoBin: string | undefined = [
  '/usr/sbin/mosquitto',
  '/usr/bin/mosquitto',
  '/usr/local/sbin/mosquitto',
].find((p) => spawnSync(p, ['-h']).error === undefined);

/** Skip message when mosquitto is absent. */
export const NO_MOSQUITTO =
  'mosquitto not installed (apt-get install mosquitto; .ci/run does it): test skipped';

/** A free TCP port on 127.0.0.1 (bound then released). */
export function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.once('error', rej);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => res(port));
    });
  });
}

async function waitPort(port: number, up: boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    const open = await new Promise<boolean>((res) => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => (s.destroy(), res(true)));
      s.once('error', () => res(false));
    });
    if (open === up) return;
    if (Date.now() > end)
      throw new Error(`mosquitto port ${port} did not ${up ? 'open' : 'close'} within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A Mosquitto broker started by a test. */
export class Mosquitto {
  private proc: ChildProcess | undefined;
  log = '';
  private constructor(
    readonly port: number,
    readonly dir: string,
  ) {}

  get url(): string {
    return `mqtt://127.0.0.1:${this.port}`;
  }

  /** Start on a free loopback port (anonymous access, persistence in a temp folder). */
  static async start(): Promise<Mosquitto> {
    if (!mosquittoBin) throw new Error(NO_MOSQUITTO);
    const dir = mkdtempSync(join(tmpdir(), 'slmia-mosq-'));
    const m = new Mosquitto(await freePort(), dir);
    writeFileSync(
      join(dir, 'mosquitto.conf'),
      [
        `listener ${m.port} 127.0.0.1`,
        'allow_anonymous true',
        'persistence true',
        `persistence_location ${dir}/`,
        'autosave_interval 1',
        'log_dest stderr',
        'log_type error',
        'log_type warning',
        'log_type notice',
        '',
      ].join('\n'),
    );
    await m.resume();
    return m;
  }

  /** (Re)start the broker process on the same port. */
  async resume(): Promise<void> {
    const p = spawn(mosquittoBin as string, ['-c', join(this.dir, 'mosquitto.conf')], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    p.stderr?.on('data', (b: Buffer) => (this.log += b.toString()));
    this.proc = p;
    await waitPort(this.port, true);
  }

  /** Stop the broker (SIGTERM: it saves its persistence file) and wait until the port is closed. */
  async pause(): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null) return;
    const exited = new Promise((r) => p.once('exit', r));
    p.kill('SIGTERM');
    await exited;
    this.proc = undefined;
    await waitPort(this.port, false);
  }

  async stop(): Promise<void> {
    await this.pause();
  }
}
