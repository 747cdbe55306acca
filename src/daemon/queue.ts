/**
 * The audit queue: the requests table IS the queue. Requests are stored (pending) at intake, before the broker
 * is acknowledged; one worker takes the oldest pending request, audits it and commits its answer in the same
 * transaction that marks it answered. So the queue survives kill -9, restarts need no recovery step bounded by
 * anything, and a request is audited at most once per answer. The bound `maxPending` applies to new requests
 * only (intake answers `busy` beyond it); stored requests are always worked off.
 *
 * A request whose answer cannot be committed (the store is failing) is parked: skipped until the store
 * recovers ({@link RequestQueue.unparkAll}), so the worker never spins on it.
 */
import { SlmiaError } from '../errors.js';
import type { Db } from '../store/db.js';
import { nextPending, pendingCount, type StoredRequest } from '../store/requests.js';

/** The queue is full; the request should be retried later. */
export class BusyError extends SlmiaError {
  constructor(pending: number) {
    super('busy', `busy: ${pending} audit requests are already waiting; retry later`);
  }
}

/** The daemon is stopping and takes no more work. */
export class StoppingError extends SlmiaError {
  constructor() {
    super('stopping', 'the daemon is shutting down; request not audited, resubmit after restart');
  }
}

/** What the worker did with a request. */
export type WorkOutcome = 'answered' | 'parked';

/** Single worker over the stored pending requests. */
export class RequestQueue {
  private pending = 0;
  private running: Promise<void> | undefined;
  private current: number | undefined;
  private closed = false;
  private woken = false;
  private readonly parked = new Set<number>();

  /**
   * @param db the daemon's database (requests table)
   * @param maxPending stored, unanswered requests beyond which intake answers `busy`
   * @param worker audits one request and commits its answer; `parked` when the commit failed
   * @param onError called when the queue itself cannot read the store (it then waits for {@link wake})
   */
  constructor(
    private readonly db: Db,
    private readonly maxPending: number,
    private readonly worker: (req: StoredRequest) => Promise<WorkOutcome>,
    private readonly onError: (err: unknown) => void = () => undefined,
  ) {}

  /** Stored, unanswered requests (the one being audited included), as last counted. */
  get depth(): number {
    return this.pending;
  }

  /** Whether a request is being audited. */
  get busy(): boolean {
    return this.current !== undefined;
  }

  /** Stored requests waiting (not counting the one being audited). */
  get waiting(): number {
    return Math.max(0, this.pending - (this.current !== undefined ? 1 : 0));
  }

  /**
   * Whether intake takes another new request now (fewer than `maxPending` waiting). Also while the daemon stops:
   * a request stored then is audited after the next start (answering it `busy` would make the client resend).
   */
  get canAccept(): boolean {
    return this.waiting < this.maxPending;
  }

  /** Requests skipped until the store recovers. */
  get parkedCount(): number {
    return this.parked.size;
  }

  /** Count the stored pending requests and start working them off. */
  async start(): Promise<void> {
    this.pending = await pendingCount(this.db).catch(() => this.pending);
    this.wake();
  }

  /** A request was stored (intake). */
  added(): void {
    this.pending++;
    this.wake();
  }

  /** Look for work (after intake, after a store recovery). */
  wake(): void {
    if (this.closed) return;
    if (this.running) {
      this.woken = true;
      return;
    }
    this.running = this.drain().finally(() => {
      this.running = undefined;
      if (this.woken) {
        this.woken = false;
        this.wake();
      }
    });
  }

  /** Let parked requests run again (the store takes writes again). */
  unparkAll(): void {
    this.parked.clear();
    this.wake();
  }

  private async drain(): Promise<void> {
    let last: number | undefined;
    while (!this.closed) {
      let req: StoredRequest | undefined;
      try {
        req = await nextPending(this.db, this.parked);
      } catch (err) {
        this.onError(err);
        return;
      }
      if (!req) {
        this.pending = this.parked.size;
        return;
      }
      // A worker that neither answered nor parked would make this loop spin: park it.
      if (req.seq === last) {
        this.parked.add(req.seq);
        continue;
      }
      last = req.seq;
      let outcome: WorkOutcome;
      this.current = req.seq;
      try {
        outcome = await this.worker(req);
      } catch (err) {
        this.onError(err);
        outcome = 'parked';
      } finally {
        this.current = undefined;
      }
      if (outcome === 'parked') this.parked.add(req.seq);
      else this.pending = Math.max(0, this.pending - 1);
    }
  }

  /** Resolves when no request is running and none (unparked) waits. */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  /** Stop taking requests (stored ones stay pending for the next start); waits for the running audit. */
  async close(): Promise<void> {
    this.closed = true;
    await this.running;
  }
}
