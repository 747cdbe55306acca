/**
 * Store health: a storage fault (disk full, read-only file system, damaged database, I/O error) puts the
 * daemon into a `degraded` state that `bridge/health` reports at once and until it clears; requests meanwhile
 * get typed `store.*` answers. While degraded, a probe write runs every `probeMs`; the first write that
 * succeeds (probe or real) clears the state and calls `onRecovered` (parked requests run again).
 */
import { EventEmitter } from 'node:events';
import type { HealthProblem } from '../publish/topics.js';
import type { Db, StoreError } from '../store/db.js';
import { probeWrite } from '../store/requests.js';
import type { Logger } from './logger.js';

/** Tracks problems the daemon is living with; emits `change` when the status flips. */
export class HealthMonitor extends EventEmitter<{ change: [] }> {
  private readonly problems = new Map<string, HealthProblem>();
  private probe: NodeJS.Timeout | undefined;
  private readonly onFault = (err: StoreError): void => this.storeFault(err);
  private readonly onOk = (): void => this.storeRecovered();

  constructor(
    private readonly db: Db,
    private readonly log: Logger,
    private readonly o: { probeMs?: number; onRecovered?: () => void } = {},
  ) {
    super();
    db.on('fault', this.onFault);
    db.on('recovered', this.onOk);
    if (db.fault) this.storeFault(db.fault);
  }

  get status(): 'ok' | 'degraded' {
    return this.problems.size > 0 ? 'degraded' : 'ok';
  }

  /** Current problems, oldest first. */
  list(): HealthProblem[] {
    return [...this.problems.values()];
  }

  private storeFault(err: StoreError): void {
    const had = this.problems.get('store');
    if (had?.code === err.code) return;
    this.problems.set('store', {
      code: err.code,
      message: err.message.slice(0, 300),
      since: had?.since ?? new Date().toISOString(),
    });
    this.log.error(
      { code: err.code, err: err.message },
      'store fault: daemon degraded; requests get typed store errors',
    );
    this.probe ??= setInterval(() => void this.probeOnce(), this.o.probeMs ?? 2000);
    this.probe.unref();
    this.emit('change');
  }

  private async probeOnce(): Promise<void> {
    if (!this.db.isOpen && !(await this.db.reopen())) return;
    await probeWrite(this.db).catch(() => undefined);
  }

  private storeRecovered(): void {
    if (!this.problems.delete('store')) return;
    if (this.probe) clearInterval(this.probe);
    this.probe = undefined;
    this.log.info('store takes writes again: daemon healthy');
    this.o.onRecovered?.();
    this.emit('change');
  }

  /** Stop probing and listening. */
  close(): void {
    if (this.probe) clearInterval(this.probe);
    this.db.off('fault', this.onFault);
    this.db.off('recovered', this.onOk);
  }
}
