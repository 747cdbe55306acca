/**
 * Benchmark (issue 12, target 4): CLI start-up. Wall and CPU time (user + sys, GNU time) of
 *   node -e 0                  the floor: Node itself
 *   slmia --version            target ≤ 0.25 s
 *   slmia audit (10 clips)     target ≤ 0.6 s warm: the demo member's 10 utterances (demo/), default target
 *                              model and attack bundle (with its reference model: 2 queries) with the shipped
 *                              reference banks and null
 * both from `dist/` (the source checkout) and from the release's single CommonJS bundle (deploy/bundle.mjs, what
 * the single-executable release runs; run here with this Node and `SLMIA_HOME` pointing at a folder holding the
 * native addons in `lib/`, as the release does), interleaved per round (paired, the order alternating), after
 * one warm-up round (page cache warm).
 *
 *   make build && node --import=tsx bench/cli-startup.ts [--rounds 15]
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, symlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { DEFAULT_ATTACK, DEFAULT_MODEL } from '../src/daemon/config.js';
import { readSplit, readUtterances, speakersOfGroup } from '../src/dataset/index.js';
import { demoDir, projectRoot } from '../src/paths.js';
import { option } from './lib/args.js';
import { fmt, load1, ratios, summarize } from './lib/paired.js';

const rounds = Number(option('--rounds', '15'));
const cli = join(projectRoot, 'dist', 'cli.js');
if (!existsSync(cli)) throw new Error('bench/cli-startup: run `make build` first');
if (!existsSync('/usr/bin/time')) throw new Error('bench/cli-startup: needs GNU time (/usr/bin/time)');

const dir = demoDir();
const split = await readSplit(resolve(dir, 'splits', 'five-way.tsv'));
const member = speakersOfGroup(split, await readUtterances(dir), 'target-member')[0];
if (!member) throw new Error('bench/cli-startup: no target member in the demo set');
const clips = member.heldout.slice(0, 10).map((u) => u.path);
const cacheDir = mkdtempSync(join(tmpdir(), 'slmia-cli-bench-'));

/**
 * The release bundle in a home folder laid out as the tarball's: `lib/` with the native addons (linked from
 * node_modules), `dist/` and `models/` linked from the project, `node_modules/` linked for the wasm glue
 * packages (a SEA reads those binaries from `lib/` instead).
 */
const home = join(cacheDir, 'home');
const bundle = join(home, 'bin', 'slmia.cjs');
mkdirSync(join(home, 'lib'), { recursive: true });
for (const name of ['dist', 'models', 'node_modules']) symlinkSync(join(projectRoot, name), join(home, name));
const ortDir = dirname(
  createRequire(import.meta.url).resolve(
    `onnxruntime-node/bin/napi-v6/${process.platform}/${process.arch}/onnxruntime_binding.node`,
  ),
);
for (const f of readdirSync(ortDir)) symlinkSync(join(ortDir, f), join(home, 'lib', f));
symlinkSync(
  createRequire(import.meta.url).resolve('sqlite3/build/Release/node_sqlite3.node'),
  join(home, 'lib', 'node_sqlite3.node'),
);
const built = spawnSync(process.execPath, [join(projectRoot, 'deploy', 'bundle.mjs'), bundle], {
  stdio: ['ignore', 'ignore', 'inherit'],
});
if (built.status !== 0) throw new Error('bench/cli-startup: deploy/bundle.mjs failed');

const auditArgs = [
  'audit',
  '--target',
  resolve(projectRoot, DEFAULT_MODEL),
  '--attack',
  resolve(projectRoot, DEFAULT_ATTACK),
  '--speaker',
  member.speaker,
  '--cache',
  join(cacheDir, 'cache.sqlite'),
  ...clips,
];
const commands: Record<string, string[]> = {
  'node -e 0': ['-e', '0'],
  'slmia --version': [cli, '--version'],
  'slmia audit, 10 clips': [cli, ...auditArgs],
  'release bundle: slmia --version': [bundle, '--version'],
  'release bundle: slmia audit, 10 clips': [bundle, ...auditArgs],
};
/** Environment per command: the bundle finds its native addons under SLMIA_HOME/lib. */
const envOf = (name: string): NodeJS.ProcessEnv =>
  name.startsWith('release') ? { ...process.env, SLMIA_HOME: home } : process.env;

/** Run one command under GNU time; returns [wall s, cpu s]. */
function timed(argv: string[], env: NodeJS.ProcessEnv): [number, number] {
  const out = join(cacheDir, 'time.txt');
  const r = spawnSync('/usr/bin/time', ['-o', out, '-f', '%e %U %S', process.execPath, ...argv], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env,
  });
  if (r.status !== 0) throw new Error(`${argv.join(' ')} failed: ${r.stderr.toString()}`);
  const [wall, user, sys] = readFileSync(out, 'utf8').trim().split(/\s+/).map(Number) as number[];
  return [wall as number, (user as number) + (sys as number)];
}

const names = Object.keys(commands);
const wall: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
const cpu: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
for (let r = -1; r < rounds; r++) {
  for (const name of r % 2 === 0 ? names : [...names].reverse()) {
    const [w, c] = timed(commands[name] as string[], envOf(name));
    if (r < 0) continue; // warm-up round
    wall[name]?.push(w);
    cpu[name]?.push(c);
  }
}
const floor = wall['node -e 0'] as number[];
console.log(
  [
    `${rounds} paired rounds after one warm-up round (dist/cli.js and the release bundle on Node ${process.version}); load average ${load1()} at the end. Audit: ${member.speaker}'s 10 demo clips, default target model and attack bundle (1 query of the target and 1 of its reference model), shipped reference banks and null.`,
    '',
    '| command | wall s | CPU s (user + sys) | wall − `node -e 0` s (paired) |',
    '|---|---|---|---|',
    ...names.map((n) => {
      const extra = (wall[n] as number[]).map((w, i) => w - (floor[i] as number));
      return `| ${n} | ${fmt(summarize(wall[n] as number[]), 2)} | ${fmt(summarize(cpu[n] as number[]), 2)} | ${n === 'node -e 0' ? '—' : fmt(summarize(extra), 2)} |`;
    }),
    '',
    `- wall / \`node -e 0\` (paired): ${names
      .slice(1)
      .map((n) => `${n} ${fmt(summarize(ratios(wall[n] as number[], floor)), 2, '×')}`)
      .join('; ')}`,
    `- release bundle / \`dist/\` (paired): audit wall ${fmt(summarize(ratios(wall['release bundle: slmia audit, 10 clips'] as number[], wall['slmia audit, 10 clips'] as number[])), 2, '×')}, CPU ${fmt(summarize(ratios(cpu['release bundle: slmia audit, 10 clips'] as number[], cpu['slmia audit, 10 clips'] as number[])), 2, '×')}; --version wall ${fmt(summarize(ratios(wall['release bundle: slmia --version'] as number[], wall['slmia --version'] as number[])), 2, '×')}`,
  ].join('\n'),
);
