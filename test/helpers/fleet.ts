/**
 * Test helpers for the fleet service: a fleet on a free port and a temp store, a hub stand-in that publishes the
 * contract's messages (src/publish/topics.ts) like a daemon would, and polling.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { parseFleetConfig, type FleetConfig, type FleetConfigInput } from '../../src/fleet/config.js';
import { startFleet, type FleetService } from '../../src/fleet/service.js';
import { projectRoot } from '../../src/paths.js';
import type { BridgeHealth, BridgeInfo } from '../../src/publish/topics.js';

/** Id of the committed default attack bundle (first 16 hex of its SHA-256): the one its evaluation report names. */
export const DEFAULT_ATTACK_ID = createHash('sha256')
  .update(readFileSync(join(projectRoot, 'models', 'attack', 'tdnn-ce', 'attack.json')))
  .digest('hex')
  .slice(0, 16);

/** Fleet settings on a fresh temp data dir, port 0, silent logs, merged with `over`. */
export function fleetTestConfig(url: string, over: FleetConfigInput = {}): FleetConfig {
  return parseFleetConfig(
    {
      data_dir: mkdtempSync(join(tmpdir(), 'slmia-fleet-')),
      log_level: 'silent',
      ...over,
      http: { port: 0, ...over.http },
      mqtt: { url, reconnect_period_ms: 200, topics: ['slmia/#', 't1/#'], ...over.mqtt },
    },
    '<test>',
    projectRoot,
    {},
  );
}

/** Start a fleet service (see {@link fleetTestConfig}). */
export async function startTestFleet(url: string, over: FleetConfigInput = {}): Promise<FleetService> {
  return startFleet(fleetTestConfig(url, over));
}

/** Poll `fn` until it returns a truthy value (or throw after `ms`). */
export async function until<T>(
  fn: () => T | Promise<T>,
  ms = 10_000,
  what = 'condition',
): Promise<NonNullable<T>> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v as NonNullable<T>;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A hub's bridge/info as a daemon publishes it. */
export function hubInfo(deviceId: string, base: string): BridgeInfo {
  return {
    version: '0.1.0',
    device_id: deviceId,
    model: {
      name: 'tdnn-ce-target',
      architecture: 'tdnn-ce',
      sha256: '2462b48fc6c40a5af606be59f03dcb3f1fb37d85433b11d6dcde754dbd5c637a',
      sample_rate: 16000,
      path: '/opt/slmia/models/tdnn-ce-target/model.json',
    },
    attack: { id: DEFAULT_ATTACK_ID, path: '/opt/slmia/models/attack/tdnn-ce/attack.json' },
    config: { base_topic: base, broker: 'mqtt://broker:1883', tls: false, health_interval_s: 60 },
    limits: {
      max_files: 200,
      max_seconds: 600,
      max_audio_bytes: 64 * 2 ** 20,
      max_payload_bytes: 256 * 1024,
      max_pending: 8,
      max_field_chars: 128,
    },
  };
}

/** A hub's bridge/health. */
export function hubHealth(over: Partial<BridgeHealth> = {}): BridgeHealth {
  return {
    status: 'ok',
    problems: [],
    uptime_s: 3600,
    pending_requests: 3,
    queue_depth: 2,
    busy: true,
    last_audit: null,
    outbox_size: 1,
    process: { rss_mb: 123.4, heap_used_mb: 40 },
    mqtt: { connected: true, published: 10, received: 3, reconnects: 0 },
    at: new Date().toISOString(),
    ...over,
  };
}

/** A stand-in hub: an MQTT client with the daemon's Last Will on `<base>/bridge/state`. */
export async function connectHub(url: string, base: string): Promise<MqttClient> {
  return mqtt.connectAsync(url, {
    clientId: `hub-${base.replace(/\//g, '-')}-${process.pid}`,
    reconnectPeriod: 0,
    will: {
      topic: `${base}/bridge/state`,
      payload: Buffer.from('{"state":"offline"}'),
      qos: 1,
      retain: true,
    },
  });
}

/** Publish JSON (QoS 1). */
export async function pub(c: MqttClient, topic: string, payload: unknown, retain = false): Promise<void> {
  await c.publishAsync(topic, JSON.stringify(payload), { qos: 1, retain });
}
