/**
 * The fleet model: every hub seen under the subscribed topics, kept in memory for the overview and written to
 * the fleet store. {@link Fleet.handle} takes one MQTT message (topic, payload) and updates hub state, verdict
 * history, health samples and tracked audits; each change is emitted as a {@link FleetChange} for the live
 * page (Server-Sent Events) and counted for /metrics.
 */
import { EventEmitter } from 'node:events';
import {
  EventSchema,
  HealthSchema,
  InfoSchema,
  parseHubTopic,
  parsePayload,
  RequestSeenSchema,
  ResponseSchema,
  StateSchema,
  VerdictSchema,
  type VerdictPayload,
} from './payloads.js';
import type { AuditUpdate, FleetStore, HubRow } from './store.js';

/** A hub as the overview shows it. */
export interface HubView extends HubRow {
  /** Speakers with a verdict. */
  speakers: number;
  /** Latest verdict time seen (any speaker). */
  last_verdict_at: string | null;
}

/** What changed (the page re-renders that part). */
export type FleetChange =
  | { type: 'hub'; base: string }
  | { type: 'verdict'; base: string; speaker: string; verdict: VerdictPayload }
  | { type: 'audit'; base: string; transaction: string };

/** Counters the fleet feeds (src/fleet/metrics.ts implements them with prom-client). */
export interface FleetCounters {
  /** One response seen: `verdict` is the verdict, or `error`. */
  response(base: string, verdict: string): void;
  /** Audit wall time on the hub (queued → done), seconds. */
  duration(seconds: number): void;
  /** One message received (parsed or not). */
  message(accepted: boolean): void;
}

/** Most in-flight audits whose `queued` time is remembered (for the duration histogram). */
const MAX_IN_FLIGHT = 10_000;

/** The in-memory fleet, backed by a {@link FleetStore}. */
export class Fleet extends EventEmitter<{ change: [FleetChange] }> {
  readonly hubs = new Map<string, HubView>();
  private readonly speakerIds = new Map<string, Set<string>>();
  private readonly queuedAt = new Map<string, number>();
  private readonly lastSample = new Map<string, number>();

  constructor(
    readonly store: FleetStore,
    private readonly opts: { healthSampleS: number; counters?: FleetCounters },
  ) {
    super();
    this.setMaxListeners(0);
  }

  /** Load hubs and per-hub speaker counts from the store (call once before {@link handle}). */
  async load(): Promise<void> {
    for (const h of await this.store.hubs())
      this.hubs.set(h.base, { ...h, speakers: 0, last_verdict_at: null });
    const rows = await this.store.db.all<{ base: string; speaker: string; at: string }>(
      'SELECT base, speaker, MAX(audited_at) AS at FROM verdicts GROUP BY base, speaker',
    );
    for (const r of rows) this.noteSpeaker(r.base, r.speaker, r.at);
  }

  /** Hubs sorted by base topic. */
  list(): HubView[] {
    return [...this.hubs.values()].sort((a, b) => (a.base < b.base ? -1 : a.base > b.base ? 1 : 0));
  }

  private hub(base: string, now: string): HubView {
    let h = this.hubs.get(base);
    if (!h) {
      h = {
        base,
        device_id: null,
        state: null,
        state_at: null,
        info: null,
        health: null,
        health_at: null,
        first_seen: now,
        last_seen: now,
        speakers: 0,
        last_verdict_at: null,
      };
      this.hubs.set(base, h);
    }
    h.last_seen = now;
    return h;
  }

  private noteSpeaker(base: string, speaker: string, at: string): void {
    let ids = this.speakerIds.get(base);
    if (!ids) this.speakerIds.set(base, (ids = new Set()));
    ids.add(speaker);
    const h = this.hubs.get(base);
    if (!h) return;
    h.speakers = ids.size;
    if (!h.last_verdict_at || at > h.last_verdict_at) h.last_verdict_at = at;
  }

  private saveHub(h: HubView): void {
    const { speakers: _s, last_verdict_at: _l, ...row } = h;
    this.store.saveHub(row);
    this.emit('change', { type: 'hub', base: h.base });
  }

  /**
   * Take one MQTT message. Unknown topics and payloads that do not match the contract are ignored (counted as
   * rejected). `retained` marks a message the broker replayed from its store.
   * @returns whether the message was used
   */
  handle(topic: string, payload: Buffer, retained: boolean, now = new Date()): boolean {
    const ok = this.dispatch(topic, payload, retained, now.toISOString());
    this.opts.counters?.message(ok);
    return ok;
  }

  private dispatch(topic: string, payload: Buffer, retained: boolean, now: string): boolean {
    const t = parseHubTopic(topic);
    if (!t) return false;
    switch (t.kind) {
      case 'state': {
        const p = parsePayload(StateSchema, payload);
        if (!p) return false;
        const h = this.hub(t.base, now);
        if (h.state !== p.state) {
          // A retained state replayed at our start-up tells the state, not when it began.
          h.state_at = retained && h.state === null ? null : now;
          h.state = p.state;
        }
        this.saveHub(h);
        return true;
      }
      case 'info': {
        const p = parsePayload(InfoSchema, payload);
        if (!p) return false;
        const h = this.hub(t.base, now);
        h.info = p;
        h.device_id = p.device_id ?? h.device_id;
        this.saveHub(h);
        return true;
      }
      case 'health': {
        const p = parsePayload(HealthSchema, payload);
        if (!p) return false;
        const h = this.hub(t.base, now);
        h.health = p;
        h.health_at = now;
        // Health is only published while the hub is connected: it is online even if its state was missed.
        if (h.state !== 'online') {
          h.state = 'online';
          h.state_at = now;
        }
        this.saveHub(h);
        const last = this.lastSample.get(t.base) ?? 0;
        const at = Date.parse(now);
        if (at - last >= this.opts.healthSampleS * 1000) {
          this.lastSample.set(t.base, at);
          this.store.addHealth(t.base, {
            at: now,
            state: p.state ?? p.status ?? null,
            uptime_s: p.uptime_s ?? null,
            queue_depth: p.queue_depth ?? null,
            outbox_size: p.outbox_size ?? null,
            rss_mb: p.process?.rss_mb ?? null,
            busy: p.busy === undefined ? null : Number(p.busy),
          });
        }
        return true;
      }
      case 'speaker': {
        const p = parsePayload(VerdictSchema, payload);
        if (!p) return false;
        this.verdict(t.base, t.speaker, p, null, now);
        return true;
      }
      case 'response':
        return this.response(t.base, payload, now);
      case 'event': {
        const p = parsePayload(EventSchema, payload);
        if (!p) return false;
        this.event(t.base, p, now);
        return true;
      }
      case 'request': {
        const p = parsePayload(RequestSeenSchema, payload);
        if (!p || p.transaction === undefined) return false;
        this.trackAudit({
          base: t.base,
          transaction_id: String(p.transaction),
          stage: 'requested',
          speaker: p.speaker,
          requested_at: now,
          updated_at: now,
        });
        return true;
      }
    }
  }

  private verdict(base: string, speaker: string, v: VerdictPayload, tx: string | null, now: string): void {
    this.hub(base, now);
    this.store.addVerdict(base, speaker, v, tx, now);
    this.noteSpeaker(base, speaker, v.audited_at);
    this.emit('change', { type: 'verdict', base, speaker, verdict: v });
    this.emit('change', { type: 'hub', base });
  }

  private response(base: string, payload: Buffer, now: string): boolean {
    const p = parsePayload(ResponseSchema, payload);
    if (!p) return false;
    if (p.status === 'ok') {
      const { speaker, ...v } = p.data;
      const tx = String(p.transaction);
      this.verdict(base, speaker, v, tx, now);
      this.trackAudit({
        base,
        transaction_id: tx,
        stage: 'answered',
        status: 'ok',
        speaker,
        verdict: v.verdict,
        probability: v.probability ?? null,
        p_value: v.p_value ?? null,
        updated_at: now,
      });
      this.opts.counters?.response(base, v.verdict);
    } else {
      this.opts.counters?.response(base, 'error');
      if (p.transaction === null) return true;
      this.trackAudit({
        base,
        transaction_id: String(p.transaction),
        stage: 'answered',
        status: 'error',
        error_code: p.code,
        error: p.error,
        updated_at: now,
      });
    }
    return true;
  }

  private event(base: string, e: ReturnType<typeof EventSchema.parse>, now: string): void {
    const tx = String(e.transaction);
    const key = `${base}\n${tx}`;
    const hubAt = e.at && Number.isFinite(Date.parse(e.at)) ? e.at : now;
    const update: AuditUpdate = { base, transaction_id: tx, stage: e.type, updated_at: now };
    if (e.speaker) update.speaker = e.speaker;
    if (e.source) update.source = e.source;
    if (e.type === 'queued') {
      update.queued_at = hubAt;
      if (this.queuedAt.size >= MAX_IN_FLIGHT) {
        const oldest = this.queuedAt.keys().next().value;
        if (oldest !== undefined) this.queuedAt.delete(oldest);
      }
      this.queuedAt.set(key, Date.parse(hubAt));
    }
    if (e.type === 'done' || e.type === 'failed') {
      update.done_at = hubAt;
      const q = this.queuedAt.get(key);
      this.queuedAt.delete(key);
      if (q !== undefined && e.type === 'done') this.opts.counters?.duration((Date.parse(hubAt) - q) / 1000);
    }
    this.trackAudit(update);
  }

  /** Record a request made from the page (before it is published). */
  requested(base: string, transaction: string, speaker: string, now = new Date().toISOString()): void {
    this.trackAudit({
      base,
      transaction_id: transaction,
      stage: 'requested',
      speaker,
      from_fleet: 1,
      requested_at: now,
      updated_at: now,
    });
  }

  private trackAudit(a: AuditUpdate): void {
    this.store.updateAudit(a);
    this.emit('change', { type: 'audit', base: a.base, transaction: a.transaction_id });
  }
}
