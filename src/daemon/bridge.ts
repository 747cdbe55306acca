/**
 * Bridge presence and health: retained `bridge/state` online (offline is the Last Will and is published on
 * shutdown), retained `bridge/info` on every (re)connect, and the periodic `bridge/health` message.
 */
import type { MqttLink } from '../publish/mqtt.js';
import type { BridgeHealth, BridgeInfo } from '../publish/topics.js';
import { lastAudit } from '../store/audits.js';
import type { Db } from '../store/db.js';
import { outboxSize } from '../store/outbox.js';
import type { HealthMonitor } from './health.js';
import type { Logger } from './logger.js';

/** Publishes state and info whenever the link connects. */
export class Bridge {
  private readonly onConnect = (): void => void this.announce();
  private announced!: () => void;
  /** Resolves after the first announce (state online + info) was acknowledged or failed. */
  readonly ready = new Promise<void>((r) => (this.announced = r));

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
    } finally {
      this.announced();
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

/**
 * Collects the health message (store reads that fail give null / -1, never an exception). The queue state is
 * read after the store reads, so it is never older than the last audit reported.
 */
export async function healthOf(d: {
  db: Db;
  link: MqttLink;
  startedAt: number;
  queue: { depth: number; waiting: number; busy: boolean };
  health: HealthMonitor;
}): Promise<BridgeHealth> {
  const last = await lastAudit(d.db).catch(() => undefined);
  const outbox = await outboxSize(d.db).catch(() => -1);
  const mem = process.memoryUsage();
  return {
    status: d.health.status,
    problems: d.health.list(),
    uptime_s: Math.round((Date.now() - d.startedAt) / 1000),
    pending_requests: d.queue.depth,
    queue_depth: d.queue.waiting,
    busy: d.queue.busy,
    last_audit: last
      ? {
          transaction: last.transaction,
          speaker: last.speaker,
          status: last.status,
          audited_at: last.audited_at,
        }
      : null,
    outbox_size: outbox,
    process: {
      rss_mb: Math.round((mem.rss / 2 ** 20) * 10) / 10,
      heap_used_mb: Math.round((mem.heapUsed / 2 ** 20) * 10) / 10,
    },
    mqtt: d.link.getStats(),
    at: new Date().toISOString(),
  };
}
