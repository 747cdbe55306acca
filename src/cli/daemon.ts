/**
 * `slmia daemon`: the long-running edge auditing service (src/daemon/). `--demo` starts it, sends audit
 * requests over MQTT as any client would, prints the verdicts it receives and stops (what `make run` does).
 */
import type { Command } from 'commander';
import type { Daemon } from '../daemon/controller.js';

interface DaemonCliOptions {
  config?: string;
  printConfig?: boolean;
  demo?: boolean;
  speaker?: string;
  timeout: string;
}

export function registerDaemon(program: Command): void {
  program
    .command('daemon')
    .description(
      'run the edge auditing daemon: MQTT requests, spool folder and microphone in; verdicts in SQLite and over MQTT out',
    )
    .option(
      '-c, --config <config.yaml>',
      'settings file (default: built-in defaults, embedded broker on 127.0.0.1:1883)',
    )
    .option('--print-config', 'print the validated settings as JSON and exit')
    .option('--demo', 'start, audit the shipped demo set (demo/) via MQTT requests, print the verdicts, stop')
    .option('--speaker <id>', 'speaker id for --demo with audio paths (default: demo)')
    .option('--timeout <s>', '--demo: seconds to wait for the verdict', '300')
    .argument(
      '[audio...]',
      '--demo: audio files/folders to audit (default: the demo set in demo/, a member and a non-member)',
    )
    .action(async (audio: string[], opts: DaemonCliOptions) => {
      const { loadConfig } = await import('../daemon/config.js');
      const config = loadConfig(opts.config);
      if (opts.printConfig) {
        process.stdout.write(
          `${JSON.stringify(
            {
              ...config,
              mqtt: {
                ...config.mqtt,
                password: config.mqtt.password ? '***' : undefined,
                embedded: {
                  ...config.mqtt.embedded,
                  users: config.mqtt.embedded.users.map((u) => ({ ...u, password: '***' })),
                },
              },
            },
            null,
            2,
          )}\n`,
        );
        return;
      }
      if (opts.demo) return (await import('./daemon-demo.js')).demo(config, audio, opts);
      const { startDaemon } = await import('../daemon/controller.js');
      const { captureConsole, createLogger } = await import('../daemon/logger.js');
      const log = createLogger(config.log_level);
      captureConsole(log); // library console output joins the JSON log
      await untilSignal(startDaemon(config, { log }));
    });
}

/**
 * Run until SIGTERM/SIGINT, then stop gracefully (a second signal exits at once). The handlers are installed
 * before start-up, so a signal during start-up stops the daemon as soon as it is up.
 */
async function untilSignal(starting: Promise<Daemon>): Promise<void> {
  let count = 0;
  let signalled!: (sig: NodeJS.Signals) => void;
  const signal = new Promise<NodeJS.Signals>((r) => (signalled = r));
  const onSignal = (sig: NodeJS.Signals): void => {
    if (++count > 1) process.exit(130);
    signalled(sig);
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  const daemon = await starting;
  const sig = await signal;
  process.stderr.write(`slmia: ${sig}, stopping\n`);
  await daemon.stop().catch((err: unknown) => {
    process.stderr.write(`slmia: stop failed: ${String(err)}\n`);
    process.exitCode = 1;
  });
}
