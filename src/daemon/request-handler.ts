/**
 * `<base>/bridge/request/audit`: parse and validate each request, then queue it. Anything wrong — malformed
 * JSON, schema violations, a bad speaker id, too many utterances, a full queue — is answered at once on
 * `<base>/bridge/response/audit` with `status: "error"` (and stored as an error audit).
 */
import { SlmiaError } from '../errors.js';
import { AuditRequestSchema, TransactionId, topicOf } from '../publish/topics.js';
import type { MqttLink } from '../publish/mqtt.js';
import type { AuditService } from './audit-service.js';
import { describeError } from './audit-service.js';
import { SPEAKER_ID, type DaemonConfig } from './config.js';
import { newTransactionId, type AuditJob } from './jobs.js';
import type { Logger } from './logger.js';
import type { AuditQueue } from './queue.js';

/** A request that cannot be audited as sent. */
export class RequestError extends SlmiaError {
  constructor(detail: string) {
    super('request.invalid', detail);
  }
}

/**
 * Validate a raw request payload into a job.
 * @throws RequestError naming the field at fault
 */
export function parseAuditRequest(
  payload: Buffer | string,
  config: DaemonConfig,
  now = new Date(),
): AuditJob {
  let raw: unknown;
  try {
    raw = JSON.parse(payload.toString());
  } catch (err) {
    throw new RequestError(`malformed request JSON (${(err as Error).message})`);
  }
  const parsed = AuditRequestSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = issue?.path.join('.') ?? '';
    throw new RequestError(`${field ? `field "${field}": ` : ''}${issue?.message ?? 'invalid request'}`);
  }
  const r = parsed.data;
  if (!SPEAKER_ID.test(r.speaker)) {
    throw new RequestError(
      `field "speaker": "${r.speaker}" must be 1-64 letters, digits, _ . - (and not "bridge")`,
    );
  }
  if (r.record) {
    const m = config.microphone;
    if (r.record.utterances > m.max_utterances)
      throw new RequestError(`field "record.utterances": at most ${m.max_utterances}`);
    if (r.record.seconds > m.max_seconds)
      throw new RequestError(`field "record.seconds": at most ${m.max_seconds}`);
  }
  return {
    transaction: r.transaction ?? newTransactionId(config.device_id),
    source: 'mqtt',
    speaker: r.speaker,
    input: r.files
      ? { kind: 'files', paths: r.files }
      : { kind: 'record', ...(r.record as { utterances: number; seconds: number }) },
    requestedAt: now.toISOString(),
  };
}

/** The best-effort transaction id of a request that failed validation (for the error response). */
function transactionOf(payload: Buffer): string | number | null {
  try {
    const t = (JSON.parse(payload.toString()) as { transaction?: unknown }).transaction;
    return TransactionId.safeParse(t).success ? (t as string | number) : null;
  } catch {
    return null;
  }
}

/** Subscribes to audit requests and feeds the queue. */
export class RequestHandler {
  private readonly topic: string;
  private active = false;
  private readonly onMessage = (topic: string, payload: Buffer): void => {
    if (topic === this.topic && this.active) void this.handle(payload);
  };

  constructor(
    private readonly d: {
      config: DaemonConfig;
      link: MqttLink;
      queue: AuditQueue<AuditJob>;
      service: AuditService;
      log: Logger;
    },
  ) {
    this.topic = topicOf(d.config.mqtt.base_topic, 'bridge/request/audit');
  }

  /**
   * Subscribe (QoS 1; mqtt.js resubscribes after reconnects). Waits for the SUBACK when connected; while the
   * broker is unreachable mqtt.js holds the SUBSCRIBE until it connects, and start-up does not wait for that.
   */
  async start(): Promise<void> {
    this.active = true;
    this.d.link.client.on('message', this.onMessage);
    const sub = this.d.link.client.subscribeAsync(this.topic, { qos: 1 }).catch((err: Error) => {
      this.d.log.warn({ err: err.message, topic: this.topic }, 'subscribe failed');
    });
    if (this.d.link.connected) await sub;
  }

  /** Handle one request payload (exported path for tests and the CLI). */
  async handle(payload: Buffer): Promise<void> {
    const now = new Date();
    let job: AuditJob;
    try {
      job = parseAuditRequest(payload, this.d.config, now);
    } catch (err) {
      const transaction = transactionOf(payload);
      await this.reject(
        {
          transaction: transaction ?? '',
          source: 'mqtt',
          speaker: '',
          input: { kind: 'files', paths: [] },
          requestedAt: now.toISOString(),
        },
        err,
        transaction,
      );
      return;
    }
    try {
      this.d.queue.push(job);
      this.d.log.info(
        {
          transaction: job.transaction,
          speaker: job.speaker,
          input: job.input.kind,
          queue_depth: this.d.queue.depth,
        },
        'audit request queued',
      );
      this.d.service.event('queued', job);
    } catch (err) {
      await this.reject(job, err, job.transaction);
    }
  }

  private async reject(job: AuditJob, err: unknown, transaction: string | number | null): Promise<void> {
    const e = describeError(err);
    this.d.log.warn({ transaction, code: e.code, err: e.message }, 'audit request rejected');
    // An error response with the request's own transaction id (null when it had none or was unreadable).
    const stored = { ...job, transaction: transaction ?? `rejected-${Date.now()}` };
    await this.d.service.commit(stored, undefined, e, performance.now(), transaction === null);
  }

  /** Stop taking requests (unsubscribe). */
  async stop(): Promise<void> {
    this.active = false;
    this.d.link.client.off('message', this.onMessage);
    if (this.d.link.connected) await this.d.link.client.unsubscribeAsync(this.topic).catch(() => undefined);
  }
}
