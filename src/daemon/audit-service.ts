/**
 * Runs one audit job end to end: get the audio (files, spool folder or microphone), call the audit pipeline,
 * then commit the audit row together with its outbox messages (response, retained speaker state, Home
 * Assistant discovery) in ONE transaction, and kick the outbox relay. A failed audit is committed as an
 * error row with an error response, so every request is answered and the store stays consistent.
 */
import { EventEmitter } from 'node:events';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { decodeAudioBuffer, prepareAudio, type Clip } from '../audio/index.js';
import { SlmiaError } from '../errors.js';
import { speakerDiscovery } from '../publish/homeassistant.js';
import type { MqttLink } from '../publish/mqtt.js';
import type { OutboxRelay } from '../publish/outbox-relay.js';
import {
  speakerState,
  topicOf,
  type AuditResponse,
  type BridgeEvent,
  type Verdict,
} from '../publish/topics.js';
import { insertAudit, type AuditTimings } from '../store/audits.js';
import type { Db, Sql } from '../store/db.js';
import { enqueueOutbox } from '../store/outbox.js';
import { answerRequest } from '../store/requests.js';
import { version } from '../version.js';
import type { AuditResult, Auditor } from './auditor.js';
import type { DaemonConfig } from './config.js';
import { FileAccess, fileAccessOf } from './file-access.js';
import { transactionKey, truncate, type AuditJob } from './jobs.js';
import type { Logger } from './logger.js';
import type { SpoolWatcher } from './spool.js';

/** What {@link AuditService} emits after each commit. */
export interface AuditDone {
  job: AuditJob;
  auditId: number;
  status: 'ok' | 'error';
  verdict?: Verdict;
  error?: { code: string; message: string };
  /** decode…attack from the pipeline, plus store (commit) and total (job start → commit), ms. */
  timings: AuditTimings;
}

/** Longest error text kept in a response, the store or a log line. */
export const MAX_ERROR_CHARS = 1000;

/** Map any thrown value to a response error code and message (message cut to {@link MAX_ERROR_CHARS}). */
export function describeError(err: unknown): { code: string; message: string } {
  if (err instanceof SlmiaError) return { code: err.code, message: truncate(err.message, MAX_ERROR_CHARS) };
  return {
    code: 'internal',
    message: truncate(err instanceof Error ? err.message : String(err), MAX_ERROR_CHARS),
  };
}

/** Executes audit jobs for the daemon. */
export class AuditService extends EventEmitter<{ done: [AuditDone] }> {
  constructor(
    private readonly d: {
      config: DaemonConfig;
      db: Db;
      auditor: Auditor;
      link: MqttLink;
      relay: OutboxRelay;
      spool?: SpoolWatcher;
      log: Logger;
    },
  ) {
    super();
    this.access = fileAccessOf(d.config);
  }

  private readonly access: FileAccess;

  /** Publish whatever the outbox holds now. */
  kickRelay(): void {
    this.d.relay.kick();
  }

  /** Publish a progress event (QoS 0, best effort; never stored). */
  event(
    type: BridgeEvent['type'],
    job: Pick<AuditJob, 'transaction' | 'speaker' | 'source'>,
    extra: Partial<BridgeEvent> = {},
  ): void {
    const payload: BridgeEvent = {
      type,
      transaction: job.transaction,
      speaker: job.speaker,
      source: job.source,
      ...extra,
      at: new Date().toISOString(),
    };
    this.d.link.publish('bridge/event', payload, { qos: 0 }).catch(() => undefined);
  }

  /**
   * Read and decode the files a request or spool folder names, through {@link FileAccess} (allowed folders
   * only, regular files, size caps, read deadline), one file at a time as the audit takes them: only the clips
   * waiting for a model batch are in memory, whatever the number of files. Decode errors name the request's own
   * path. `timing.decodeMs` sums reading and decoding.
   * @throws FileAccessError before the first file when a path is refused; AudioError / `request.invalid`
   *   (more than `requests.max_seconds`) when the audit reaches the file at fault
   */
  private async *clipsOf(
    job: AuditJob,
    paths: string[],
    label: string,
    timing: { decodeMs: number },
  ): AsyncGenerator<Clip> {
    const files = await this.access.resolve(paths, label);
    this.event('embedding', job, { utterances: files.length });
    const model = this.d.auditor.info.model;
    const budget = { bytes: this.access.policy.maxRequestBytes };
    const maxSeconds = this.d.config.requests.max_seconds;
    let seconds = 0;
    for (const f of files) {
      const t0 = performance.now();
      const bytes = await this.access.read(f, budget);
      const clip = await prepareAudio(await decodeAudioBuffer(bytes, f.label), {
        sampleRate: model.sample_rate,
        minSeconds: model.min_seconds,
      });
      timing.decodeMs += performance.now() - t0;
      seconds += clip.seconds;
      if (seconds > maxSeconds)
        throw new SlmiaError(
          'request.invalid',
          `${label}: more than ${maxSeconds} s of audio per request (requests.max_seconds), reached at ${f.label}`,
        );
      yield clip;
    }
  }

  private async audit(job: AuditJob): Promise<AuditResult> {
    const { auditor, config } = this.d;
    const input = job.input;
    if (input.kind === 'files' || input.kind === 'spool') {
      const timing = { decodeMs: 0 };
      const clips =
        input.kind === 'files'
          ? this.clipsOf(job, input.paths, 'files', timing)
          : this.clipsOf(job, [input.batch.dir], `spool folder ${input.batch.speaker}`, timing);
      const r = await auditor.auditClips(job.speaker, clips);
      return { ...r, timings: { decodeMs: timing.decodeMs, ...r.timings } };
    }
    const m = config.microphone;
    // The recorder (node-record-lpcm16) is loaded on the first microphone request only.
    const { recordUtterances } = await import('./microphone.js');
    const recorded = await recordUtterances({
      recorder: m.recorder,
      ...(m.device ? { device: m.device } : {}),
      captureRate: m.sample_rate,
      sampleRate: auditor.info.model.sample_rate,
      utterances: input.utterances,
      seconds: input.seconds,
      trim: m.trim,
      minSeconds: auditor.info.model.min_seconds,
      onUtterance: (i) => this.event('recording', job, { utterance: i, utterances: input.utterances }),
    });
    if (config.retain_audio)
      await this.retainRecording(
        job,
        recorded.map((r) => r.pcm),
      );
    this.event('embedding', job, { utterances: recorded.length });
    return auditor.auditClips(
      job.speaker,
      recorded.map((r) => r.clip),
    );
  }

  /** Keep microphone PCM as raw s16le files under `<data_dir>/audio/<transaction>/` (retain_audio only). */
  private async retainRecording(job: AuditJob, pcm: Buffer[]): Promise<void> {
    const dir = join(
      this.d.config.data_dir,
      'audio',
      String(job.transaction).replace(/[^A-Za-z0-9_.-]/g, '_'),
    );
    await mkdir(dir, { recursive: true });
    await Promise.all(pcm.map((b, i) => writeFile(join(dir, `utterance-${i + 1}.s16le`), b)));
  }

  /**
   * Audit one stored request and commit its answer (audit row, outbox messages, request marked answered) in
   * one transaction. Never throws: a failed audit is committed as an error answer. When the commit itself
   * fails (the store is failing), the request is answered at once with the typed store error, published
   * directly (not through the outbox), and stays pending in the store: it is audited and answered again once
   * the store takes writes (`parked`).
   */
  async run(job: AuditJob): Promise<{ outcome: 'answered' | 'parked'; done?: AuditDone }> {
    const t0 = performance.now();
    let result: AuditResult | undefined;
    let error: { code: string; message: string } | undefined;
    try {
      result = await this.audit(job);
    } catch (err) {
      error = describeError(err);
      this.d.log.warn(
        {
          transaction: logField(job.transaction),
          speaker: job.speaker,
          code: error.code,
          err: error.message,
        },
        'audit failed',
      );
    }
    if (result) this.event('scoring', job, { utterances: result.voices });
    let done: AuditDone;
    try {
      done = await this.commit(job, result, error, { t0 });
    } catch (err) {
      this.answerDirect(job, err, 'audit not stored');
      this.event('failed', job);
      return { outcome: 'parked' };
    }
    if (job.input.kind === 'spool' && this.d.spool)
      await this.d.spool
        .finish(job.input.batch, this.d.config.retain_audio)
        .catch((err: Error) =>
          this.d.log.warn(
            { err: err.message, dir: job.input.kind === 'spool' && job.input.batch.dir },
            'spool folder not removed',
          ),
        );
    this.event(done.status === 'ok' ? 'done' : 'failed', job);
    this.emit('done', done);
    return { outcome: 'answered', done };
  }

  /**
   * Answer a request with a typed error published directly (QoS 1, not awaited: this runs where a PUBACK
   * cannot be waited for), when the store cannot take its answer. Logged at error level.
   */
  answerDirect(
    job: Pick<AuditJob, 'transaction' | 'speaker'>,
    err: unknown,
    what: string,
    anonymous = false,
  ): void {
    const e = describeError(err);
    this.d.log.error(
      { transaction: logField(job.transaction), speaker: job.speaker, code: e.code, err: e.message },
      `${what}: answered with the store error`,
    );
    const response: AuditResponse = {
      status: 'error',
      code: e.code,
      error: `${what}: ${e.message}; retry later`,
      transaction: anonymous ? null : job.transaction,
    };
    this.d.link.publish('bridge/response/audit', response).catch(() => undefined);
  }

  /**
   * Write a request's answer inside an open transaction: the audit row, the response (and for a verdict the
   * retained speaker state and Home Assistant discovery) in the outbox, and — when `consume` — the request
   * marked answered with its response, so the transaction id is never audited again.
   */
  async answer(
    tx: Sql,
    job: AuditJob,
    result: AuditResult | undefined,
    error: { code: string; message: string } | undefined,
    o: { consume: boolean; anonymous?: boolean; auditedAt?: string },
  ): Promise<{ auditId: number; verdict?: Verdict; response: AuditResponse }> {
    const { config } = this.d;
    const base = config.mqtt.base_topic;
    const auditedAt = o.auditedAt ?? new Date().toISOString();
    const verdict: Verdict | undefined = result && {
      speaker: job.speaker,
      verdict: result.verdict,
      probability: result.probability,
      p_value: result.p_value,
      reason: result.reason,
      threshold: result.threshold,
      target_fpr: result.target_fpr,
      voices: result.voices,
      queries: result.queries,
      model_sha256: result.model_sha256,
      attack_id: result.attack_id,
      audited_at: auditedAt,
    };
    const response: AuditResponse = verdict
      ? { status: 'ok', data: verdict, transaction: job.transaction }
      : {
          status: 'error',
          error: error?.message ?? 'unknown error',
          code: error?.code ?? 'internal',
          transaction: o.anonymous ? null : job.transaction,
        };
    const key = transactionKey(job.transaction);
    const auditId = await insertAudit(tx, {
      transaction: key,
      source: job.source,
      speaker: job.speaker || null,
      requestedAt: job.requestedAt,
      auditedAt,
      ...(result && { outcome: { ...result, timings: { ...result.timings } } }),
      ...(error && !result && { error }),
    });
    await enqueueOutbox(tx, {
      auditId,
      transaction: key,
      topic: topicOf(base, 'bridge/response/audit'),
      payload: response,
    });
    if (verdict) {
      await enqueueOutbox(tx, {
        auditId,
        transaction: key,
        topic: topicOf(base, '{speaker}', job.speaker),
        payload: speakerState(verdict, job.transaction),
        retain: true,
      });
      if (config.homeassistant.enabled) {
        const d = speakerDiscovery(
          config.homeassistant.discovery_prefix,
          base,
          config.device_id,
          job.speaker,
          version,
        );
        await enqueueOutbox(tx, {
          auditId,
          transaction: key,
          topic: d.topic,
          payload: d.payload,
          retain: true,
        });
      }
    }
    if (o.consume)
      await answerRequest(tx, {
        key,
        transaction: job.transaction,
        source: job.source,
        speaker: job.speaker || null,
        input: job.input,
        receivedAt: job.requestedAt,
        auditId,
        response: JSON.stringify(response),
        answeredAt: auditedAt,
      });
    return { auditId, response, ...(verdict && { verdict }) };
  }

  /**
   * Commit an answer in its own transaction, log it and kick the relay. Also used for requests rejected before
   * they are stored (`result` undefined, `error` set; `anonymous` answers with a null transaction when the
   * request carried none; `consume` false leaves the transaction id free for a retry, e.g. after `busy`).
   * @throws StoreError when the store cannot take the answer
   */
  async commit(
    job: AuditJob,
    result: AuditResult | undefined,
    error: { code: string; message: string } | undefined,
    o: { t0?: number; anonymous?: boolean; consume?: boolean } = {},
  ): Promise<AuditDone> {
    const t0 = o.t0 ?? performance.now();
    const pipelineMs = performance.now() - t0;
    const timings: AuditTimings = result ? { ...result.timings } : {};
    const ts = performance.now();
    const { auditId, verdict } = await this.d.db.transaction((tx) =>
      this.answer(tx, job, result, error, { consume: o.consume ?? true, anonymous: o.anonymous ?? false }),
    );
    timings.storeMs = performance.now() - ts;
    timings.totalMs = pipelineMs + timings.storeMs;
    this.d.log.info(
      {
        transaction: logField(job.transaction),
        speaker: job.speaker,
        source: job.source,
        audit_id: auditId,
        status: verdict ? 'ok' : 'error',
        ...(error && !verdict && { code: error.code }),
        verdict: verdict?.verdict,
        probability: verdict?.probability,
        queries: verdict?.queries,
        timings,
      },
      'audit committed',
    );
    this.d.relay.kick();
    return {
      job,
      auditId,
      status: verdict ? 'ok' : 'error',
      ...(verdict && { verdict }),
      ...(error && { error }),
      timings,
    };
  }
}

/** A transaction id as logged (long strings cut). */
export function logField(v: string | number | null): string | number | null {
  return typeof v === 'string' ? truncate(v) : v;
}
