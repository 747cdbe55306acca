/**
 * Bridge presence and health: retained `bridge/state` online (offline is the Last Will and is published on
 * shutdown), retained `bridge/info` on every (re)connect, and the periodic `bridge/health` message.
 */
import type { MqttLink } from '../publish/mqtt.js';
import type { BridgeHealth, BridgeInfo } from '../publish/topics.js';
import { lastAudit } from '../store/audits.js';
import type { Db } from '../store/db.js';
import { outboxSize } from '../store/outbox.js';
import type { Logger } from './logger.js';

/** Publishes state and info whenever the link connects. */
export class Bridge {
  private readonly onConnect = (): void => void this.announce();

  constructor(
    private readonly link: MqttLink,
    private readonly info: BridgeInfo,
    private readonly log: Logger,
  ) {}

  start(): void {
    this.link.client.on('connect', this.onConnect);
    if (this.link.connected) void this.announce();
  }

  private async announce(): Promise<void> {
    try {
      await this.link.publish('bridge/state', { state: 'online' }, { retain: true });
      await this.link.publish('bridge/info', this.info, { retain: true });
      this.log.info({ broker: this.link.client.options.host }, 'bridge online');
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'bridge announce failed');
    }
  }

  /** Publish `offline` (retained) if connected; waits for PUBACK at most `timeoutMs`. */
  async stop(timeoutMs = 2000): Promise<void> {
    this.link.client.off('connect', this.onConnect);
    if (!this.link.connected) return;
    await Promise.race([
      this.link.publish('bridge/state', { state: 'offline' }, { retain: true }).catch(() => undefined),
      new Promise((r) => setTimeout(r, timeoutMs)),
    ]);
  }
}

/** Collects the health message. */
export async function healthOf(d: {
  db: Db;
  link: MqttLink;
  startedAt: number;
  queueDepth: number;
  busy: boolean;
}): Promise<BridgeHealth> {
  const last = await lastAudit(d.db);
  const mem = process.memoryUsage();
  return {
    uptime_s: Math.round((Date.now() - d.startedAt) / 1000),
    queue_depth: d.queueDepth,
    busy: d.busy,
    last_audit: last
      ? {
          transaction: last.transaction,
          speaker: last.speaker,
          status: last.status,
          audited_at: last.audited_at,
        }
      : null,
    outbox_size: await outboxSize(d.db),
    process: {
      rss_mb: Math.round((mem.rss / 2 ** 20) * 10) / 10,
      heap_used_mb: Math.round((mem.heapUsed / 2 ** 20) * 10) / 10,
    },
    mqtt: d.link.getStats(),
    at: new Date().toISOString(),
  };
}
