/**
 * The daemon controller: owns start-up and shutdown (Zigbee2MQTT style). Start: database → audit pipeline
 * (model, attack bundle, reference bank loaded once) → embedded broker when no URL is set → MQTT link →
 * outbox relay, bridge, request intake, spool recovery, the worker over stored requests, health. Stop
 * (SIGTERM/SIGINT): stop intake, let the running audit finish, flush the outbox briefly, publish offline, close
 * broker and database. Stored requests not yet audited and undelivered messages stay in the database and are
 * worked off at the next start. Store faults put the daemon in a degraded state (bridge/health) instead of
 * stopping it, and a stray promise rejection is logged, not fatal.
 */
import { EventEmitter } from 'node:events';
import { join } from 'node:path';
import type { EmbeddedBroker } from '../publish/embedded-broker.js';
import { MqttLink } from '../publish/mqtt.js';
import { OutboxRelay } from '../publish/outbox-relay.js';
import { MAX_REQUEST_BYTES, topicOf, type BridgeInfo, type SpeakerState } from '../publish/topics.js';
import { latestVerdicts } from '../store/audits.js';
import { Db } from '../store/db.js';
import type { OutboxMessage } from '../store/outbox.js';
import { findRequest, type StoredRequest } from '../store/requests.js';
import { version } from '../version.js';
import { AuditService, describeError, type AuditDone } from './audit-service.js';
import type { Auditor } from './auditor.js';
import { Bridge, healthOf } from './bridge.js';
import { configSummary, type DaemonConfig } from './config.js';
import { HealthMonitor } from './health.js';
import { MAX_FIELD_CHARS, transactionKey, truncate, type AuditJob } from './jobs.js';
import { createLogger, type Logger } from './logger.js';
import { openAuditor } from './open-auditor.js';
import { RequestQueue, type WorkOutcome } from './queue.js';
import { RequestHandler } from './request-handler.js';
import { SpoolWatcher, type SpoolBatch } from './spool.js';
import { prepareStateDir } from './state-dir.js';

/** Options of {@link startDaemon}. */
export interface DaemonOptions {
  log?: Logger;
  /** An already opened pipeline (tests share one between daemons); opened from the config otherwise. */
  auditor?: Auditor;
  /** Keep outbox rows unpublished (test hook; default `SLMIA_TEST_HOLD_OUTBOX=1`). */
  holdOutbox?: boolean;
}

/** A running daemon. */
export interface Daemon extends EventEmitter<{ audit: [AuditDone]; delivered: [OutboxMessage, number] }> {
  readonly config: DaemonConfig;
  readonly db: Db;
  readonly link: MqttLink;
  readonly broker: EmbeddedBroker | undefined;
  readonly auditor: Auditor;
  readonly queue: RequestQueue;
  readonly handler: RequestHandler;
  readonly health: HealthMonitor;
  readonly relay: OutboxRelay;
  /** Stop gracefully (idempotent). */
  stop(): Promise<void>;
}

/**
 * Start the daemon.
 * @throws ConfigError/ManifestError/BrokerError/StoreError when a part cannot start (nothing is left running)
 */
export async function startDaemon(config: DaemonConfig, opts: DaemonOptions = {}): Promise<Daemon> {
  const log = opts.log ?? createLogger(config.log_level);
  const startedAt = Date.now();
  const cleanups: (() => Promise<void>)[] = [];
  const unwind = async (): Promise<void> => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  };
  try {
    // State folder 0700 and database 0600 whatever the umask; typed errors for an unusable folder. A store on a
    // read-only or full file system (or a damaged file) does not stop the daemon: it starts degraded, answers
    // requests with the typed store error and reopens the store when it can.
    let dbPath = join(config.data_dir, 'slmia.db');
    try {
      dbPath = await prepareStateDir(config.data_dir, config.spool.enabled ? config.spool.dir : undefined);
    } catch (err) {
      const errno = ((err as { cause?: unknown }).cause as NodeJS.ErrnoException | undefined)?.code;
      if (errno !== 'EROFS' && errno !== 'ENOSPC') throw err;
    }
    const db = await Db.openOrUnavailable(dbPath);
    if (!db.isOpen)
      log.error({ err: db.fault?.message, code: db.fault?.code }, 'store unavailable at start-up');
    cleanups.push(() => db.close());
    const ownAuditor = !opts.auditor;
    log.info({ model: config.model, attack: config.attack }, 'loading audit pipeline');
    const auditor =
      opts.auditor ??
      (await openAuditor({
        modelPath: config.model,
        attackPath: config.attack,
        db,
        runtime: {
          spinning: config.onnxruntime.spinning,
          cpuMemArena: config.onnxruntime.cpu_mem_arena,
          ...(config.onnxruntime.threads !== undefined && { threads: config.onnxruntime.threads }),
        },
        ...(config.reference_data_dir ? { dataDir: config.reference_data_dir } : {}),
      }));
    if (ownAuditor) cleanups.push(() => auditor.close());
    // Requests reaching the embedded broker before the handler exists wait for it (their PUBACK waits too).
    let handlerReady!: (h: RequestHandler) => void;
    const handlerSet = new Promise<RequestHandler>((r) => (handlerReady = r));
    const requestTopic = topicOf(config.mqtt.base_topic, 'bridge/request/audit');
    let broker: EmbeddedBroker | undefined;
    let url = config.mqtt.url;
    const m = config.mqtt;
    const clientId = m.client_id ?? `slmia-${config.device_id}`;
    if (!url) {
      // Logins and ACL: src/publish/broker-acl.ts (only the daemon publishes its topics). Loaded only here: a
      // daemon on an external broker never loads aedes (bench/RESULTS.md, daemon memory).
      const { startEmbeddedBroker } = await import('../publish/embedded-broker.js');
      broker = await startEmbeddedBroker({
        host: m.embedded.host,
        port: m.embedded.port,
        users: m.embedded.users,
        ...(m.embedded.password_file && { passwordFile: m.embedded.password_file }),
        base: m.base_topic,
        discoveryPrefix: config.homeassistant.discovery_prefix,
        clientId,
        ...(m.username !== undefined && { username: m.username }),
        ...(m.password !== undefined && { password: m.password }),
        warn: (msg) => log.warn(msg),
        intakeTopics: [requestTopic],
        intake: async (p) => {
          await (await handlerSet).intake(p.payload, { retain: p.retain, dup: p.dup });
        },
      });
      cleanups.push(() => (broker as EmbeddedBroker).close());
      url = broker.url;
      log.info({ url }, 'embedded MQTT broker (aedes) listening');
    }
    const login = broker?.login ?? { username: m.username, password: m.password };
    const link = new MqttLink({
      url,
      base_topic: config.mqtt.base_topic,
      client_id: clientId,
      keepalive: config.mqtt.keepalive,
      reconnect_period_ms: config.mqtt.reconnect_period_ms,
      // aedes speaks MQTT 3.1.1; the embedded broker refuses retained requests at publish time.
      protocol_version: broker ? 4 : config.mqtt.protocol_version,
      reject_unauthorized: config.mqtt.reject_unauthorized,
      ...(login.username !== undefined && { username: login.username }),
      ...(login.password !== undefined && { password: login.password }),
      ...(config.mqtt.ca && { ca: config.mqtt.ca }),
      ...(config.mqtt.cert && { cert: config.mqtt.cert }),
      ...(config.mqtt.key && { key: config.mqtt.key }),
    });
    cleanups.push(() => link.close(true));
    // One warning per outage, not one per reconnect attempt.
    let lastError = '';
    link.client.on('error', (err) => {
      if (err.message !== lastError) log.warn({ err: err.message }, 'mqtt error');
      lastError = err.message;
    });
    link.client.on('connect', () => (lastError = ''));
    link.client.on('offline', () => log.warn('mqtt offline; verdicts wait in the outbox'));
    const hold = opts.holdOutbox ?? process.env.SLMIA_TEST_HOLD_OUTBOX === '1';
    const relay = new OutboxRelay(db, link, {
      hold,
      onError: (err, m) =>
        log.debug({ err: err.message, outbox_id: m.id }, 'outbox publish not acknowledged; will retry'),
    });
    if (hold)
      log.warn('SLMIA_TEST_HOLD_OUTBOX=1: outbox messages are committed but never published (test hook)');
    const info: BridgeInfo = {
      version,
      device_id: config.device_id,
      model: {
        name: auditor.info.model.name,
        architecture: auditor.info.model.architecture,
        sha256: auditor.info.model.sha256,
        sample_rate: auditor.info.model.sample_rate,
        path: auditor.info.model.path,
      },
      attack: auditor.info.attack,
      config: { ...configSummary(config), broker: broker ? `embedded ${url}` : configSummary(config).broker },
      limits: {
        max_files: config.files.max_files,
        max_seconds: config.requests.max_seconds,
        max_audio_bytes: config.files.max_request_bytes,
        max_payload_bytes: MAX_REQUEST_BYTES,
        max_pending: config.queue.max_pending,
        max_field_chars: MAX_FIELD_CHARS,
      },
    };
    const bridge = new Bridge(link, info, log);

    const spool: SpoolWatcher | undefined = config.spool.enabled
      ? new SpoolWatcher({
          dir: config.spool.dir,
          pollMs: config.spool.poll_ms,
          watch: config.spool.watch,
          onWatchError: (err) =>
            log.warn({ err: err.message }, 'spool watcher failed; the folder is still scanned every poll_ms'),
          retain: config.retain_audio,
          // While the store fails, ready folders stay where they are (they are the durable copy).
          canAccept: (): boolean => queue.canAccept && health.status === 'ok',
          onBatch: (b) => {
            log.info({ transaction: b.transaction, speaker: b.speaker }, 'spool folder claimed');
            intakeSpool(b);
          },
          onReject: (name, why, transaction) => {
            log.warn({ folder: truncate(name, 64), transaction }, `spool folder rejected: ${why}`);
            void handler.rejectSpool(name, why, transaction);
          },
        })
      : undefined;
    const service: AuditService = new AuditService({
      config,
      db,
      auditor,
      link,
      relay,
      log,
      ...(spool && { spool }),
    });
    const queue: RequestQueue = new RequestQueue(
      db,
      config.queue.max_pending,
      async (req): Promise<WorkOutcome> => (await service.run(jobOf(req))).outcome,
      (err) => log.error({ err: describeError(err).message }, 'request queue cannot read the store; waiting'),
    );
    const handler = new RequestHandler({ config, db, link, queue, service, log });
    handlerReady(handler);
    // A claimed spool folder the store could not take (answered with the store error) is taken again once the
    // store recovers; it stays in `.processing/` meanwhile (and is recovered there at the next start).
    const unstoredSpool: SpoolBatch[] = [];
    const intakeSpool = (b: SpoolBatch): void =>
      void handler.intakeSpool(b).then((outcome) => {
        if (outcome === 'store-error') unstoredSpool.push(b);
      });
    const health = new HealthMonitor(db, log, {
      onRecovered: () => {
        for (const b of unstoredSpool.splice(0)) intakeSpool(b);
        if (spool) void spool.scan();
        queue.unparkAll();
        relay.kick();
      },
    });
    const publishHealth = (): void =>
      void healthOf({ db, link, startedAt, queue, health })
        .then((h) => link.publish('bridge/health', h, { qos: 0 }))
        .catch(() => undefined);
    health.on('change', publishHealth);
    // A stray promise rejection is logged; the service keeps running (requests are in the store anyway).
    const onUnhandled = (reason: unknown): void =>
      log.error({ err: describeError(reason).message }, 'unhandled promise rejection (daemon keeps running)');
    process.on('unhandledRejection', onUnhandled);
    cleanups.push(async () => void process.off('unhandledRejection', onUnhandled));

    const emitter = new EventEmitter<{ audit: [AuditDone]; delivered: [OutboxMessage, number] }>();
    service.on('done', (d) => {
      emitter.emit('audit', d);
      // A place in the queue came free: take a ready spool folder that had to wait.
      if (spool) void spool.scan();
    });
    relay.on('delivered', (m, ms) => {
      log.debug(
        { outbox_id: m.id, audit_id: m.audit_id, transaction: m.transaction, topic: m.topic, ms },
        'outbox delivered',
      );
      emitter.emit('delivered', m, ms);
    });

    handler.start(broker !== undefined);
    bridge.start();
    relay.start();
    await waitConnected(link, 10_000, log);
    if (link.connected) await Promise.all([handler.ready, bridge.ready]);
    // The embedded broker starts empty: restore every speaker's retained state from the store.
    if (broker) await restoreSpeakerStates(db, link, log).catch(() => undefined);
    if (spool) await recoverSpool(spool, db, handler, config.retain_audio, log, unstoredSpool);
    await queue.start();
    if (spool) void spool.scan();
    // Health goes out at once and after every (re)connection, then every health_interval_s: a fleet page
    // sees a hub as soon as it is up, not one interval later.
    publishHealth();
    link.client.on('connect', publishHealth);
    const healthTimer = setInterval(publishHealth, config.health_interval_s * 1000);
    healthTimer.unref();
    log.info(
      {
        base_topic: config.mqtt.base_topic,
        url,
        device_id: config.device_id,
        model_sha256: auditor.info.model.sha256,
        attack_id: auditor.info.attack.id,
        pending_requests: queue.depth,
        status: health.status,
      },
      'daemon started',
    );

    let stopping: Promise<void> | undefined;
    const stop = (): Promise<void> =>
      (stopping ??= (async () => {
        log.info('stopping: intake closed');
        clearInterval(healthTimer);
        link.client.off('connect', publishHealth);
        await spool?.stop();
        await handler.stop();
        await queue.close();
        if (queue.depth > 0)
          log.info({ pending_requests: queue.depth }, 'stored requests stay pending for the next start');
        health.close();
        const undelivered = await relay.drain(hold ? 0 : 3000);
        await relay.stop();
        if (undelivered > 0)
          log.warn(
            { outbox_size: undelivered },
            'undelivered messages kept in the outbox for the next start',
          );
        await bridge.stop();
        await unwind();
        log.info('stopped');
      })());
    return Object.assign(emitter, { config, db, link, broker, auditor, queue, handler, health, relay, stop });
  } catch (err) {
    await unwind();
    throw err;
  }
}

/** A stored request as the worker's job. */
function jobOf(req: StoredRequest): AuditJob {
  return {
    transaction: req.transaction ?? req.key,
    seq: req.seq,
    source: req.source as AuditJob['source'],
    speaker: req.speaker ?? '',
    input: req.input as AuditJob['input'],
    requestedAt: req.received_at,
  };
}

/**
 * Reconcile folders left in `.processing/` by an earlier run with the store: answered → removed, pending →
 * left to the worker, unknown (claimed, then killed before storing) → stored now (or, when the store cannot take
 * it, added to `unstored`, taken again when the store recovers). Not bounded by the queue.
 */
async function recoverSpool(
  spool: SpoolWatcher,
  db: Db,
  handler: RequestHandler,
  retain: boolean,
  log: Logger,
  unstored: SpoolBatch[],
): Promise<void> {
  for (const b of await spool.start()) {
    try {
      const req = await findRequest(db, transactionKey(b.transaction));
      if (req?.state === 'answered') await spool.finish(b, retain);
      else if (!req) {
        log.info({ transaction: b.transaction, speaker: b.speaker }, 'spool folder recovered after restart');
        if ((await handler.intakeSpool(b)) === 'store-error') unstored.push(b);
      }
    } catch (err) {
      log.error(
        { err: describeError(err).message, dir: b.dir },
        'spool folder not recovered (store error); kept, taken again when the store recovers',
      );
      unstored.push(b);
    }
  }
}

/** Publish the latest stored verdict of each speaker as its retained state (not through the outbox). */
async function restoreSpeakerStates(db: Db, link: MqttLink, log: Logger): Promise<void> {
  const latest = await latestVerdicts(db);
  for (const a of latest) {
    const state: SpeakerState = {
      verdict: a.verdict as SpeakerState['verdict'],
      probability: a.probability as number,
      p_value: a.p_value as number, // null for audits stored before migration 006
      reason: a.reason as SpeakerState['reason'],
      threshold: a.threshold as number,
      target_fpr: a.target_fpr as number,
      voices: a.voices as number,
      queries: a.queries as number,
      model_sha256: a.model_sha256 as string,
      attack_id: a.attack_id as string,
      audited_at: a.audited_at,
      transaction: a.transaction,
    };
    await link
      .publish('{speaker}', state, { retain: true, speaker: a.speaker as string })
      .catch(() => undefined);
  }
  if (latest.length > 0)
    log.info({ speakers: latest.length }, 'retained speaker states restored on the embedded broker');
}

/** Wait for the first connection (the daemon still starts when the broker is down; the outbox waits). */
async function waitConnected(link: MqttLink, ms: number, log: Logger): Promise<void> {
  if (link.connected) return;
  const ok = await Promise.race([
    new Promise<boolean>((r) => link.client.once('connect', () => r(true))),
    new Promise<boolean>((r) => setTimeout(() => r(false), ms).unref()),
  ]);
  if (!ok) log.warn('MQTT broker not reachable yet; audits are stored and published when it comes back');
}
