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

  /** The TLS URL (for a broker started with `tls`). */
  get tlsUrl(): string {
    return `mqtts://127.0.0.1:${this.port}`;
  }

  /**
   * Start on a free loopback port (persistence in a temp folder). Anonymous access, unless `tls` (server
   * certificate files) and/or `users` (name → password; needs mosquitto_passwd) are given; `extra` lines are
   * appended to the configuration.
   */
  static async start(
    opts: {
      tls?: { cafile: string; certfile: string; keyfile: string };
      users?: Record<string, string>;
      /** More mosquitto.conf lines (e.g. `acl_file …`). */
      extra?: string[];
    } = {},
  ): Promise<Mosquitto> {
    if (!mosquittoBin) throw new Error(NO_MOSQUITTO);
    const dir = mkdtempSync(join(tmpdir(), 'slmia-mosq-'));
    const m = new Mosquitto(await freePort(), dir);
    const auth: string[] = ['allow_anonymous true'];
    if (opts.users) {
      const file = join(dir, 'passwd');
      for (const [i, [user, pass]] of Object.entries(opts.users).entries()) {
        const r = spawnSync('mosquitto_passwd', [...(i === 0 ? ['-c'] : []), '-b', file, user, pass]);
        if (r.status !== 0) throw new Error(`mosquitto_passwd failed: ${r.stderr?.toString() ?? r.error}`);
      }
      auth.splice(0, 1, 'allow_anonymous false', `password_file ${file}`);
    }
    const tls = opts.tls
      ? [`cafile ${opts.tls.cafile}`, `certfile ${opts.tls.certfile}`, `keyfile ${opts.tls.keyfile}`]
      : [];
    writeFileSync(
      join(dir, 'mosquitto.conf'),
      [
        // As root, mosquitto would switch to the `mosquitto` user and lose access to the 0700 temp folders.
        ...(process.getuid?.() === 0 ? ['user root'] : []),
        `listener ${m.port} 127.0.0.1`,
        ...tls,
        ...auth,
        ...(opts.extra ?? []),
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

/**
 * A throw-away CA and a server certificate for 127.0.0.1 (openssl CLI, P-256 keys), or undefined when openssl
 * is missing.
 */
export function makeTestCertificates(): { cafile: string; certfile: string; keyfile: string } | undefined {
  if (spawnSync('openssl', ['version']).error) return undefined;
  const dir = mkdtempSync(join(tmpdir(), 'slmia-tls-'));
  const f = (n: string): string => join(dir, n);
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  writeFileSync(f('san.ext'), 'subjectAltName=IP:127.0.0.1\n');
  const steps = [
    [
      'req',
      '-x509',
      ...ec,
      '-keyout',
      f('ca.key'),
      '-out',
      f('ca.pem'),
      '-days',
      '2',
      '-subj',
      '/CN=slmia test CA',
    ],
    ['req', ...ec, '-keyout', f('server.key'), '-out', f('server.csr'), '-subj', '/CN=127.0.0.1'],
    [
      'x509',
      '-req',
      '-in',
      f('server.csr'),
      '-CA',
      f('ca.pem'),
      '-CAkey',
      f('ca.key'),
      '-CAcreateserial',
      '-out',
      f('server.pem'),
      '-days',
      '2',
      '-extfile',
      f('san.ext'),
    ],
  ];
  for (const a of steps) {
    const r = spawnSync('openssl', a);
    if (r.status !== 0) throw new Error(`openssl ${a[0]} failed: ${r.stderr.toString()}`);
  }
  return { cafile: f('ca.pem'), certfile: f('server.pem'), keyfile: f('server.key') };
}
