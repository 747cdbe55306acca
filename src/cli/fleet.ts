/**
 * `slmia fleet`: the fleet dashboard service (src/fleet/). `--with-daemon` also starts a hub daemon on its
 * embedded defaults in the same process, so one command shows a live fleet of one (what `make fleet` does).
 */
import type { Command } from 'commander';
import type { Daemon } from '../daemon/controller.js';
import type { FleetService } from '../fleet/service.js';

interface FleetCliOptions {
  config?: string;
  printConfig?: boolean;
  withDaemon?: boolean;
  daemonConfig?: string;
}

export function registerFleet(program: Command): void {
  program
    .command('fleet')
    .description(
      'run the fleet dashboard: subscribe to every hub under an MQTT broker, keep a fleet store, serve the web page and /metrics',
    )
    .option(
      '-c, --config <fleet.yaml>',
      'settings file (default: http://127.0.0.1:8080, broker mqtt://127.0.0.1:1883)',
    )
    .option('--print-config', 'print the validated settings as JSON and exit')
    .option('--with-daemon', 'also start a hub daemon (embedded broker) in this process and watch it')
    .option('--daemon-config <config.yaml>', '--with-daemon: the daemon settings file')
    .action(async (opts: FleetCliOptions) => {
      // Heavy modules load only when the command runs (the CLI starts fast).
      const { loadFleetConfig } = await import('../fleet/config.js');
      const config = loadFleetConfig(opts.config);
      if (opts.printConfig) {
        const secret = (v?: string) => (v ? '***' : undefined);
        process.stdout.write(
          `${JSON.stringify(
            {
              ...config,
              mqtt: { ...config.mqtt, password: secret(config.mqtt.password) },
              http: {
                ...config.http,
                token: secret(config.http.token),
                password: secret(config.http.password),
              },
            },
            null,
            2,
          )}\n`,
        );
        return;
      }
      const { createLogger } = await import('../daemon/logger.js');
      let daemon: Daemon | undefined;
      if (opts.withDaemon) {
        const { loadConfig } = await import('../daemon/config.js');
        const { startDaemon } = await import('../daemon/controller.js');
        const dc = loadConfig(opts.daemonConfig);
        process.stdout.write(`starting the hub daemon (model ${dc.model}, attack ${dc.attack})…\n`);
        daemon = await startDaemon(dc, { log: createLogger(process.env.SLMIA_LOG_LEVEL ?? 'warn') });
        const url = dc.mqtt.url ?? daemon.broker?.url;
        if (url && !opts.config) config.mqtt.url = url;
        process.stdout.write(`hub daemon "${dc.device_id}" on ${url}, base topic "${dc.mqtt.base_topic}"\n`);
      }
      const { startFleet } = await import('../fleet/service.js');
      let fleet: FleetService;
      try {
        fleet = await startFleet(config, { log: createLogger(config.log_level) });
      } catch (err) {
        await daemon?.stop();
        throw err;
      }
      process.stdout.write(`fleet dashboard: ${fleet.url}/  (metrics: ${fleet.url}/metrics; Ctrl-C stops)\n`);
      await untilSignal(async () => {
        await fleet.stop();
        await daemon?.stop();
      });
    });
}

/** Run until SIGTERM/SIGINT, then `stop` (a second signal exits at once). */
function untilSignal(stop: () => Promise<void>): Promise<void> {
  return new Promise((res) => {
    let signals = 0;
    const on = (sig: NodeJS.Signals): void => {
      if (++signals > 1) process.exit(130);
      process.stderr.write(`slmia fleet: ${sig}, stopping\n`);
      stop().then(res, (err: unknown) => {
        process.stderr.write(`slmia fleet: stop failed: ${String(err)}\n`);
        process.exitCode = 1;
        res();
      });
    };
    process.on('SIGTERM', on);
    process.on('SIGINT', on);
  });
}
