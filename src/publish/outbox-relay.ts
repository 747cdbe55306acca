/**
 * Delivers the SQLite outbox to the broker, at least once: each row is published with QoS 1 and deleted only
 * after its PUBACK. At most `window` rows are unacknowledged-or-undeleted at a time, and PUBACKed rows are
 * deleted in one statement per burst, so a kill -9 during a flush re-sends at most `window` messages (every
 * message carries its transaction id, so consumers can drop the repeat). Rows are (re)published whenever the
 * link (re)connects, on {@link OutboxRelay.kick}, and on a slow timer, so broker outages and daemon restarts
 * lose nothing.
 */
import { EventEmitter } from 'node:events';
import type { Db } from '../store/db.js';
import { ackOutboxMany, outboxSize, pendingOutbox, type OutboxMessage } from '../store/outbox.js';
import type { MqttLink } from './mqtt.js';

/** Options of {@link OutboxRelay}. */
export interface RelayOptions {
  /** Re-scan period, ms (default 5000). */
  intervalMs?: number;
  /** Messages published but not yet deleted, at most (default 8): the bound on duplicates after a crash. */
  window?: number;
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
  private readonly inFlight = new Set<number>();
  private readonly window: number;
  private acked: { m: OutboxMessage; ms: number }[] = [];
  private flushing: Promise<void> | undefined;
  private slotWaiters: (() => void)[] = [];
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
    this.window = Math.max(1, opts.window ?? 8);
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

  private freeSlot(): Promise<void> {
    if (this.inFlight.size < this.window) return Promise.resolve();
    return new Promise((r) => this.slotWaiters.push(r));
  }

  private release(id: number): void {
    this.inFlight.delete(id);
    const w = this.slotWaiters.shift();
    w?.();
  }

  private async scan(): Promise<void> {
    const failed = new Set<number>();
    for (;;) {
      if (!this.link.connected || this.stopped) return;
      let rows: OutboxMessage[];
      try {
        rows = await pendingOutbox(this.db, 4 * this.window);
      } catch {
        return; // the store is failing; the timer or the next kick retries
      }
      const fresh = rows.filter((m) => !this.inFlight.has(m.id) && !failed.has(m.id));
      if (fresh.length === 0) return;
      for (const m of fresh) {
        await this.freeSlot();
        if (!this.link.connected || this.stopped) return;
        this.send(m, failed);
      }
    }
  }

  private send(m: OutboxMessage, failed: Set<number>): void {
    this.inFlight.add(m.id);
    const t0 = performance.now();
    this.link.publishRaw(m.topic, m.payload, { qos: 1, retain: m.retain }).then(
      () => {
        this.acked.push({ m, ms: performance.now() - t0 });
        this.flushAcks();
      },
      (err: Error) => {
        failed.add(m.id);
        this.release(m.id);
        this.opts.onError?.(err, m);
      },
    );
  }

  /** Delete every PUBACKed row in one statement (one burst at a time); rows leave the window after it. */
  private flushAcks(): void {
    if (this.flushing) return;
    this.flushing = (async () => {
      while (this.acked.length > 0) {
        const batch = this.acked;
        this.acked = [];
        try {
          await ackOutboxMany(
            this.db,
            batch.map((a) => a.m.id),
          );
        } catch {
          // The row stays and is sent again later: a duplicate, never a loss.
        }
        for (const a of batch) {
          this.release(a.m.id);
          this.emit('delivered', a.m, a.ms);
        }
      }
    })().finally(() => (this.flushing = undefined));
  }

  /** Messages still waiting for a PUBACK. */
  size(): Promise<number> {
    return outboxSize(this.db);
  }

  /** Wait until the outbox is empty or `timeoutMs` passes; resolves with the number left. */
  async drain(timeoutMs: number): Promise<number> {
    const end = Date.now() + timeoutMs;
    let left = await this.size().catch(() => -1);
    while (left !== 0 && Date.now() < end && !this.opts.hold) {
      this.kick();
      await new Promise((r) => setTimeout(r, 50));
      left = await this.size().catch(() => -1);
    }
    return left;
  }

  /** Stop relaying (rows stay in the outbox for the next start). */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.link.client.off('connect', this.onConnect);
    for (const w of this.slotWaiters.splice(0)) w();
    await this.scanning;
    await this.flushing;
  }
}
