#!/usr/bin/env node
/**
 * `slmia` command-line entry point. Commands live in src/cli/, one file each.
 *
 * ONNX Runtime ≥ 1.2x on Linux starts a telemetry client unless ORT_DISABLE_TELEMETRY is set; an auditor that
 * promises never to send anything off the device switches it off before the addon loads (hence the dynamic
 * import). The release bundle (deploy/bundle.mjs) does the same in its own entry.
 */
process.env.ORT_DISABLE_TELEMETRY ??= '1';
const { runCli } = await import('./cli/program.js');

await runCli(process.argv);
