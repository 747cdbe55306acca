#!/usr/bin/env node
/* global process, console */
/**
 * Bundle the ESM sources (src/cli.ts and everything it imports, node_modules included) into ONE CommonJS
 * file for a Node single-executable application (SEA). Node 20's SEA runs a single CommonJS script whose
 * `require` only reaches built-in modules, so:
 *   - native addons (onnxruntime-node, sqlite3) are NOT bundled: their `require('...node')` is rewritten to
 *     `__slmiaNative(name)`, which loads `<home>/lib/<name>` with `module.createRequire(process.execPath)`
 *     (the loader documented for SEAs); `<home>` is `$SLMIA_HOME` or the folder holding the executable;
 *   - `import.meta.url` (only src/paths.ts uses it, and only outside a SEA) is defined from `__filename`.
 * WASM of @wasm-audio-decoders/flac and libsamplerate-js is inlined in their JS, so it rides in the bundle; the
 * VAD (fvad.wasm) and FFT (pffft.wasm) binaries and the project's own (dist/frontend/fbank.wasm,
 * dist/audio/vad.wasm, dist/audio/pcm.wasm, compiled from AssemblyScript by `make build`) are copied to <home>/lib/ by build-dist.sh
 * (src/audio/wasm.ts).
 *
 * Usage: node deploy/bundle.mjs <out.cjs>
 */
import { readFile } from 'node:fs/promises';
import { builtinModules } from 'node:module';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const out = process.argv[2];
if (!out) {
  console.error('usage: node deploy/bundle.mjs <out.cjs>');
  process.exit(2);
}

/** Loader injected at the top of the bundle; see the header comment. */
const banner = `
// ONNX Runtime >= 1.2x on Linux starts a telemetry client that tries HTTPS uploads; a hub auditor must not
// phone home. ORT_DISABLE_TELEMETRY=1 switches it off (set here, before the addon loads, unless overridden).
if (process.env.ORT_DISABLE_TELEMETRY === undefined) process.env.ORT_DISABLE_TELEMETRY = '1';
var __slmiaHome = process.env.SLMIA_HOME || require('node:path').dirname(process.execPath);
function __slmiaNative(name) {
  var file = require('node:path').join(__slmiaHome, 'lib', name);
  try {
    return require('node:module').createRequire(process.execPath)(file);
  } catch (err) {
    err.message = 'slmia: cannot load native addon ' + file + ' (' + err.message + ')';
    throw err;
  }
}
var __slmiaImportMetaUrl = require('node:url').pathToFileURL(typeof __filename === 'string' ? __filename : process.execPath).href;
`;

/** Source rewrites: [path regexp, from, to]; a rewrite that no longer matches fails the build. */
const rewrites = [
  [
    /onnxruntime-node[\\/]dist[\\/]binding\.js$/,
    /require\(`\.\.\/bin\/napi-v6\/\$\{process\.platform\}\/\$\{process\.arch\}\/onnxruntime_binding\.node`\)/,
    "__slmiaNative('onnxruntime_binding.node')",
  ],
  [
    /sqlite3[\\/]lib[\\/]sqlite3-binding\.js$/,
    /require\('bindings'\)\('node_sqlite3\.node'\)/,
    "__slmiaNative('node_sqlite3.node')",
  ],
  // node-record-lpcm16 picks its recorder module with a computed require(); make it a static table.
  [
    /node-record-lpcm16[\\/]recorders[\\/]index\.js$/,
    /const recoderPath = path\.resolve\(__dirname, recorderName\)\s*return require\(recoderPath\)/,
    `const table = { arecord: require('./arecord'), rec: require('./rec'), sox: require('./sox') }
    if (Object.prototype.hasOwnProperty.call(table, recorderName)) return table[recorderName]
    throw Object.assign(new Error('no recorder ' + recorderName), { code: 'MODULE_NOT_FOUND' })`,
  ],
];

/** Optional packages the bundle leaves out; requiring them throws MODULE_NOT_FOUND as if not installed. */
const absent = /^(bufferutil|utf-8-validate)$/;

const nativePlugin = {
  name: 'slmia-native',
  setup(b) {
    // ws (mqtt) tries these optional speed-ups in try/catch; a plain external require() would reach the SEA's
    // builtin-only require and print a warning on every start.
    b.onResolve({ filter: absent }, (args) => ({ path: args.path, namespace: 'slmia-absent' }));
    b.onLoad({ filter: /.*/, namespace: 'slmia-absent' }, (args) => ({
      contents: `throw Object.assign(new Error("Cannot find module '${args.path}'"), { code: 'MODULE_NOT_FOUND' });`,
      loader: 'js',
    }));
    for (const [file, from, to] of rewrites) {
      b.onLoad({ filter: file }, async (args) => {
        const text = await readFile(args.path, 'utf8');
        if (!from.test(text))
          throw new Error(`bundle: ${args.path} no longer matches ${from}; update deploy/bundle.mjs`);
        return { contents: text.replace(from, to), loader: 'js' };
      });
    }
  },
};

const result = await build({
  // Same as src/cli.ts, minus its top-level await (CommonJS has none); runCli sets process.exitCode.
  stdin: {
    contents: "import { runCli } from './src/cli/program.js';\nvoid runCli(process.argv);\n",
    resolveDir: root,
    sourcefile: 'sea-entry.ts',
    loader: 'ts',
  },
  outfile: out,
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  define: { 'import.meta.url': '__slmiaImportMetaUrl' },
  banner: { js: banner },
  plugins: [nativePlugin],
  logLevel: 'warning',
  metafile: true,
  legalComments: 'none',
});
// A require() the bundler could not resolve reaches the SEA's builtin-only require at run time and fails
// there; catch new ones at build time. `mod`: web-worker's polyfill, only used inside worker threads.
const allowed = new Set(['mod']);
const builtins = new Set(builtinModules);
const unresolved = new Set();
for (const m of (await readFile(out, 'utf8')).matchAll(/\brequire\(\s*([^)]{0,80}?)\s*\)/g)) {
  const arg = m[1];
  const lit = /^["'`]([^"'`$]+)["'`]$/.exec(arg);
  const name = lit ? lit[1].replace(/^node:/, '') : undefined;
  if (name !== undefined && (builtins.has(name) || builtins.has(name.split('/')[0]) || name === 'sea'))
    continue;
  if (!allowed.has(arg)) unresolved.add(arg);
}
if (unresolved.size) {
  console.error(`bundle: require() calls a single executable cannot serve: ${[...unresolved].join(', ')}`);
  console.error('bundle: add a rewrite to deploy/bundle.mjs (see `rewrites`) or make the import static');
  process.exit(1);
}
const bytes = Object.values(result.metafile.outputs).reduce((n, o) => n + o.bytes, 0);
console.log(`bundle: ${out} (${(bytes / 1e6).toFixed(1)} MB)`);
