/**
 * The CLI loads only the command that runs (issue 12, target 4): building the command tree must not load
 * onnxruntime, SQLite, MQTT or any other package besides commander; each command imports its modules when
 * its action runs. Start-up times themselves are measured in bench/cli-startup.ts, not here.
 */
import test from 'ava';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

/** npm packages (scope/name) whose CommonJS modules are in the module cache. */
function loadedPackages(): string[] {
  const names = new Set<string>();
  for (const file of Object.keys(require.cache)) {
    const m = /node_modules\/((?:@[^/]+\/)?[^/]+)\/(?!.*node_modules\/)/.exec(file);
    if (m) names.add(m[1] as string);
  }
  return [...names].sort();
}

test('building the command tree loads no package but commander', async (t) => {
  const before = new Set(loadedPackages()); // the test runner's own packages
  const { buildProgram } = await import('../src/cli/program.js');
  const program = buildProgram();
  t.deepEqual(program.commands.map((c) => c.name()).sort(), [
    'audit',
    'calibrate',
    'daemon',
    'embed',
    'evaluate',
    'fleet',
    'history',
    'inspect-model',
  ]);
  t.deepEqual(
    loadedPackages().filter((p) => !before.has(p)),
    ['commander'],
  );
});
