/**
 * Request intake: `<base>/bridge/request/audit` messages (and claimed spool folders) are validated and STORED
 * before the broker gets its PUBACK (see MqttLink.setIntake and the embedded broker's intake), so kill -9 at
 * any point loses no acknowledged request. In one transaction per request:
 * - a transaction id already known is not audited again: answered → its stored response is sent again
 *   (through the outbox); still pending → nothing (a redelivery after a crash); a request without a
 *   transaction id that comes with the MQTT DUP flag (a redelivery) is matched to the stored request with the
 *   same payload;
 * - a request delivered with the retain flag is refused (`request.retained`) once; its later deliveries
 *   (every reconnect) are dropped silently;
 * - an invalid request (malformed JSON, schema, speaker id, bounds) is answered `request.invalid` and its
 *   transaction id consumed;
 * - beyond `queue.max_pending` stored requests a new one is answered `busy` (its id stays free for a retry);
 * - otherwise the request is stored pending and the worker takes it.
 * When the store cannot take the request (disk full, read-only, damaged database), it is answered at once
 * with the typed store error, published directly, and logged; the PUBACK follows, so nothing waits forever.
 */
import { createHash } from 'node:crypto';
import { SlmiaError } from '../errors.js';
import type { MqttLink } from '../publish/mqtt.js';
import { AuditRequestSchema, MAX_REQUEST_BYTES, TransactionId, topicOf } from '../publish/topics.js';
import type { Db, Sql } from '../store/db.js';
import { enqueueOutbox } from '../store/outbox.js';
import { findByDigest, findRequest, insertRequest } from '../store/requests.js';
import type { AuditService } from './audit-service.js';
import { describeError, logField } from './audit-service.js';
import { SPEAKER_ID, type DaemonConfig } from './config.js';
import { newTransactionId, transactionKey, truncate, type AuditJob, type JobInput } from './jobs.js';
import type { Logger } from './logger.js';
import { BusyError, type RequestQueue } from './queue.js';
import type { SpoolBatch } from './spool.js';

/** A request that cannot be audited as sent. */
export class RequestError extends SlmiaError {
  constructor(detail: string) {
    super('request.invalid', detail);
  }
}

/** A request delivered with the MQTT retain flag (it would be audited again at every reconnect). */
export class RetainedRequestError extends SlmiaError {
  constructor() {
    super(
      'request.retained',
      'request was published with the retain flag; it is refused (a retained request would be redelivered at every reconnect). Publish requests without retain',
    );
  }
}

/**
 * Validate a raw request payload into a job.
 * @throws RequestError naming the field at fault (user text in the message is cut to 128 characters)
 */
export function parseAuditRequest(
  payload: Buffer | string,
  config: DaemonConfig,
  now = new Date(),
): AuditJob {
  const size = Buffer.byteLength(payload);
  if (size > MAX_REQUEST_BYTES)
    throw new RequestError(
      `request is ${size} bytes; at most ${MAX_REQUEST_BYTES} (requests name files, never carry audio)`,
    );
  let raw: unknown;
  try {
    raw = JSON.parse(payload.toString());
  } catch (err) {
    throw new RequestError(`malformed request JSON (${truncate((err as Error).message)})`);
  }
  const parsed = AuditRequestSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = truncate(issue?.path.join('.') ?? '');
    throw new RequestError(
      `${field ? `field "${field}": ` : ''}${truncate(issue?.message ?? 'invalid request', 300)}`,
    );
  }
  const r = parsed.data;
  if (!SPEAKER_ID.test(r.speaker)) {
    throw new RequestError(
      `field "speaker": "${truncate(r.speaker, 64)}" must be 1-64 letters, digits, _ . - (and not "bridge")`,
    );
  }
  if (r.files && r.files.length > config.files.max_files)
    throw new RequestError(
      `field "files": ${r.files.length} entries; at most ${config.files.max_files} per request (files.max_files)`,
    );
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

/**
 * The best-effort transaction id of a request that failed validation (for the error response): a string is
 * cut to 128 characters, a number must be finite; anything else → null.
 */
export function transactionOf(payload: Buffer): string | number | null {
  if (payload.length > 4 * MAX_REQUEST_BYTES) return null;
  try {
    const t = (JSON.parse(payload.toString()) as { transaction?: unknown }).transaction;
    if (TransactionId.safeParse(t).success) return t as string | number;
    if (typeof t === 'string' && t.length > 0) return t.slice(0, 128);
    return null;
  } catch {
    return null;
  }
}

/** How intake disposed of one request (for logs and tests). */
export type IntakeOutcome =
  'queued' | 'rejected' | 'busy' | 'replayed' | 'duplicate-pending' | 'retained-repeat' | 'store-error';

/** Validates, stores and answers incoming requests. */
export class RequestHandler {
  readonly topic: string;
  /** Resolves once the request subscription is acknowledged (or failed), or at once with the embedded broker. */
  ready: Promise<void> = Promise.resolve();

  constructor(
    private readonly d: {
      config: DaemonConfig;
      db: Db;
      link: MqttLink;
      queue: RequestQueue;
      service: AuditService;
      log: Logger;
    },
  ) {
    this.topic = topicOf(d.config.mqtt.base_topic, 'bridge/request/audit');
  }

  /**
   * Take requests from the broker: subscribe (QoS 1) on an external broker; with the embedded broker
   * requests are taken at the broker (`viaBroker`) and nothing is subscribed. {@link ready} resolves on the
   * SUBACK; while the broker is unreachable mqtt.js holds the SUBSCRIBE until it connects.
   */
  start(viaBroker = false): void {
    this.d.link.setIntake(viaBroker ? [] : [this.topic], (payload, packet) =>
      this.intake(payload, { retain: packet.retain, dup: packet.dup }).then(() => undefined),
    );
    if (viaBroker) return;
    this.ready = this.d.link.client
      // MQTT 5: retain-as-published, so a retained request keeps its flag (and is refused) on live delivery too.
      .subscribeAsync(this.topic, { qos: 1, ...(this.d.link.protocolVersion === 5 && { rap: true }) })
      .then(() => undefined)
      .catch((err: Error) => {
        this.d.log.warn({ err: err.message, topic: this.topic }, 'subscribe failed');
      });
  }

  /**
   * Validate, store and (when needed) answer one request payload. Never throws; resolves once the request
   * (or its answer) is committed, or answered with the store error.
   */
  async intake(payload: Buffer, meta: { retain?: boolean; dup?: boolean } = {}): Promise<IntakeOutcome> {
    const now = new Date();
    let job: AuditJob;
    let invalid: unknown;
    let anonymous = false;
    try {
      job = parseAuditRequest(payload, this.d.config, now);
    } catch (err) {
      invalid = err;
      const t = transactionOf(payload);
      anonymous = t === null;
      job = {
        transaction: t ?? `rejected-${now.getTime()}`,
        source: 'mqtt',
        speaker: '',
        input: { kind: 'files', paths: [] },
        requestedAt: now.toISOString(),
      };
    }
    // A retained request without a transaction id is recognised again by its payload.
    let key: string | undefined = anonymous ? undefined : transactionKey(job.transaction);
    if (anonymous && meta.retain)
      key = `retained-${createHash('sha256').update(payload).digest('hex').slice(0, 32)}`;
    // A valid request without a transaction id gets a generated one; its payload digest is stored so that a
    // redelivery of it (MQTT DUP flag: the broker re-sends an unacknowledged message after a crash) is
    // recognised as the same request instead of being audited again.
    const digest =
      invalid === undefined && transactionOf(payload) === null
        ? createHash('sha256').update(payload).digest('hex')
        : undefined;
    const reason = invalid ?? (meta.retain ? new RetainedRequestError() : undefined);
    return this.accept(job, key, {
      reason,
      anonymous,
      retain: meta.retain ?? false,
      bounded: true,
      ...(digest !== undefined && { digest, dup: meta.dup ?? false }),
    });
  }

  /** Store a claimed spool folder as a request (always accepted: the folder is already durable on disk). */
  async intakeSpool(b: SpoolBatch): Promise<IntakeOutcome> {
    const job: AuditJob = {
      transaction: b.transaction,
      source: 'spool',
      speaker: b.speaker,
      input: { kind: 'spool', batch: b },
      requestedAt: new Date().toISOString(),
    };
    return this.accept(job, transactionKey(b.transaction), {
      anonymous: false,
      retain: false,
      bounded: false,
    });
  }

  /**
   * Answer a spool folder that cannot be accepted (bad folder name, ...) like a bad request: an error
   * response with its transaction and a failed audit row.
   */
  async rejectSpool(folder: string, why: string, transaction: string): Promise<IntakeOutcome> {
    const job: AuditJob = {
      transaction,
      source: 'spool',
      speaker: '',
      input: { kind: 'files', paths: [] },
      requestedAt: new Date().toISOString(),
    };
    const reason = new SlmiaError('spool.rejected', `spool folder "${truncate(folder, 64)}": ${why}`);
    return this.accept(job, transactionKey(transaction), {
      reason,
      anonymous: false,
      retain: false,
      bounded: false,
    });
  }

  private async accept(
    job: AuditJob,
    key: string | undefined,
    o: {
      reason?: unknown;
      anonymous: boolean;
      retain: boolean;
      bounded: boolean;
      /** Payload SHA-256 of a request without a transaction id, and whether it came with the DUP flag. */
      digest?: string;
      dup?: boolean;
    },
  ): Promise<IntakeOutcome> {
    const { db, service, queue, log } = this.d;
    const tlog = logField(o.anonymous ? null : job.transaction);
    let outcome: IntakeOutcome;
    try {
      outcome = await db.transaction(async (tx) => {
        let prior = key === undefined ? undefined : await findRequest(tx, key);
        if (!prior && o.digest !== undefined && o.dup) {
          prior = await findByDigest(tx, o.digest);
          if (prior) key = prior.key;
        }
        if (prior) {
          if (o.retain) return 'retained-repeat';
          if (prior.state === 'pending') return 'duplicate-pending';
          await this.replay(tx, key as string, prior.response);
          return 'replayed';
        }
        if (o.reason !== undefined) {
          await service.answer(tx, job, undefined, describeError(o.reason), {
            consume: key !== undefined,
            anonymous: o.anonymous,
          });
          return 'rejected';
        }
        if (o.bounded && !queue.canAccept) {
          await service.answer(tx, job, undefined, describeError(new BusyError(queue.waiting)), {
            consume: false,
          });
          return 'busy';
        }
        job.seq = await insertRequest(tx, {
          key: key as string,
          transaction: job.transaction,
          source: job.source,
          speaker: job.speaker,
          input: job.input,
          receivedAt: job.requestedAt,
          ...(o.digest !== undefined && { payloadSha256: o.digest }),
        });
        return 'queued';
      });
    } catch (err) {
      service.answerDirect(
        { transaction: job.transaction, speaker: job.speaker },
        err,
        'request not stored',
        o.anonymous,
      );
      return 'store-error';
    }
    switch (outcome) {
      case 'queued':
        log.info(
          { transaction: tlog, speaker: job.speaker, input: job.input.kind, waiting: queue.waiting + 1 },
          'audit request stored',
        );
        service.event('queued', job);
        queue.added();
        break;
      case 'rejected':
      case 'busy': {
        const e = describeError(o.reason ?? new BusyError(queue.waiting));
        log.warn({ transaction: tlog, code: e.code, err: e.message }, 'audit request rejected');
        service.kickRelay();
        break;
      }
      case 'replayed':
        log.info({ transaction: tlog }, 'transaction already answered: answer sent again from the store');
        service.kickRelay();
        break;
      default:
        log.debug({ transaction: tlog, outcome }, 'repeated request ignored');
    }
    return outcome;
  }

  /** Queue a stored response again (at-least-once through the outbox). */
  private async replay(tx: Sql, key: string, response: string | null): Promise<void> {
    if (response === null) return;
    await enqueueOutbox(tx, {
      transaction: key,
      topic: topicOf(this.d.config.mqtt.base_topic, 'bridge/response/audit'),
      payload: JSON.parse(response) as unknown,
    });
  }

  /**
   * Stop: nothing to undo. The subscription is kept on purpose: it belongs to the persistent session, so the
   * broker queues requests published while the daemon is down; requests still arriving now are stored.
   */
  async stop(): Promise<void> {}
}

/** The job input a stored request carries (as written by intake). */
export function storedInput(input: unknown): JobInput {
  return input as JobInput;
}
