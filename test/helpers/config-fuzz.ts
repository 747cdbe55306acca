/**
 * Fuzz inputs over the daemon's YAML settings file (test/fuzz-config.test.ts runs a CI-sized smoke,
 * bench/fuzz-requests.ts the large run): a full valid settings file with random keys set to odd values (wrong
 * types, huge or negative numbers, .inf/.nan, unicode, nested garbage), keys deleted or added at any level, then
 * YAML-level mutations (anchors, aliases, merge keys, tags, block scalars, tabs, cut or repeated lines),
 * alias bombs, and random text and bytes.
 *
 * The target is `slmia daemon --print-config -c <file>` run in-process (src/cli/program.ts): it must print a valid
 * configuration (exit 0) or one `slmia: <file>: key "…": …` line with exit 2 — never another exit code, a stack
 * trace or a throw. `loadConfig` is called first to classify the case (result / typed `config.invalid`).
 */
import fc from 'fast-check';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { runCli } from '../../src/cli/program.js';
import { loadConfig, parseConfig } from '../../src/daemon/config.js';

/** Every key path of a settings object (`mqtt`, `mqtt.embedded`, `mqtt.embedded.port`, …). */
function keyPaths(o: object, prefix: string[] = []): string[] {
  return Object.entries(o).flatMap(([k, v]) => {
    const p = [...prefix, k];
    return [
      p.join('.'),
      ...(v && typeof v === 'object' && !Array.isArray(v) ? keyPaths(v as object, p) : []),
    ];
  });
}

/** A realistic settings file: every section, relative paths, one client login. */
const BASE: Record<string, unknown> = {
  device_id: 'hub-1',
  data_dir: 'state',
  log_level: 'info',
  health_interval_s: 60,
  retain_audio: false,
  mqtt: {
    base_topic: 'slmia',
    keepalive: 30,
    reconnect_period_ms: 1000,
    embedded: { host: '127.0.0.1', port: 1883, users: [{ username: 'ha', password: 'a-long-secret' }] },
  },
  onnxruntime: { spinning: false, cpu_mem_arena: false },
  queue: { max_pending: 8 },
  requests: { max_seconds: 600 },
  files: { max_files: 200, max_depth: 4, allowed_dirs: ['audio'], read_timeout_ms: 10_000 },
  spool: { enabled: true, dir: 'spool', poll_ms: 1000, watch: true },
  microphone: { recorder: 'sox', sample_rate: 16000, max_utterances: 20, max_seconds: 10, trim: true },
  homeassistant: { enabled: false, discovery_prefix: 'homeassistant' },
};

const KEYS = [...new Set([...keyPaths(parseConfig({}, '<defaults>', '/', {})), ...keyPaths(BASE)])];

const oddValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(
    0,
    -1,
    1,
    2 ** 31,
    2 ** 53 + 1,
    1e308,
    -1e-320,
    0.5,
    '',
    'mqtt://',
    'file:///etc/passwd',
    'mqtt://host:99999',
    '/',
    '../../etc',
    '127.0.0.1',
    '0.0.0.0',
    'yes',
    'off',
    '~',
    null,
    true,
    false,
    [],
    {},
    'x'.repeat(5000),
  ),
  fc.string({ unit: 'grapheme', maxLength: 16 }),
  fc.integer(),
  fc.double(),
  fc.jsonValue({ maxDepth: 3 }),
);

/** Values a key may well accept (so that edited files are often still valid). */
const plausibleValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.integer({ min: 1, max: 100 }),
  fc.boolean(),
  fc.constantFrom('info', 'debug', 'sox', 'arecord', '127.0.0.1', 'slmia2', 'hub-2', 'spool2'),
);

/** The base settings with 1-4 edits: a key set to an odd or plausible value, deleted, or an unknown key added. */
const editedSettings: fc.Arbitrary<Record<string, unknown>> = fc
  .array(
    fc.tuple(
      fc.constantFrom('set', 'set-plausible', 'set-plausible', 'delete', 'add'),
      fc.constantFrom(...KEYS),
      oddValue,
      plausibleValue,
      fc.string({ maxLength: 8 }),
    ),
    { minLength: 1, maxLength: 4 },
  )
  .map((edits) => {
    const o = structuredClone(BASE);
    for (const [op, key, value, plausible, name] of edits) {
      const path = key.split('.');
      let cur = o as Record<string, unknown>;
      for (const k of path.slice(0, -1)) {
        if (typeof cur[k] !== 'object' || cur[k] === null) cur[k] = {};
        cur = cur[k] as Record<string, unknown>;
      }
      const last = path[path.length - 1] as string;
      if (op === 'set') cur[last] = value;
      else if (op === 'set-plausible') cur[last] = plausible;
      else if (op === 'delete') delete cur[last];
      else cur[name || 'x'] = value;
    }
    return o;
  });

const YAML_TOKENS = [
  '&a ',
  '*a',
  '<<: *a\n',
  '!!binary ',
  '!!js/function ',
  '!!python/object:os.system ',
  '!!str ',
  '!!int ',
  '!!float ',
  '? ',
  '- ',
  '\t',
  '%YAML 1.1\n',
  '---\n',
  '...\n',
  '|\n',
  '>-\n',
  '"',
  "'",
  '{',
  '[',
  ': ',
  '# ',
  '.inf',
  '.nan',
  '0x1F',
  '0o17',
  '1_000',
  '\u0000',
  '\ufeff',
  '__proto__: {polluted: 1}\n',
];

/** YAML text of the edited settings with 0-4 text mutations. */
const mutatedYaml: fc.Arbitrary<string> = fc
  .tuple(
    editedSettings,
    fc.array(
      fc.tuple(
        fc.constantFrom('insert', 'cut-line', 'dup-line', 'indent', 'truncate'),
        fc.nat(),
        fc.constantFrom(...YAML_TOKENS),
      ),
      { maxLength: 4 },
    ),
  )
  .map(([o, ops]) => {
    let s = stringify(o);
    for (const [op, pos, tok] of ops) {
      const lines = s.split('\n');
      const at = pos % Math.max(1, lines.length);
      if (op === 'insert') {
        const c = pos % Math.max(1, s.length);
        s = s.slice(0, c) + tok + s.slice(c);
      } else if (op === 'cut-line') s = [...lines.slice(0, at), ...lines.slice(at + 1)].join('\n');
      else if (op === 'dup-line') s = [...lines.slice(0, at + 1), ...lines.slice(at)].join('\n');
      else if (op === 'indent') s = lines.map((l, i) => (i === at ? `   ${l}` : l)).join('\n');
      else s = s.slice(0, pos % Math.max(1, s.length));
    }
    return s;
  });

/** Nested aliases that expand exponentially (the YAML "billion laughs"). */
const aliasBomb: fc.Arbitrary<string> = fc.integer({ min: 3, max: 12 }).map((levels) => {
  const lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
  for (let i = 1; i <= levels; i++)
    lines.push(`a${i}: &a${i} [${Array.from({ length: 9 }, () => `*a${i - 1}`).join(',')}]`);
  lines.push(`mqtt: {base_topic: *a${levels}}`);
  return lines.join('\n');
});

/** Every kind of settings file, as bytes. */
export const configFile: fc.Arbitrary<Buffer> = fc.oneof(
  { weight: 6, arbitrary: editedSettings.map((o) => Buffer.from(stringify(o))) },
  { weight: 4, arbitrary: mutatedYaml.map((s) => Buffer.from(s)) },
  { weight: 1, arbitrary: aliasBomb.map((s) => Buffer.from(s)) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 200 }).map((s) => Buffer.from(s)) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 512 }).map((b) => Buffer.from(b)) },
);

/** Captures what the CLI writes while `fn` runs. */
async function captured(fn: () => Promise<void>): Promise<{ out: string; err: string; code: number }> {
  const out: string[] = [];
  const err: string[] = [];
  const { write: w1 } = process.stdout;
  const { write: w2 } = process.stderr;
  process.stdout.write = ((s: string | Uint8Array) => (
    out.push(String(s)),
    true
  )) as typeof process.stdout.write;
  process.stderr.write = ((s: string | Uint8Array) => (
    err.push(String(s)),
    true
  )) as typeof process.stderr.write;
  const before = process.exitCode;
  try {
    process.exitCode = undefined;
    await fn();
    return { out: out.join(''), err: err.join(''), code: Number(process.exitCode ?? 0) };
  } finally {
    process.stdout.write = w1;
    process.stderr.write = w2;
    process.exitCode = before;
  }
}

/**
 * Fuzz target: write the file to `dir`, classify it with `loadConfig` (a typed `config.invalid` is rethrown for
 * the report after the CLI check), then run `slmia daemon --print-config -c <file>` in-process: exit 0 with the
 * settings as JSON, or exit 2 with one `slmia: <file>: …` message and no stack trace.
 */
export function configTarget(dir: string): (bytes: Buffer) => Promise<string | undefined> {
  let n = 0;
  return async (bytes) => {
    const file = join(dir, `config-${n++}.yaml`);
    writeFileSync(file, bytes);
    let invalid: unknown;
    try {
      const c = loadConfig(file);
      if (typeof c.mqtt.base_topic !== 'string' || !c.model.startsWith('/'))
        return 'settings without defaults';
    } catch (err) {
      invalid = err;
    }
    const r = await captured(() =>
      runCli([process.execPath, 'slmia', 'daemon', '--print-config', '-c', file]),
    );
    if (/\n\s+at /.test(r.err)) return `stack trace: ${r.err.slice(0, 300)}`;
    if (invalid) {
      if (r.code !== 2) return `invalid settings: exit ${r.code} (${r.err.slice(0, 200)})`;
      if (!r.err.startsWith(`slmia: ${file}: `))
        return `error does not name the file: ${r.err.slice(0, 200)}`;
      throw invalid;
    }
    if (r.code !== 0) return `valid settings: exit ${r.code} (${r.err.slice(0, 200)})`;
    try {
      JSON.parse(r.out);
    } catch {
      return `--print-config output is not JSON: ${r.out.slice(0, 200)}`;
    }
    return undefined;
  };
}
