/**
 * Delivers the SQLite outbox to the broker: each row is published with QoS 1 and deleted only after its PUBACK.
 * Rows are (re)published whenever the link (re)connects, on {@link OutboxRelay.kick}, and on a slow timer, so
 * broker outages and daemon restarts lose nothing; a redelivered message carries the same transaction id.
 */
import { EventEmitter } from 'node:events';
import type { Db } from '../store/db.js';
import { ackOutbox, outboxSize, pendingOutbox, type OutboxMessage } from '../store/outbox.js';
import type { MqttLink } from './mqtt.js';

/** Options of {@link OutboxRelay}. */
export interface RelayOptions {
  /** Re-scan period, ms (default 5000). */
  intervalMs?: number;
  /**
   * Test hook: keep every row in the outbox without publishing (to kill the daemon between commit and PUBACK).
   * Set by `SLMIA_TEST_HOLD_OUTBOX=1`.
   */
  hold?: boolean;
  /** Called with delivery failures (for logging). */
  onError?: (err: Error, msg: OutboxMessage) => void;
}

/** Events: `delivered` (message, ms from first publish to PUBACK). */
export class OutboxRelay extends EventEmitter<{ delivered: [OutboxMessage, number] }> {
  private inFlight = new Set<number>();
  private timer: NodeJS.Timeout | undefined;
  private scanning: Promise<void> | undefined;
  private again = false;
  private stopped = false;
  private readonly onConnect = (): void => this.kick();

  constructor(
    private readonly db: Db,
    private readonly link: MqttLink,
    private readonly opts: RelayOptions = {},
  ) {
    super();
  }

  /** Start relaying (now, on every connect, and periodically). */
  start(): void {
    this.link.client.on('connect', this.onConnect);
    this.timer = setInterval(() => this.kick(), this.opts.intervalMs ?? 5000);
    this.timer.unref();
    this.kick();
  }

  /** Publish whatever is pending (coalesces concurrent calls). */
  kick(): void {
    if (this.stopped || this.opts.hold) return;
    if (this.scanning) {
      this.again = true;
      return;
    }
    this.scanning = this.scan().finally(() => {
      this.scanning = undefined;
      if (this.again) {
        this.again = false;
        this.kick();
      }
    });
  }

  private async scan(): Promise<void> {
    if (!this.link.connected) return;
    let rows: OutboxMessage[];
    try {
      rows = await pendingOutbox(this.db);
    } catch {
      return;
    }
    for (const m of rows) {
      if (this.inFlight.has(m.id)) continue;
      this.inFlight.add(m.id);
      const t0 = performance.now();
      this.link
        .publishRaw(m.topic, m.payload, { qos: 1, retain: m.retain })
        .then(async () => {
          await ackOutbox(this.db, m.id);
          this.inFlight.delete(m.id);
          this.emit('delivered', m, performance.now() - t0);
        })
        .catch((err: Error) => {
          this.inFlight.delete(m.id);
          this.opts.onError?.(err, m);
        });
    }
  }

  /** Messages still waiting for a PUBACK. */
  size(): Promise<number> {
    return outboxSize(this.db);
  }

  /** Wait until the outbox is empty or `timeoutMs` passes; resolves with the number left. */
  async drain(timeoutMs: number): Promise<number> {
    const end = Date.now() + timeoutMs;
    let left = await this.size();
    while (left > 0 && Date.now() < end && !this.opts.hold) {
      this.kick();
      await new Promise((r) => setTimeout(r, 50));
      left = await this.size();
    }
    return left;
  }

  /** Stop relaying (rows stay in the outbox for the next start). */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.link.client.off('connect', this.onConnect);
    await this.scanning;
  }
}
