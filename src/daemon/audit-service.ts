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
import type { Db } from '../store/db.js';
import { enqueueOutbox } from '../store/outbox.js';
import { version } from '../version.js';
import type { AuditResult, Auditor } from './auditor.js';
import type { DaemonConfig } from './config.js';
import { FileAccess, fileAccessOf } from './file-access.js';
import type { AuditJob } from './jobs.js';
import type { Logger } from './logger.js';
import { recordUtterances } from './microphone.js';
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

/** Map any thrown value to a response error code and message. */
export function describeError(err: unknown): { code: string; message: string } {
  if (err instanceof SlmiaError) return { code: err.code, message: err.message };
  return { code: 'internal', message: err instanceof Error ? err.message : String(err) };
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
   * only, regular files, size caps, read deadline); decode errors name the request's own path.
   */
  private async loadFiles(
    job: AuditJob,
    paths: string[],
    label: string,
  ): Promise<{ clips: Clip[]; decodeMs: number }> {
    const files = await this.access.resolve(paths, label);
    this.event('embedding', job, { utterances: files.length });
    const t0 = performance.now();
    const model = this.d.auditor.info.model;
    const budget = { bytes: this.access.policy.maxRequestBytes };
    const clips: Clip[] = [];
    for (const f of files) {
      const bytes = await this.access.read(f, budget);
      clips.push(
        await prepareAudio(await decodeAudioBuffer(bytes, f.label), {
          sampleRate: model.sample_rate,
          minSeconds: model.min_seconds,
        }),
      );
    }
    return { clips, decodeMs: performance.now() - t0 };
  }

  private async audit(job: AuditJob): Promise<AuditResult> {
    const { auditor, config } = this.d;
    const input = job.input;
    if (input.kind === 'files' || input.kind === 'spool') {
      const { clips, decodeMs } =
        input.kind === 'files'
          ? await this.loadFiles(job, input.paths, 'files')
          : await this.loadFiles(job, [input.batch.dir], `spool folder ${input.batch.speaker}`);
      const r = await auditor.auditClips(job.speaker, clips);
      return { ...r, timings: { decodeMs, ...r.timings } };
    }
    const m = config.microphone;
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
   * Run one job; never throws (failures become error rows + error responses).
   * @returns the committed outcome
   */
  async run(job: AuditJob): Promise<AuditDone> {
    const t0 = performance.now();
    let result: AuditResult | undefined;
    let error: { code: string; message: string } | undefined;
    try {
      result = await this.audit(job);
    } catch (err) {
      error = describeError(err);
      this.d.log.warn(
        { transaction: job.transaction, speaker: job.speaker, code: error.code, err: error.message },
        'audit failed',
      );
    }
    if (result) this.event('scoring', job, { utterances: result.voices });
    const done = await this.commit(job, result, error, t0);
    if (job.input.kind === 'spool' && this.d.spool)
      await this.d.spool.finish(job.input.batch, this.d.config.retain_audio);
    this.event(done.status === 'ok' ? 'done' : 'failed', job);
    this.emit('done', done);
    return done;
  }

  /**
   * Commit the audit row and its outbox rows in one transaction, then kick the relay. Also used for requests
   * rejected before they reach the queue (`result` undefined, `error` set; `anonymous` answers with a null
   * transaction when the request carried none).
   */
  async commit(
    job: AuditJob,
    result: AuditResult | undefined,
    error: { code: string; message: string } | undefined,
    t0 = performance.now(),
    anonymous = false,
  ): Promise<AuditDone> {
    const { config, db } = this.d;
    const base = config.mqtt.base_topic;
    const auditedAt = new Date().toISOString();
    const pipelineMs = performance.now() - t0;
    const timings: AuditTimings = result ? { ...result.timings } : {};
    const verdict: Verdict | undefined = result && {
      speaker: job.speaker,
      verdict: result.verdict,
      probability: result.probability,
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
          transaction: anonymous ? null : job.transaction,
        };
    const ts = performance.now();
    const auditId = await db.transaction(async () => {
      const id = await insertAudit(db, {
        transaction: String(job.transaction),
        source: job.source,
        speaker: job.speaker || null,
        requestedAt: job.requestedAt,
        auditedAt,
        ...(result && { outcome: { ...result, timings } }),
        ...(error && !result && { error }),
      });
      await enqueueOutbox(db, {
        auditId: id,
        transaction: String(job.transaction),
        topic: topicOf(base, 'bridge/response/audit'),
        payload: response,
      });
      if (verdict) {
        await enqueueOutbox(db, {
          auditId: id,
          transaction: String(job.transaction),
          topic: topicOf(base, '{speaker}', job.speaker),
          payload: speakerState(verdict),
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
          await enqueueOutbox(db, {
            auditId: id,
            transaction: String(job.transaction),
            topic: d.topic,
            payload: d.payload,
            retain: true,
          });
        }
      }
      return id;
    });
    timings.storeMs = performance.now() - ts;
    timings.totalMs = pipelineMs + timings.storeMs;
    this.d.log.info(
      {
        transaction: job.transaction,
        speaker: job.speaker,
        source: job.source,
        audit_id: auditId,
        status: verdict ? 'ok' : 'error',
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
