/**
 * Bounded FIFO of audit jobs with one worker: audits run one at a time (the model uses every core), at most
 * `maxPending` wait; beyond that {@link AuditQueue.push} throws a {@link BusyError} the caller answers with.
 */
import { SlmiaError } from '../errors.js';

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

/** A single-worker bounded job queue. */
export class AuditQueue<J> {
  private pending: J[] = [];
  private running: Promise<void> | undefined;
  private closed = false;

  /**
   * @param maxPending jobs allowed to wait while one runs
   * @param worker runs one job; its rejections are the worker's to report (they are swallowed here)
   */
  constructor(
    private readonly maxPending: number,
    private readonly worker: (job: J) => Promise<void>,
  ) {}

  /** Waiting jobs (not counting the running one). */
  get depth(): number {
    return this.pending.length;
  }

  /** Whether a job is running. */
  get busy(): boolean {
    return this.running !== undefined;
  }

  /** Whether another job would be accepted now. */
  get canAccept(): boolean {
    return !this.closed && this.pending.length < this.maxPending;
  }

  /**
   * Enqueue a job (runs at once when idle).
   * @throws BusyError when `maxPending` jobs already wait; StoppingError after {@link close}
   */
  push(job: J): void {
    if (this.closed) throw new StoppingError();
    if (this.pending.length >= this.maxPending) throw new BusyError(this.pending.length);
    this.pending.push(job);
    this.pump();
  }

  private pump(): void {
    if (this.running || this.closed) return;
    const job = this.pending.shift();
    if (job === undefined) return;
    this.running = this.worker(job)
      .catch(() => undefined)
      .finally(() => {
        this.running = undefined;
        this.pump();
      });
  }

  /** Resolves when no job is running and none waits. */
  async idle(): Promise<void> {
    while (this.running || (this.pending.length > 0 && !this.closed)) await this.running;
  }

  /**
   * Stop taking jobs: waits for the running job to finish and returns the jobs that never started.
   */
  async close(): Promise<J[]> {
    this.closed = true;
    const left = this.pending;
    this.pending = [];
    await this.running;
    return left;
  }
}
