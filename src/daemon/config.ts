/**
 * Daemon settings: one zod schema with descriptions and defaults (Zigbee2MQTT style). Every key is optional
 * in the YAML file; an empty file gives a daemon that runs out of the box (default target model and attack
 * bundle from `models/`, SQLite under `.work/daemon/`, embedded aedes broker on 127.0.0.1:1883).
 * Secrets may come from the environment (see {@link ENV_OVERRIDES}).
 */
import { accessSync, constants, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, isAbsolute, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import { z } from 'zod';
import { SlmiaError } from '../errors.js';
import { DEFAULT_ATTACK, DEFAULT_MODEL, dataDir, projectRoot } from '../paths.js';

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

export { DEFAULT_ATTACK, DEFAULT_MODEL } from '../paths.js';

/** MQTT topic segments and speaker ids: letters, digits, `_ . -`, never `bridge`. */
export const SPEAKER_ID = /^(?!bridge$)[A-Za-z0-9_.-]{1,64}$/;

/** Largest delay Node timers honour (2³¹−1 ms); larger ones fire after 1 ms. */
export const MAX_TIMER_MS = 2 ** 31 - 1;
/** Broker URL schemes the daemon speaks. */
export const BROKER_SCHEMES = ['mqtt:', 'mqtts:', 'ws:', 'wss:'];

/** A delay in ms that a Node timer can hold. */
const timerMs = (min: number): z.ZodNumber => z.number().int().min(min).max(MAX_TIMER_MS);

const brokerUrl = z
  .string()
  .refine((u) => URL.canParse(u), 'not a URL (expected mqtt://host:port, mqtts://, ws:// or wss://)')
  .refine(
    (u) => !URL.canParse(u) || BROKER_SCHEMES.includes(new URL(u).protocol),
    'broker URL scheme must be mqtt://, mqtts://, ws:// or wss://',
  )
  .refine((u) => !URL.canParse(u) || new URL(u).hostname !== '', 'broker URL has no host');

const embeddedUser = z
  .object({
    username: z.string().min(1).max(256),
    password: z.string().min(8, 'at least 8 characters').max(1024),
  })
  .strict();

const mqttSchema = z
  .object({
    url: brokerUrl
      .optional()
      .describe(
        'Broker URL (mqtt://, mqtts://, ws://, wss://). Unset: start the embedded aedes broker and connect to it.',
      ),
    base_topic: z
      .string()
      .min(1)
      .max(128)
      .regex(/^[^#+]+$/, 'no MQTT wildcards')
      .refine(
        (t) => !t.startsWith('/') && !t.endsWith('/') && !t.startsWith('$'),
        'no leading/trailing "/" or "$"',
      )
      .default('slmia')
      .describe('Topic prefix.'),
    client_id: z.string().min(1).max(128).optional().describe('MQTT client id (default slmia-<device_id>).'),
    username: z
      .string()
      .min(1)
      .optional()
      .describe(
        "Broker user of the daemon (env SLMIA_MQTT_USERNAME); on the embedded broker the daemon's own login.",
      ),
    password: z.string().optional().describe('Broker password (env SLMIA_MQTT_PASSWORD).'),
    ca: z.string().optional().describe('PEM file of the CA that signed the broker certificate (TLS).'),
    cert: z.string().optional().describe('PEM client certificate (mutual TLS).'),
    key: z.string().optional().describe('PEM client private key (mutual TLS).'),
    reject_unauthorized: z.boolean().default(true).describe('Verify the broker certificate.'),
    keepalive: z
      .number()
      .int()
      .min(1)
      .max(65535)
      .default(30)
      .describe('Keep-alive, seconds (MQTT: at most 65535).'),
    reconnect_period_ms: timerMs(100).default(1000).describe('Delay between reconnect attempts, ms.'),
    protocol_version: z
      .union([z.literal(4), z.literal(5)])
      .default(5)
      .describe(
        'MQTT version spoken to an external broker: 5 subscribes to requests with retain-as-published, so a retained request is refused even when published while the daemon is subscribed; 4 (3.1.1) for brokers without MQTT 5, where such a request counts as a plain one. The embedded broker is always spoken to in 3.1.1 (it refuses retained requests itself).',
      ),
    embedded: z
      .object({
        host: z
          .string()
          .default('127.0.0.1')
          .describe(
            'Embedded broker bind address. Anything but loopback (127.0.0.0/8, ::1, localhost) needs `users` or `password_file`.',
          ),
        port: z
          .number()
          .int()
          .min(0)
          .max(65535)
          .default(1883)
          .describe('Embedded broker port (0 = any free port).'),
        users: z
          .array(embeddedUser)
          .max(1000)
          .default([])
          .describe(
            "Clients allowed on the embedded broker (they may publish requests and read the daemon's topics); when any are set (or a password file), anonymous clients are refused.",
          ),
        password_file: z
          .string()
          .optional()
          .describe('Mosquitto password file (mosquitto_passwd, $6$/$7$ hashes) of more clients.'),
      })
      .strict()
      .prefault({})
      .describe('Embedded aedes broker, used when `url` is unset.'),
  })
  .strict()
  .prefault({});

const MIB = 2 ** 20;

const settingsSchema = z
  .object({
    device_id: z
      .string()
      .regex(SPEAKER_ID, 'letters, digits, _ . - only')
      .default(hostnameId())
      .describe('Device id.'),
    data_dir: z
      .string()
      .min(1)
      .default('.work/daemon')
      .describe('State folder (mode 0700): SQLite database (0600), retained audio.'),
    model: z.string().min(1).default(DEFAULT_MODEL).describe('Target speaker model manifest (model.json).'),
    attack: z.string().min(1).default(DEFAULT_ATTACK).describe('Attack bundle calibrated on shadow models.'),
    reference_data_dir: z
      .string()
      .optional()
      .describe(
        'Dataset folder (speechocean762 layout) of the reference (imposter) speakers when no references file ships with the bundle (default: $SLMIA_DATA_DIR/speechocean762).',
      ),
    mqtt: mqttSchema,
    onnxruntime: z
      .object({
        threads: z
          .number()
          .int()
          .min(1)
          .max(256)
          .optional()
          .describe(
            'Intra-op threads per model session (default: SLMIA_ORT_THREADS, else the number of CPUs).',
          ),
        spinning: z
          .boolean()
          .default(false)
          .describe(
            'Let idle onnxruntime threads busy-wait (its own default). Off: a hub shares its cores with the assistant it audits, and spinning threads then slow inference several times (bench/RESULTS.md).',
          ),
        cpu_mem_arena: z
          .boolean()
          .default(false)
          .describe(
            "onnxruntime's CPU memory arena: keeps the largest working set any query ever needed (a 64-voice reference batch: +100 MB for good). Off: each query's buffers are freed after it (with the unit's MALLOC_MMAP_THRESHOLD_, back to the system), at a cost in inference time measured in bench/RESULTS.md.",
          ),
      })
      .strict()
      .prefault({})
      .describe('How the speaker models run (onnxruntime session options).'),
    queue: z
      .object({
        max_pending: z
          .number()
          .int()
          .min(1)
          .max(10_000)
          .default(8)
          .describe('New requests waiting beyond this → `busy` (stored requests are always worked off).'),
      })
      .strict()
      .prefault({}),
    requests: z
      .object({
        max_seconds: z
          .number()
          .positive()
          .max(86_400)
          .default(600)
          .describe(
            'Seconds of audio per request, at most (summed while decoding); more → `request.invalid`.',
          ),
      })
      .strict()
      .prefault({})
      .describe(
        'Bounds of one audit request besides the file caps of `files` (all published in bridge/info `limits`).',
      ),
    files: z
      .object({
        root: z
          .string()
          .optional()
          .describe(
            'Audio folder: relative request paths resolve against it, and requests may read under it (default: the data folder, $SLMIA_DATA_DIR).',
          ),
        allowed_dirs: z
          .array(z.string().min(1))
          .max(64)
          .default([])
          .describe(
            'More folders requests may read under (besides `root` and the spool folder); nothing else is readable.',
          ),
        max_files: z
          .number()
          .int()
          .min(1)
          .max(10_000)
          .default(200)
          .describe('Most audio files one request may name or expand to (folders included).'),
        max_depth: z
          .number()
          .int()
          .min(0)
          .max(32)
          .default(4)
          .describe('Folder levels expanded below a requested folder (deeper files are not audited).'),
        max_file_bytes: z
          .number()
          .int()
          .min(1024)
          .max(2 ** 31 - 1)
          .default(32 * MIB)
          .describe('Largest audio file read, bytes (checked before reading).'),
        max_request_bytes: z
          .number()
          .int()
          .min(1024)
          .max(2 ** 40)
          .default(64 * MIB)
          .describe('Most bytes read for one request, all files together.'),
        read_timeout_ms: timerMs(1).default(10_000).describe('Deadline for reading one file, ms.'),
      })
      .strict()
      .prefault({}),
    spool: z
      .object({
        enabled: z.boolean().default(true),
        dir: z
          .string()
          .min(1)
          .default('.work/daemon/spool')
          .describe('Spool folder: <dir>/<speaker>/ + `.ready` marker.'),
        watch: z
          .boolean()
          .default(true)
          .describe(
            'Watch the spool folder for file-system events (inotify, via chokidar): a `.ready` marker is claimed at once. false: scan every poll_ms only.',
          ),
        poll_ms: timerMs(50)
          .default(1000)
          .describe(
            'Scan interval, ms: the fallback for file systems that deliver no events (NFS, some FUSE mounts).',
          ),
      })
      .strict()
      .prefault({}),
    microphone: z
      .object({
        recorder: z
          .enum(['sox', 'rec', 'arecord'])
          .default('sox')
          .describe('Recorder program node-record-lpcm16 runs.'),
        device: z.string().optional().describe('Capture device (ALSA name for arecord, AUDIODEV for sox).'),
        sample_rate: z.number().int().min(8000).max(384_000).default(16000).describe('Capture rate, Hz.'),
        max_utterances: z.number().int().min(1).max(1000).default(20),
        max_seconds: z
          .number()
          .min(0.5)
          .max(3600)
          .default(10)
          .describe('Longest allowed utterance, seconds.'),
        trim: z.boolean().default(true).describe('Energy-based trimming of leading/trailing silence.'),
      })
      .strict()
      .prefault({}),
    retain_audio: z
      .boolean()
      .default(false)
      .describe(
        'Keep spool/microphone audio after the audit (rejected spool folders too); default: delete it.',
      ),
    health_interval_s: z
      .number()
      .min(0.1)
      .max(MAX_TIMER_MS / 1000)
      .default(60)
      .describe('Period of <base>/bridge/health, seconds.'),
    homeassistant: z
      .object({
        enabled: z
          .boolean()
          .default(false)
          .describe('Publish Home Assistant MQTT discovery (one sensor per speaker).'),
        discovery_prefix: z
          .string()
          .min(1)
          .regex(/^[^#+/]+$/, 'one topic level, no MQTT wildcards')
          .default('homeassistant'),
      })
      .strict()
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
    const path = (issue?.path ?? []).map(String);
    if (issue?.code === 'unrecognized_keys') {
      // Name the misspelled key itself (`files.allowed`), not only the mapping that holds it.
      const key = [...path, issue.keys[0] ?? ''].join('.');
      throw new ConfigError(file, key, `unknown key (misspelled?); see config.example.yaml`);
    }
    throw new ConfigError(file, path.join('.'), issue?.message ?? 'invalid');
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
  if (c.mqtt.embedded.password_file) c.mqtt.embedded.password_file = abs(c.mqtt.embedded.password_file);
  for (const [k, p] of [
    ['files.root', c.files.root],
    ...c.files.allowed_dirs.map((d, i) => [`files.allowed_dirs.${i}`, d]),
  ] as const)
    if (p === '/') throw new ConfigError(file, k, 'the filesystem root cannot be an allowed folder');
  // Key material must be readable now, not at the first connect (a typed error, not a stack trace).
  for (const [k, p] of [
    ['mqtt.ca', c.mqtt.ca],
    ['mqtt.cert', c.mqtt.cert],
    ['mqtt.key', c.mqtt.key],
    ['mqtt.embedded.password_file', c.mqtt.embedded.password_file],
  ] as const) {
    if (p === undefined) continue;
    try {
      accessSync(p, constants.R_OK);
    } catch (err) {
      throw new ConfigError(file, k, `cannot read ${p} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
    }
  }
  if ((c.mqtt.cert === undefined) !== (c.mqtt.key === undefined))
    throw new ConfigError(file, c.mqtt.cert ? 'mqtt.key' : 'mqtt.cert', 'mutual TLS needs both cert and key');
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
  // YAML errors AND warnings (unknown directives or tags, e.g. `!!js/function`) are typed errors: the yaml
  // library would otherwise print warnings on stderr and read the value as plain text. One line each, with the
  // position (the library's multi-line code frame is dropped).
  const firstLine = (m: string): string => (m.split('\n')[0] ?? '').replace(/:$/, '');
  let raw: unknown;
  try {
    // logLevel 'error': nothing printed (a mapping used as a key is stringified and then refused as unknown).
    const doc = parseDocument(text, { logLevel: 'error' });
    const [problem] = [...doc.errors, ...doc.warnings];
    if (problem) throw problem;
    raw = doc.toJS();
  } catch (err) {
    throw new ConfigError(path, '', `not valid YAML (${firstLine((err as Error).message)})`, { cause: err });
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
    requests: c.requests,
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
