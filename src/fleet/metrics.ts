/**
 * Prometheus metrics of the fleet (prom-client), scraped from `/metrics`. Names follow the Prometheus
 * conventions `<namespace>_<what>_<unit>` in base units, counters end in `_total`, and labels are bounded sets
 * only: `hub` (the hub's base topic), `verdict`, `state` — never speaker ids.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Fleet, FleetCounters, HubView } from './fleet.js';

/** Metric name prefix. */
export const NAMESPACE = 'slmia_fleet';

/** A registry with the fleet's metrics; `counters` is what {@link Fleet} feeds. */
export interface FleetMetrics {
  registry: Registry;
  counters: FleetCounters;
  /** Attach the hub gauges to a fleet (they read its in-memory hubs at scrape time). */
  observe(fleet: Fleet): void;
}

/** Build the registry (one per service; process metrics included). */
export function createMetrics(): FleetMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: `${NAMESPACE}_` });
  const audits = new Counter({
    name: `${NAMESPACE}_audits_total`,
    help: 'Audit responses seen on the hubs, by verdict (member, non-member, inconclusive) or error.',
    labelNames: ['hub', 'verdict'],
    registers: [registry],
  });
  const duration = new Histogram({
    name: `${NAMESPACE}_audit_duration_seconds`,
    help: 'Audit wall time on the hub, from its queued event to its done event (hub clock).',
    buckets: [0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300],
    registers: [registry],
  });
  const messages = new Counter({
    name: `${NAMESPACE}_mqtt_messages_total`,
    help: 'MQTT messages received, by whether they matched the contract (accepted) or were ignored.',
    labelNames: ['result'],
    registers: [registry],
  });
  let fleet: Fleet | undefined;
  const hubGauge = (what: string, help: string, value: (h: HubView) => number | undefined): Gauge<'hub'> =>
    new Gauge({
      name: `${NAMESPACE}_hub_${what}`,
      help,
      labelNames: ['hub'],
      registers: [registry],
      collect() {
        this.reset();
        for (const h of fleet?.hubs.values() ?? []) {
          const v = value(h);
          if (v !== undefined && Number.isFinite(v)) this.set({ hub: h.base }, v);
        }
      },
    });
  hubGauge('up', '1 when the hub is online (bridge/state), 0 when offline.', (h) =>
    h.state === null ? undefined : h.state === 'online' ? 1 : 0,
  );
  hubGauge('queue_requests', 'Audit requests waiting on the hub (last health message).', (h) =>
    h.state === 'online' ? h.health?.queue_depth : undefined,
  );
  hubGauge('outbox_messages', 'Messages in the hub outbox not yet acknowledged by the broker.', (h) =>
    h.state === 'online' ? h.health?.outbox_size : undefined,
  );
  hubGauge('resident_memory_bytes', 'Resident memory of the hub daemon (last health message).', (h) =>
    h.state === 'online' && h.health?.process?.rss_mb !== undefined
      ? h.health.process.rss_mb * 2 ** 20
      : undefined,
  );
  hubGauge('uptime_seconds', 'Uptime of the hub daemon (last health message).', (h) =>
    h.state === 'online' ? h.health?.uptime_s : undefined,
  );
  hubGauge('speakers', 'Speakers with a verdict on the hub.', (h) => h.speakers);
  hubGauge(
    'degraded',
    '1 when the hub reports a degraded health status (e.g. its store refuses writes).',
    (h) =>
      h.state === 'online' && h.health
        ? Number((h.health.status ?? h.health.state ?? 'ok') !== 'ok')
        : undefined,
  );
  new Gauge({
    name: `${NAMESPACE}_hubs`,
    help: 'Hubs known to the fleet, by state (online, offline, unknown).',
    labelNames: ['state'],
    registers: [registry],
    collect() {
      const n = { online: 0, offline: 0, unknown: 0 };
      for (const h of fleet?.hubs.values() ?? []) n[h.state ?? 'unknown']++;
      for (const [state, v] of Object.entries(n)) this.set({ state }, v);
    },
  });
  return {
    registry,
    counters: {
      response: (hub, verdict) => audits.inc({ hub, verdict }),
      duration: (s) => {
        if (Number.isFinite(s) && s >= 0) duration.observe(s);
      },
      message: (ok) => messages.inc({ result: ok ? 'accepted' : 'ignored' }),
    },
    observe: (f) => {
      fleet = f;
    },
  };
}
