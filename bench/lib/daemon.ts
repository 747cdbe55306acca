/**
 * The daemon as the benchmarks see it: `slmia daemon` (dist/cli.js) in a child process with a settings file,
 * environment and Node flags of the caller's choice, driven over MQTT by a separate client like any hub
 * integration. Memory is read from /proc (VmRSS now, VmHWM = peak).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { stringify } from 'yaml';
import type { DaemonConfigInput } from '../../src/daemon/config.js';
import { projectRoot } from '../../src/paths.js';
import type { AuditRequest, AuditResponse } from '../../src/publish/topics.js';

/** The unit's memory settings (systemd/slmia.service `Environment=` lines), parsed from the unit file. */
export function unitEnvironment(): Record<string, string> {
  const unit = readFileSync(join(projectRoot, 'systemd', 'slmia.service'), 'utf8');
  const env: Record<string, string> = {};
  for (const m of unit.matchAll(/^Environment=(?:"([^"]*)"|(\S+))\s*$/gm)) {
    const kv = (m[1] ?? m[2]) as string;
    const eq = kv.indexOf('=');
    env[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  delete env.SLMIA_HOME; // the unit's install path; the bench runs from the project
  return env;
}

/** A free TCP port on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((res) => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const a = srv.address();
      srv.close(() => res(typeof a === 'object' && a ? a.port : 0));
    });
  });
}

/** Options of {@link startBenchDaemon}. */
export interface BenchDaemonOptions {
  /** Settings (YAML is written to a temp file); `mqtt.embedded.port` is set to a free port unless given. */
  settings?: DaemonConfigInput;
  /** Extra environment (e.g. the unit's); an empty value removes the variable. */
  env?: Record<string, string>;
  /** Wait for this log message instead of `daemon started`. */
  readyMessage?: string;
  /** Called with every JSON log line of the daemon. */
  onLog?: (line: Record<string, unknown>) => void;
}

/** A running daemon under test. */
export interface BenchDaemon {
  readonly proc: ChildProcess;
  readonly client: MqttClient;
  readonly url: string;
  /** Start-up time: spawn → `daemon started`, ms. */
  readonly startupMs: number;
  /** Publish a request and wait for its response; returns the wall time (publish → response), ms. */
  audit(request: AuditRequest): Promise<{ ms: number; response: AuditResponse }>;
  /** Resident set size now, MB (VmRSS). */
  rssMb(): number;
  /** Peak resident set size so far, MB (VmHWM). */
  peakMb(): number;
  /** CPU time of all the daemon's threads so far, ms (sum of /proc/<pid>/task/<tid>/schedstat; ns resolution). */
  cpuMs(): number;
  stop(): Promise<void>;
}

function procStatusMb(pid: number, field: string): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1]) / 1024;
}

/**
 * Start `node dist/cli.js daemon -c <settings>` and connect a client subscribed to the response topic.
 * @throws Error when dist/cli.js is missing or the daemon exits before it is ready
 */
export async function startBenchDaemon(o: BenchDaemonOptions = {}): Promise<BenchDaemon> {
  const cli = join(projectRoot, 'dist', 'cli.js');
  if (!existsSync(cli)) throw new Error('bench: run `make build` first (dist/cli.js missing)');
  const dir = mkdtempSync(join(tmpdir(), 'slmia-bench-'));
  // Each daemon gets its own state folder (two daemons on one SQLite file would wait on each other).
  const settings: DaemonConfigInput = { log_level: 'debug', data_dir: join(dir, 'state'), ...o.settings };
  if (!settings.mqtt?.url)
    settings.mqtt = {
      ...settings.mqtt,
      embedded: { port: await freePort(), ...settings.mqtt?.embedded },
    };
  const config = join(dir, 'config.yaml');
  writeFileSync(config, stringify(settings));
  const t0 = performance.now();
  // An empty value removes the variable (e.g. the unit's MALLOC_ARENA_MAX, to measure without it).
  const env: NodeJS.ProcessEnv = { ...process.env, ...o.env };
  for (const [k, v] of Object.entries(env)) if (v === '') delete env[k];
  const proc = spawn(process.execPath, [cli, 'daemon', '-c', config], {
    env,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const ready = o.readyMessage ?? 'daemon started';
  let url = settings.mqtt?.url ?? `mqtt://127.0.0.1:${settings.mqtt?.embedded?.port}`;
  const started = new Promise<void>((res, rej) => {
    let buf = '';
    proc.stdout?.on('data', (b: Buffer) => {
      buf += b.toString();
      const lines = buf.split('\n');
      buf = lines.pop() ?? '';
      for (const l of lines) {
        let line: Record<string, unknown>;
        try {
          line = JSON.parse(l) as Record<string, unknown>;
        } catch {
          continue;
        }
        o.onLog?.(line);
        if (line.msg === 'daemon started' && typeof line.url === 'string') url = line.url;
        if (line.msg === ready) res();
      }
    });
    proc.once('exit', (code) => rej(new Error(`bench: daemon exited with code ${code} before "${ready}"`)));
  });
  await started;
  const startupMs = performance.now() - t0;
  const client = await mqtt.connectAsync(url, { clientId: `slmia-bench-${process.pid}-${Date.now()}` });
  // Like the daemon, the client disables Nagle, so the figures are not inflated by delayed ACKs (~40 ms).
  (client.stream as { setNoDelay?: (on: boolean) => void }).setNoDelay?.(true);
  const base = settings.mqtt?.base_topic ?? 'slmia';
  await client.subscribeAsync(`${base}/bridge/response/audit`, { qos: 1 });
  const waiting = new Map<string, (r: AuditResponse) => void>();
  client.on('message', (_t, p) => {
    const r = JSON.parse(p.toString()) as AuditResponse;
    waiting.get(String(r.transaction))?.(r);
  });
  const pid = proc.pid as number;
  return {
    proc,
    client,
    url,
    startupMs,
    async audit(request) {
      const done = new Promise<AuditResponse>((r) => waiting.set(String(request.transaction), r));
      const s = performance.now();
      await client.publishAsync(`${base}/bridge/request/audit`, JSON.stringify(request), { qos: 1 });
      const response = await done;
      const ms = performance.now() - s;
      waiting.delete(String(request.transaction));
      return { ms, response };
    },
    rssMb: () => procStatusMb(pid, 'VmRSS'),
    peakMb: () => procStatusMb(pid, 'VmHWM'),
    cpuMs: () => {
      let ns = 0;
      for (const tid of readdirSync(`/proc/${pid}/task`)) {
        try {
          ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
        } catch {
          // a thread that ended meanwhile
        }
      }
      return ns / 1e6;
    },
    async stop() {
      await client.endAsync();
      if (proc.exitCode !== null) return;
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      await exited;
    },
  };
}
