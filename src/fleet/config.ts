/**
 * Fleet service settings (`slmia fleet -c fleet.yaml`): one zod schema with defaults, like the daemon's. An
 * empty file gives a fleet page on http://127.0.0.1:8080 watching the broker on mqtt://127.0.0.1:1883 (the
 * daemon's embedded default) under `slmia/#`. Binding anything but loopback needs a token or a password.
 * Secrets may come from the environment: SLMIA_MQTT_URL, SLMIA_MQTT_USERNAME, SLMIA_MQTT_PASSWORD,
 * SLMIA_FLEET_TOKEN, SLMIA_FLEET_PASSWORD.
 */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, isAbsolute, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { ConfigError } from '../daemon/config.js';
import { projectRoot } from '../paths.js';
import { isLoopback } from '../publish/connection.js';

const topicFilter = z
  .string()
  .min(1)
  .refine((f) => !f.includes('#') || (f.endsWith('#') && f.indexOf('#') === f.length - 1), {
    message: '"#" only as the last level',
  });

const fleetSchema = z
  .object({
    mqtt: z
      .object({
        url: z.string().default('mqtt://127.0.0.1:1883').describe('Broker URL (mqtt://, mqtts://, ws://).'),
        topics: z
          .array(topicFilter)
          .min(1)
          .default(['slmia/#'])
          .describe(
            'Subscriptions: every hub whose base topic lies under one of them is found by its retained messages.',
          ),
        client_id: z.string().optional().describe('MQTT client id (default slmia-fleet-<hostname>).'),
        username: z.string().optional().describe('Broker user (env SLMIA_MQTT_USERNAME).'),
        password: z.string().optional().describe('Broker password (env SLMIA_MQTT_PASSWORD).'),
        ca: z.string().optional().describe('PEM file of the CA that signed the broker certificate (TLS).'),
        cert: z.string().optional().describe('PEM client certificate (mutual TLS).'),
        key: z.string().optional().describe('PEM client private key (mutual TLS).'),
        reject_unauthorized: z.boolean().default(true),
        keepalive: z.number().int().min(1).default(30),
        reconnect_period_ms: z.number().int().min(100).default(1000),
      })
      .strict()
      .prefault({}),
    http: z
      .object({
        host: z.string().default('127.0.0.1').describe('Bind address of the web page and /metrics.'),
        port: z.number().int().min(0).max(65535).default(8080).describe('Port (0 = any free port).'),
        token: z
          .string()
          .min(16)
          .optional()
          .describe('Bearer token (or basic-auth password) required on every route (env SLMIA_FLEET_TOKEN).'),
        username: z.string().default('fleet').describe('Basic-auth user name.'),
        password: z
          .string()
          .min(8)
          .optional()
          .describe('Basic-auth password required on every route (env SLMIA_FLEET_PASSWORD).'),
      })
      .strict()
      .prefault({}),
    data_dir: z.string().default('.work/fleet').describe('Folder of the fleet store (fleet.db).'),
    reports_dir: z
      .string()
      .default('docs/evaluation')
      .describe('Evaluation reports (report.json + roc.svg folders) shown for the bundle a hub runs.'),
    retention: z
      .object({
        health_sample_s: z
          .number()
          .min(0)
          .default(300)
          .describe('Keep at most one health sample per hub per this many seconds.'),
        health_days: z.number().min(0.001).default(7),
        verdict_days: z.number().min(0.001).default(365),
        audit_days: z.number().min(0.001).default(30),
      })
      .strict()
      .prefault({}),
    audit: z
      .object({
        timeout_s: z
          .number()
          .min(1)
          .default(900)
          .describe('A request from the page with no response after this long is marked unanswered.'),
      })
      .strict()
      .prefault({}),
    log_level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
  })
  .strict();

/** Validated fleet settings (paths absolute). */
export type FleetConfig = z.infer<typeof fleetSchema>;
/** The settings as written in YAML (every key optional). */
export type FleetConfigInput = z.input<typeof fleetSchema>;

/**
 * Validate fleet settings and apply environment overrides.
 * @param raw parsed YAML (undefined/null = all defaults)
 * @param file label for errors
 * @param baseDir folder relative paths resolve against (the file's folder; the project root for defaults)
 * @throws ConfigError naming the key path; also when a non-loopback bind has neither token nor password
 */
export function parseFleetConfig(
  raw: unknown,
  file = '<fleet config>',
  baseDir = projectRoot,
  env: NodeJS.ProcessEnv = process.env,
): FleetConfig {
  if (raw !== undefined && raw !== null && (typeof raw !== 'object' || Array.isArray(raw)))
    throw new ConfigError(file, '', 'expected a YAML mapping at the top level');
  const obj = structuredClone((raw ?? {}) as Record<string, Record<string, unknown>>);
  const set = (section: 'mqtt' | 'http', key: string, v: string | undefined): void => {
    if (v === undefined || v === '') return;
    obj[section] = { ...(obj[section] ?? {}), [key]: v };
  };
  set('mqtt', 'url', env.SLMIA_MQTT_URL);
  set('mqtt', 'username', env.SLMIA_MQTT_USERNAME);
  set('mqtt', 'password', env.SLMIA_MQTT_PASSWORD);
  set('http', 'token', env.SLMIA_FLEET_TOKEN);
  set('http', 'password', env.SLMIA_FLEET_PASSWORD);
  const parsed = fleetSchema.safeParse(obj);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ConfigError(file, (issue?.path ?? []).join('.'), issue?.message ?? 'invalid');
  }
  const c = parsed.data;
  if (!isLoopback(c.http.host) && !c.http.token && !c.http.password)
    throw new ConfigError(
      file,
      'http.host',
      `binding ${c.http.host} (not loopback) needs http.token or http.password (SLMIA_FLEET_TOKEN / SLMIA_FLEET_PASSWORD)`,
    );
  const abs = (p: string): string => (isAbsolute(p) ? p : resolve(baseDir, p));
  const fromRoot = (p: string, dflt: string): string => (p === dflt ? resolve(projectRoot, p) : abs(p));
  c.data_dir = fromRoot(c.data_dir, '.work/fleet');
  c.reports_dir = fromRoot(c.reports_dir, 'docs/evaluation');
  for (const k of ['ca', 'cert', 'key'] as const) if (c.mqtt[k]) c.mqtt[k] = abs(c.mqtt[k] as string);
  c.mqtt.client_id ??= `slmia-fleet-${hostname().replace(/[^A-Za-z0-9_.-]/g, '-')}-${process.pid}`;
  return c;
}

/**
 * Read and validate a YAML settings file (all defaults when `path` is undefined).
 * @throws ConfigError for an unreadable file, bad YAML, or a schema violation (names the key path)
 */
export function loadFleetConfig(path?: string, env: NodeJS.ProcessEnv = process.env): FleetConfig {
  if (!path) return parseFleetConfig({}, '<defaults>', projectRoot, env);
  let raw: unknown;
  try {
    raw = parseYaml(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new ConfigError(path, '', `cannot read as YAML (${(err as Error).message})`, { cause: err });
  }
  return parseFleetConfig(raw, path, dirname(resolve(path)), env);
}
