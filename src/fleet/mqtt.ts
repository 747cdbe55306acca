/**
 * The fleet's MQTT client (mqtt.js): connects to one broker (URL, TLS, credentials as the daemon does),
 * subscribes to the configured topic filters (retained hub states replay on every connect: a fleet that
 * restarts, or a hub that comes back, catches up), feeds every message to the {@link Fleet}, and publishes audit
 * requests from the page (QoS 1).
 */
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { credentialOptions } from '../publish/connection.js';
import { AuditRequestSchema, topicOf, type AuditRequest } from '../publish/topics.js';
import type { FleetConfig } from './config.js';
import type { Fleet } from './fleet.js';

/** The fleet's broker connection. */
export interface FleetLink {
  client: MqttClient;
  /** Publish `request` on `<base>/bridge/request/audit` (QoS 1; resolves on PUBACK). */
  requestAudit(base: string, request: AuditRequest): Promise<void>;
  close(): Promise<void>;
}

/** mqtt.js options from the fleet settings. */
export function clientOptions(c: FleetConfig['mqtt']): IClientOptions {
  const o: IClientOptions = {
    clientId: c.client_id,
    clean: true,
    keepalive: c.keepalive,
    reconnectPeriod: c.reconnect_period_ms,
    connectTimeout: 10_000,
    // Subscriptions are made on every connect (below), which also replays the retained hub states.
    resubscribe: false,
  };
  return { ...o, ...credentialOptions(c) };
}

/**
 * Connect and subscribe (asynchronously: mqtt.js keeps reconnecting; the page shows the broker as down).
 * @param onError called for connection errors (once per distinct message)
 */
export function connectFleet(c: FleetConfig['mqtt'], fleet: Fleet, onError: (err: Error) => void): FleetLink {
  const client = mqtt.connect(c.url, clientOptions(c));
  let last = '';
  client.on('error', (err) => {
    if (err.message !== last) onError(err);
    last = err.message;
  });
  client.on('connect', () => {
    last = '';
    (client.stream as { setNoDelay?: (on: boolean) => void }).setNoDelay?.(true);
    // QoS 0: the subscription replays every hub's retained messages at once (200 hubs × 25 speakers ≈ 5,000),
    // and brokers hold at most `max_queued_messages` (Mosquitto: 1000) QoS 1 messages for one client beyond the
    // in-flight window, dropping the rest. QoS 0 goes straight out. With a clean session nothing more is lost:
    // what is published while the fleet is away is gone either way, and the retained states replay on connect.
    client.subscribe(c.topics, { qos: 0 }, (err) => {
      if (err) onError(err);
    });
  });
  client.on('message', (topic, payload, packet) => fleet.handle(topic, payload, packet.retain));
  return {
    client,
    requestAudit: async (base, request) => {
      const checked = AuditRequestSchema.parse(request);
      await client.publishAsync(topicOf(base, 'bridge/request/audit'), JSON.stringify(checked), { qos: 1 });
    },
    close: () => client.endAsync(true),
  };
}
