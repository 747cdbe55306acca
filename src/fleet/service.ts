/**
 * `slmia fleet`: start-up and shutdown of the fleet service. Start: fleet store → in-memory fleet (hubs loaded
 * from the store) → metrics → MQTT subscription (retained hub states replay) → HTTP server (Hono on
 * @hono/node-server) → retention timer. Stop: close live streams, the HTTP server, MQTT, then the store.
 */
import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import { createLogger, type Logger } from '../daemon/logger.js';
import type { FleetConfig } from './config.js';
import { Fleet } from './fleet.js';
import { createMetrics } from './metrics.js';
import { connectFleet, type FleetLink } from './mqtt.js';
import { Reports } from './reports.js';
import { FleetStore } from './store.js';
import { createApp } from './web/app.js';

/** Retention runs at start-up and then this often, ms. */
const PRUNE_MS = 10 * 60_000;

/** A running fleet service. */
export interface FleetService {
  config: FleetConfig;
  fleet: Fleet;
  store: FleetStore;
  link: FleetLink;
  /** The page's URL (`http://host:port`). */
  url: string;
  port: number;
  /** Stop (idempotent). */
  stop(): Promise<void>;
}

/**
 * Start the fleet service.
 * @throws StoreError when the store cannot be opened; an Error with code EADDRINUSE when the port is taken
 */
export async function startFleet(config: FleetConfig, opts: { log?: Logger } = {}): Promise<FleetService> {
  const log = opts.log ?? createLogger(config.log_level);
  const store = await FleetStore.open(config.data_dir);
  const metrics = createMetrics();
  const fleet = new Fleet(store, {
    healthSampleS: config.retention.health_sample_s,
    counters: metrics.counters,
  });
  let link: FleetLink | undefined;
  let server: ServerType | undefined;
  const streams = new Set<() => void>();
  try {
    await fleet.load();
    metrics.observe(fleet);
    link = connectFleet(config.mqtt, fleet, (err) => log.warn({ err: err.message }, 'mqtt error'));
    link.client.on('connect', () =>
      log.info({ url: config.mqtt.url, topics: config.mqtt.topics }, 'subscribed'),
    );
    const app = createApp({
      config,
      fleet,
      link,
      reports: new Reports(config.reports_dir),
      metrics,
      onStream: (end) => {
        streams.add(end);
        return () => streams.delete(end);
      },
    });
    const s = serve({ fetch: app.fetch, hostname: config.http.host, port: config.http.port });
    server = s;
    await new Promise<void>((res, rej) => {
      s.once('listening', res);
      s.once('error', rej);
    });
    const port = (s.address() as AddressInfo).port;
    const host = config.http.host.includes(':') ? `[${config.http.host}]` : config.http.host;
    const url = `http://${host}:${port}`;
    const prune = (): void => {
      store
        .prune(config.retention, config.audit.timeout_s)
        .then((n) => log.debug(n, 'retention'))
        .catch((err: Error) => log.warn({ err: err.message }, 'retention failed'));
    };
    prune();
    const pruner = setInterval(prune, PRUNE_MS);
    pruner.unref();
    log.info(
      { url, mqtt: config.mqtt.url, topics: config.mqtt.topics, hubs: fleet.hubs.size },
      'fleet started',
    );
    const l = link;
    let stopping: Promise<void> | undefined;
    return {
      config,
      fleet,
      store,
      link: l,
      url,
      port,
      stop: () =>
        (stopping ??= (async () => {
          clearInterval(pruner);
          for (const end of streams) end();
          await new Promise<void>((res) => {
            s.close(() => res());
            (s as { closeAllConnections?: () => void }).closeAllConnections?.();
          });
          await l.close();
          await store.close();
          log.info('fleet stopped');
        })()),
    };
  } catch (err) {
    for (const end of streams) end();
    if (server) await new Promise((res) => server?.close(res));
    await link?.close().catch(() => undefined);
    await store.close().catch(() => undefined);
    throw err;
  }
}
