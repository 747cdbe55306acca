/**
 * Daemon settings: one zod schema with descriptions and defaults (Zigbee2MQTT style). Every key is optional
 * in the YAML file; an empty file gives a daemon that runs out of the box (default target model and attack
 * bundle from `models/`, SQLite under `.work/daemon/`, embedded aedes broker on 127.0.0.1:1883).
 * Secrets may come from the environment (see {@link ENV_OVERRIDES}).
 */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, isAbsolute, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { SlmiaError } from '../errors.js';
import { dataDir, projectRoot } from '../paths.js';

/** A settings file (or environment value) that does not match the schema; the message names the key path. */
export class ConfigError extends SlmiaError {
  readonly file: string;
  readonly key: string;
  constructor(file: string, key: string, detail: string, options?: { cause?: unknown }) {
    super('config.invalid', `${file}: ${key ? `key "${key}": ` : ''}${detail}`, options);
    this.file = file;
    this.key = key;
  }
}

/** Default target model manifest (relative to the project root). */
export const DEFAULT_MODEL = 'models/tdnn-ce-target/model.json';
/** Default attack bundle (relative to the project root). */
export const DEFAULT_ATTACK = 'models/attack/tdnn-ce/attack.json';

/** MQTT topic segments and speaker ids: letters, digits, `_ . -`, never `bridge`. */
export const SPEAKER_ID = /^(?!bridge$)[A-Za-z0-9_.-]{1,64}$/;

const mqttSchema = z
  .object({
    url: z
      .string()
      .optional()
      .describe(
        'Broker URL (mqtt://, mqtts://, ws://). Unset: start the embedded aedes broker and connect to it.',
      ),
    base_topic: z
      .string()
      .regex(/^[^#+]+$/, 'no MQTT wildcards')
      .default('slmia')
      .describe('Topic prefix.'),
    client_id: z.string().optional().describe('MQTT client id (default slmia-<device_id>).'),
    username: z.string().optional().describe('Broker user (env SLMIA_MQTT_USERNAME).'),
    password: z.string().optional().describe('Broker password (env SLMIA_MQTT_PASSWORD).'),
    ca: z.string().optional().describe('PEM file of the CA that signed the broker certificate (TLS).'),
    cert: z.string().optional().describe('PEM client certificate (mutual TLS).'),
    key: z.string().optional().describe('PEM client private key (mutual TLS).'),
    reject_unauthorized: z.boolean().default(true).describe('Verify the broker certificate.'),
    keepalive: z.number().int().min(1).default(30).describe('Keep-alive, seconds.'),
    reconnect_period_ms: z
      .number()
      .int()
      .min(100)
      .default(1000)
      .describe('Delay between reconnect attempts, ms.'),
    embedded: z
      .object({
        host: z.string().default('127.0.0.1').describe('Embedded broker bind address.'),
        port: z
          .number()
          .int()
          .min(0)
          .max(65535)
          .default(1883)
          .describe('Embedded broker port (0 = any free port).'),
      })
      .prefault({})
      .describe('Embedded aedes broker, used when `url` is unset.'),
  })
  .prefault({});

const settingsSchema = z
  .object({
    device_id: z
      .string()
      .regex(SPEAKER_ID, 'letters, digits, _ . - only')
      .default(hostnameId())
      .describe('Device id.'),
    data_dir: z.string().default('.work/daemon').describe('State folder: SQLite database, retained audio.'),
    model: z.string().default(DEFAULT_MODEL).describe('Target speaker model manifest (model.json).'),
    attack: z.string().default(DEFAULT_ATTACK).describe('Attack bundle calibrated on shadow models.'),
    reference_data_dir: z
      .string()
      .optional()
      .describe(
        'Dataset folder (speechocean762 layout) of the reference (imposter) speakers when no references file ships with the bundle (default: $SLMIA_DATA_DIR/speechocean762).',
      ),
    mqtt: mqttSchema,
    queue: z
      .object({
        max_pending: z.number().int().min(1).default(8).describe('Requests waiting beyond this → `busy`.'),
      })
      .prefault({}),
    files: z
      .object({
        root: z
          .string()
          .optional()
          .describe('Folder that relative request paths resolve against (default: data folder).'),
        allowed_dirs: z
          .array(z.string())
          .default([])
          .describe('When non-empty, request files must lie under one of these folders.'),
      })
      .prefault({}),
    spool: z
      .object({
        enabled: z.boolean().default(true),
        dir: z
          .string()
          .default('.work/daemon/spool')
          .describe('Spool folder: <dir>/<speaker>/ + `.ready` marker.'),
        poll_ms: z.number().int().min(50).default(1000).describe('Spool scan interval, ms.'),
      })
      .prefault({}),
    microphone: z
      .object({
        recorder: z
          .enum(['sox', 'rec', 'arecord'])
          .default('sox')
          .describe('Recorder program node-record-lpcm16 runs.'),
        device: z.string().optional().describe('Capture device (ALSA name for arecord, AUDIODEV for sox).'),
        sample_rate: z.number().int().min(8000).default(16000).describe('Capture rate, Hz.'),
        max_utterances: z.number().int().min(1).default(20),
        max_seconds: z.number().min(0.5).default(10).describe('Longest allowed utterance, seconds.'),
        trim: z.boolean().default(true).describe('Energy-based trimming of leading/trailing silence.'),
      })
      .prefault({}),
    retain_audio: z.boolean().default(false).describe('Keep spool/microphone audio after the audit.'),
    health_interval_s: z.number().min(0.1).default(60).describe('Period of <base>/bridge/health, seconds.'),
    homeassistant: z
      .object({
        enabled: z
          .boolean()
          .default(false)
          .describe('Publish Home Assistant MQTT discovery (one sensor per speaker).'),
        discovery_prefix: z.string().default('homeassistant'),
      })
      .prefault({}),
    log_level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
  })
  .strict();

/** Validated daemon settings; relative paths are resolved (see {@link loadConfig}). */
export type DaemonConfig = z.infer<typeof settingsSchema>;
/** The settings as written in YAML (every key optional). */
export type DaemonConfigInput = z.input<typeof settingsSchema>;

/** Environment variables that override settings (secrets and the broker URL). */
export const ENV_OVERRIDES: Record<string, string[]> = {
  SLMIA_MQTT_URL: ['mqtt', 'url'],
  SLMIA_MQTT_USERNAME: ['mqtt', 'username'],
  SLMIA_MQTT_PASSWORD: ['mqtt', 'password'],
  SLMIA_DEVICE_ID: ['device_id'],
};

function hostnameId(): string {
  const h = hostname()
    .replace(/[^A-Za-z0-9_.-]/g, '-')
    .slice(0, 64);
  return SPEAKER_ID.test(h) ? h : 'slmia';
}

/**
 * Validate settings (already parsed from YAML) and apply environment overrides.
 * @param raw parsed YAML (undefined/null = all defaults)
 * @param file label for errors
 * @param baseDir folder relative paths resolve against (the config file's folder; the project root for defaults)
 * @throws ConfigError naming the key path and what was expected
 */
export function parseConfig(
  raw: unknown,
  file = '<config>',
  baseDir = projectRoot,
  env: NodeJS.ProcessEnv = process.env,
): DaemonConfig {
  const obj = structuredClone(raw ?? {}) as Record<string, unknown>;
  if (typeof obj !== 'object' || Array.isArray(obj))
    throw new ConfigError(file, '', 'expected a YAML mapping at the top level');
  for (const [name, path] of Object.entries(ENV_OVERRIDES)) {
    const v = env[name];
    if (v === undefined || v === '') continue;
    let cur = obj;
    for (const k of path.slice(0, -1)) {
      if (typeof cur[k] !== 'object' || cur[k] === null) cur[k] = {};
      cur = cur[k] as Record<string, unknown>;
    }
    cur[path[path.length - 1] as string] = v;
  }
  const parsed = settingsSchema.safeParse(obj);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const key = (issue?.path ?? []).join('.');
    throw new ConfigError(file, key, issue?.message ?? 'invalid');
  }
  const c = parsed.data;
  const abs = (p: string): string => (isAbsolute(p) ? p : resolve(baseDir, p));
  // Defaults that name files in the project resolve against the project root, explicit ones against the file.
  const fromRoot = (p: string, dflt: string): string => (p === dflt ? resolve(projectRoot, p) : abs(p));
  c.model = fromRoot(c.model, DEFAULT_MODEL);
  c.attack = fromRoot(c.attack, DEFAULT_ATTACK);
  c.data_dir = fromRoot(c.data_dir, '.work/daemon');
  c.spool.dir = fromRoot(c.spool.dir, '.work/daemon/spool');
  c.files.root = c.files.root ? abs(c.files.root) : dataDir();
  c.files.allowed_dirs = c.files.allowed_dirs.map(abs);
  if (c.reference_data_dir) c.reference_data_dir = abs(c.reference_data_dir);
  for (const k of ['ca', 'cert', 'key'] as const) if (c.mqtt[k]) c.mqtt[k] = abs(c.mqtt[k] as string);
  return c;
}

/**
 * Read and validate a YAML settings file (or all defaults when `path` is undefined).
 * @throws ConfigError for an unreadable file, bad YAML, or a schema violation (names the key path)
 */
export function loadConfig(path?: string, env: NodeJS.ProcessEnv = process.env): DaemonConfig {
  if (!path) return parseConfig({}, '<defaults>', projectRoot, env);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(path, '', `cannot read (${(err as Error).message})`, { cause: err });
  }
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (err) {
    throw new ConfigError(path, '', `not valid YAML (${(err as Error).message})`, { cause: err });
  }
  return parseConfig(raw, path, dirname(resolve(path)), env);
}

/** A summary of the settings safe to publish (no secrets, no key material). */
export function configSummary(c: DaemonConfig): Record<string, unknown> {
  return {
    base_topic: c.mqtt.base_topic,
    broker: c.mqtt.url
      ? redactUrl(c.mqtt.url)
      : `embedded mqtt://${c.mqtt.embedded.host}:${c.mqtt.embedded.port}`,
    tls: Boolean(c.mqtt.ca || c.mqtt.cert || c.mqtt.url?.startsWith('mqtts')),
    queue_max_pending: c.queue.max_pending,
    spool: c.spool.enabled,
    microphone_recorder: c.microphone.recorder,
    retain_audio: c.retain_audio,
    homeassistant: c.homeassistant.enabled,
    health_interval_s: c.health_interval_s,
  };
}

function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return url;
  }
}
