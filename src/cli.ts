#!/usr/bin/env node
/**
 * `slmia` command-line entry point. Commands live in src/cli/, one file each.
 */
import { runCli } from './cli/program.js';

await runCli(process.argv);
