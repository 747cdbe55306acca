/**
 * The daemon controller: owns start-up and shutdown (Zigbee2MQTT style). Start: database → audit pipeline
 * (model, attack bundle, reference bank loaded once) → embedded broker when no URL is set → MQTT link →
 * outbox relay, bridge, request handler, spool, health. Stop (SIGTERM/SIGINT): stop intake, let the running
 * audit finish, answer waiting requests with a `stopping` error, flush the outbox briefly, publish offline,
 * close broker and database. Undelivered messages stay in the outbox for the next start.
 */
import { EventEmitter } from 'node:events';
import { startEmbeddedBroker, type EmbeddedBroker } from '../publish/embedded-broker.js';
import { MqttLink } from '../publish/mqtt.js';
import { OutboxRelay } from '../publish/outbox-relay.js';
import type { BridgeInfo, SpeakerState } from '../publish/topics.js';
import { latestVerdicts } from '../store/audits.js';
import { Db } from '../store/db.js';
import type { OutboxMessage } from '../store/outbox.js';
import { version } from '../version.js';
import { AuditService, type AuditDone } from './audit-service.js';
import type { Auditor } from './auditor.js';
import { Bridge, healthOf } from './bridge.js';
import { configSummary, type DaemonConfig } from './config.js';
import type { AuditJob } from './jobs.js';
import { createLogger, type Logger } from './logger.js';
import { openAuditor } from './open-auditor.js';
import { AuditQueue, StoppingError } from './queue.js';
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
  readonly queue: AuditQueue<AuditJob>;
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
    // State folder 0700 and database 0600 whatever the umask; typed errors for an unusable folder.
    const db = await Db.open(
      await prepareStateDir(config.data_dir, config.spool.enabled ? config.spool.dir : undefined),
    );
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
    let broker: EmbeddedBroker | undefined;
    let url = config.mqtt.url;
    const m = config.mqtt;
    const clientId = m.client_id ?? `slmia-${config.device_id}`;
    if (!url) {
      // Logins and ACL: src/publish/broker-acl.ts (only the daemon publishes its topics).
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
    };
    const bridge = new Bridge(link, info, log);

    const spoolJob = (b: SpoolBatch): AuditJob => ({
      transaction: b.transaction,
      source: 'spool',
      speaker: b.speaker,
      input: { kind: 'spool', batch: b },
      requestedAt: new Date().toISOString(),
    });
    const spool = config.spool.enabled
      ? new SpoolWatcher({
          dir: config.spool.dir,
          pollMs: config.spool.poll_ms,
          watch: config.spool.watch,
          onWatchError: (err) =>
            log.warn({ err: err.message }, 'spool watcher failed; the folder is still scanned every poll_ms'),
          canAccept: () => queue.canAccept,
          onBatch: (b) => {
            log.info({ transaction: b.transaction, speaker: b.speaker }, 'spool folder claimed');
            queue.push(spoolJob(b));
          },
          onReject: (name, why) => log.warn({ folder: name }, `spool folder rejected: ${why}`),
          retain: config.retain_audio,
        })
      : undefined;
    const service = new AuditService({ config, db, auditor, link, relay, log, ...(spool && { spool }) });
    const queue = new AuditQueue<AuditJob>(config.queue.max_pending, async (job) => {
      await service.run(job);
    });
    const handler = new RequestHandler({ config, link, queue, service, log });

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

    bridge.start();
    relay.start();
    await waitConnected(link, 10_000, log);
    // The embedded broker starts empty: restore every speaker's retained state from the store.
    if (broker) await restoreSpeakerStates(db, link, log);
    await handler.start();
    if (spool) {
      const recovered = await spool.start();
      for (const b of recovered) {
        const done = await db.get<{ id: number }>(
          'SELECT id FROM audits WHERE transaction_id = ? AND source = ?',
          [b.transaction, 'spool'],
        );
        if (done) await spool.finish(b, config.retain_audio);
        else {
          log.info(
            { transaction: b.transaction, speaker: b.speaker },
            'spool folder recovered after restart',
          );
          queue.push(spoolJob(b));
        }
      }
      void spool.scan();
    }
    const health = setInterval(() => {
      void healthOf({ db, link, startedAt, queueDepth: queue.depth, busy: queue.busy })
        .then((h) => link.publish('bridge/health', h, { qos: 0 }))
        .catch(() => undefined);
    }, config.health_interval_s * 1000);
    health.unref();
    log.info(
      {
        base_topic: config.mqtt.base_topic,
        url,
        device_id: config.device_id,
        model_sha256: auditor.info.model.sha256,
        attack_id: auditor.info.attack.id,
      },
      'daemon started',
    );

    let stopping: Promise<void> | undefined;
    const stop = (): Promise<void> =>
      (stopping ??= (async () => {
        log.info('stopping: intake closed');
        clearInterval(health);
        await spool?.stop();
        await handler.stop();
        const left = await queue.close();
        for (const job of left)
          await service.commit(job, undefined, { code: 'stopping', message: new StoppingError().message });
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
    return Object.assign(emitter, { config, db, link, broker, auditor, queue, relay, stop });
  } catch (err) {
    await unwind();
    throw err;
  }
}

/** Publish the latest stored verdict of each speaker as its retained state (not through the outbox). */
async function restoreSpeakerStates(db: Db, link: MqttLink, log: Logger): Promise<void> {
  const latest = await latestVerdicts(db);
  for (const a of latest) {
    const state: SpeakerState = {
      verdict: a.verdict as SpeakerState['verdict'],
      probability: a.probability as number,
      threshold: a.threshold as number,
      target_fpr: a.target_fpr as number,
      voices: a.voices as number,
      queries: a.queries as number,
      model_sha256: a.model_sha256 as string,
      attack_id: a.attack_id as string,
      audited_at: a.audited_at,
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
