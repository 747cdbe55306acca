/**
 * The `slmia` program: builds the commander tree from one module per command and maps errors to exit codes
 * (2 = bad input named in the message, 1 = anything else).
 */
import { Command } from 'commander';
import { SlmiaError } from '../errors.js';
import { version } from '../version.js';
import { registerAudit } from './audit.js';
import { registerCalibrate } from './calibrate.js';
import { registerDaemon } from './daemon.js';
import { registerEvaluate } from './evaluate.js';
import { registerEmbed } from './embed.js';
import { registerFleet } from './fleet.js';
import { registerHistory } from './history.js';
import { registerInspectModel } from './inspect-model.js';

/** Build the command tree (exported for tests). */
export function buildProgram(): Command {
  const program = new Command('slmia')
    .description('SLMIA-SR speaker-level membership inference auditor for on-device speaker models')
    .version(version)
    .showHelpAfterError();
  registerEmbed(program);
  registerInspectModel(program);
  registerDaemon(program);
  registerHistory(program);
  registerCalibrate(program);
  registerEvaluate(program);
  registerAudit(program);
  registerFleet(program);
  return program;
}

/** Parse argv and run; prints errors as `slmia: <message>` on stderr and sets the exit code. */
export async function runCli(argv: string[]): Promise<void> {
  try {
    await buildProgram().parseAsync(argv);
  } catch (err) {
    if (err instanceof SlmiaError) {
      process.stderr.write(`slmia: ${err.message}\n`);
      process.exitCode = 2;
    } else {
      process.stderr.write(`slmia: ${(err as Error).stack ?? String(err)}\n`);
      process.exitCode = 1;
    }
  }
}
