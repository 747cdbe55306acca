/**
 * The fleet web service (Hono): server-rendered pages, live fragments over Server-Sent Events, a small JSON
 * API (the page's audit form uses the same route), static assets from the package (uPlot from node_modules,
 * nothing from a CDN) and Prometheus `/metrics`. Optional bearer-token / basic auth guards every route.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { serveStatic } from '@hono/node-server/serve-static';
import { Hono, type Context } from 'hono';
import { basicAuth } from 'hono/basic-auth';
import { bearerAuth } from 'hono/bearer-auth';
import { bodyLimit } from 'hono/body-limit';
import { some } from 'hono/combine';
import { csrf } from 'hono/csrf';
import { secureHeaders } from 'hono/secure-headers';
import { streamSSE, type SSEStreamingApi } from 'hono/streaming';
import { SPEAKER_ID } from '../../daemon/config.js';
import { projectRoot } from '../../paths.js';
import { AuditRequestSchema, MAX_REQUEST_BYTES, type AuditRequest } from '../../publish/topics.js';
import type { FleetConfig } from '../config.js';
import type { Fleet, FleetChange } from '../fleet.js';
import type { FleetMetrics } from '../metrics.js';
import type { FleetLink } from '../mqtt.js';
import type { Reports } from '../reports.js';
import type { VerdictRow } from '../store.js';
import {
  auditPage,
  auditRow,
  chartData,
  domId,
  errorPage,
  fleetSummary,
  hubHref,
  hubPage,
  hubRow,
  hubStatus,
  overviewPage,
  reportPage,
  speakerPage,
  speakerRow,
} from './pages.js';

/** What the routes need. */
export interface AppDeps {
  config: FleetConfig;
  fleet: Fleet;
  link: FleetLink;
  reports: Reports;
  metrics: FleetMetrics;
  /** Called with a function that ends the stream; the service ends all streams on stop. */
  onStream?: (end: () => void) => () => void;
}

/** Live fragments are coalesced and sent at most this often, ms. */
const COALESCE_MS = 200;
/** SSE keep-alive period, ms. */
const PING_MS = 20_000;
/** How long a request publish may wait for the broker's PUBACK, ms. */
const PUBLISH_TIMEOUT_MS = 10_000;

/** The folder of the page's own script and stylesheet. */
export const assetsDir = resolve(projectRoot, 'src', 'fleet', 'assets');
const uplotDir = dirname(createRequire(import.meta.url).resolve('uplot'));

/** A bad audit request from the page; the message names the field. */
class FormError extends Error {}

/** Build the audit request from the form or JSON body. */
function auditRequestOf(body: Record<string, unknown>, transaction: string): AuditRequest {
  const speaker = String(body.speaker ?? '').trim();
  if (!SPEAKER_ID.test(speaker))
    throw new FormError('speaker: 1-64 letters, digits, _ . - (and not "bridge") expected');
  const files = Array.isArray(body.files)
    ? body.files.map(String)
    : String(body.files ?? '')
        .split(/\r?\n/)
        .map((l) => l.trim())
        .filter(Boolean);
  const rec = (body.record ?? {}) as Record<string, unknown>;
  const utterances = Number(body.utterances ?? rec.utterances ?? NaN);
  const seconds = Number(body.seconds ?? rec.seconds ?? NaN);
  const hasRecord = String(body.utterances ?? rec.utterances ?? '') !== '';
  if (files.length > 0 && hasRecord) throw new FormError('give either files or a recording, not both');
  const req: AuditRequest =
    files.length > 0
      ? { transaction, speaker, files }
      : hasRecord
        ? { transaction, speaker, record: { utterances, seconds } }
        : (() => {
            throw new FormError('files: at least one path (or utterances and seconds to record) expected');
          })();
  const parsed = AuditRequestSchema.safeParse(req);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new FormError(`${issue?.path.join('.') || 'request'}: ${issue?.message ?? 'invalid'}`);
  }
  return parsed.data;
}

/** Run `fn` over a coalesced set of keys at most every {@link COALESCE_MS}. */
function coalescer<K>(fn: (keys: K[]) => Promise<void>): { add(k: K): void; stop(): void } {
  const keys = new Set<K>();
  let timer: NodeJS.Timeout | undefined;
  let busy = Promise.resolve();
  return {
    add(k) {
      keys.add(k);
      timer ??= setTimeout(() => {
        timer = undefined;
        const batch = [...keys];
        keys.clear();
        busy = busy.then(() => fn(batch)).catch(() => undefined);
      }, COALESCE_MS);
    },
    stop() {
      if (timer) clearTimeout(timer);
    },
  };
}

/** Build the Hono app. */
export function createApp(d: AppDeps): Hono {
  const { config, fleet, link, reports, metrics } = d;
  const store = fleet.store;
  const app = new Hono();

  app.use(
    secureHeaders({
      contentSecurityPolicy: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'"],
        imgSrc: ["'self'", 'data:'],
        connectSrc: ["'self'"],
        frameAncestors: ["'none'"],
      },
    }),
  );
  const { token, password, username } = config.http;
  if (token || password) {
    const realm = 'slmia fleet';
    const guards = [
      ...(token ? [bearerAuth({ token })] : []),
      basicAuth({
        realm,
        verifyUser: (u, p) =>
          (token !== undefined && p === token) ||
          (password !== undefined && u === username && p === password),
      }),
    ];
    app.use(some(...guards));
  }

  app.use(
    '/assets/vendor/*',
    serveStatic({ root: uplotDir, rewriteRequestPath: (p) => p.slice('/assets/vendor'.length) }),
  );
  app.use(
    '/assets/*',
    serveStatic({ root: assetsDir, rewriteRequestPath: (p) => p.slice('/assets'.length) }),
  );

  const hubOr404 = (c: Context) => {
    const base = c.req.param('id') as string;
    return fleet.hubs.get(base);
  };
  const notFound = (c: Context, what: string) =>
    c.req.path.startsWith('/api/')
      ? c.json({ error: `${what} not found` }, 404)
      : c.html(errorPage('Not found', `${what} not found.`), 404);

  // Pages.
  app.get('/', (c) => c.html(overviewPage(fleet.list(), link.client.connected)));
  app.get('/hubs/:id', async (c) => {
    const hub = hubOr404(c);
    if (!hub) return notFound(c, `hub "${c.req.param('id')}"`);
    return c.html(
      hubPage({
        hub,
        speakers: await store.speakers(hub.base),
        histories: await store.histories(hub.base, 50),
        audits: await store.audits(hub.base, 20),
        health: await store.healthSeries(hub.base, new Date(Date.now() - 86_400_000).toISOString()),
        report: reports.forHub(hub.info?.attack?.id, hub.info?.model?.sha256),
      }),
    );
  });
  app.get('/hubs/:id/speakers/:speaker', async (c) => {
    const hub = hubOr404(c);
    if (!hub) return notFound(c, `hub "${c.req.param('id')}"`);
    const speaker = c.req.param('speaker');
    const rows = await store.history(hub.base, speaker, 500);
    if (rows.length === 0) return notFound(c, `speaker "${speaker}"`);
    return c.html(speakerPage(hub, speaker, rows));
  });
  app.get('/hubs/:id/audits/:tx', async (c) => {
    const hub = hubOr404(c);
    if (!hub) return notFound(c, `hub "${c.req.param('id')}"`);
    const a = await store.audit(hub.base, c.req.param('tx'));
    return a ? c.html(auditPage(hub, a)) : notFound(c, `audit "${c.req.param('tx')}"`);
  });
  app.get('/reports/:name', (c) => {
    const r = reports.get(c.req.param('name'));
    return r ? c.html(reportPage(r)) : notFound(c, `report "${c.req.param('name')}"`);
  });
  app.get('/reports/:name/roc.svg', (c) => {
    const r = reports.get(c.req.param('name'));
    if (!r?.roc) return notFound(c, 'ROC curve');
    return c.body(readFileSync(join(r.dir, 'roc.svg')), 200, { 'content-type': 'image/svg+xml' });
  });

  // Audit requests: the page's form (urlencoded, redirect) and JSON clients share one route.
  const requestAudit = async (c: Context, api: boolean) => {
    const json = api || (c.req.header('accept') ?? '').includes('application/json');
    const hub = hubOr404(c);
    if (!hub) return notFound(c, `hub "${c.req.param('id')}"`);
    const fail = (status: 400 | 503 | 504, message: string) =>
      json ? c.json({ error: message }, status) : c.html(errorPage('Audit not requested', message), status);
    const isJson = (c.req.header('content-type') ?? '').includes('application/json');
    let body: Record<string, unknown>;
    try {
      body = isJson ? ((await c.req.json()) as Record<string, unknown>) : await c.req.parseBody();
    } catch {
      return fail(400, 'body: JSON or form fields expected');
    }
    const transaction = `fleet-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
    let request: AuditRequest;
    try {
      request = auditRequestOf(body, transaction);
    } catch (err) {
      if (err instanceof FormError) return fail(400, err.message);
      throw err;
    }
    const maxFiles = hub.info?.limits?.max_files;
    if (request.files && maxFiles !== undefined && request.files.length > maxFiles)
      return fail(400, `files: at most ${maxFiles} on this hub (${request.files.length} given)`);
    if (!link.client.connected) return fail(503, 'the fleet is not connected to the MQTT broker; try again');
    fleet.requested(hub.base, transaction, request.speaker);
    const sent = await Promise.race([
      link.requestAudit(hub.base, request).then(() => true),
      new Promise<false>((r) => setTimeout(() => r(false), PUBLISH_TIMEOUT_MS).unref()),
    ]);
    if (!sent) return fail(504, 'the broker did not acknowledge the request in time');
    const statusUrl = `${hubHref(hub.base)}/audits/${encodeURIComponent(transaction)}`;
    return json
      ? c.json({ transaction, hub: hub.base, status_url: statusUrl }, 202)
      : c.redirect(statusUrl, 303);
  };
  const limit = bodyLimit({ maxSize: MAX_REQUEST_BYTES });
  app.post('/hubs/:id/audits', csrf(), limit, (c) => requestAudit(c, false));
  app.post('/api/hubs/:id/audits', csrf(), limit, (c) => requestAudit(c, true));

  // JSON API.
  app.get('/api/hubs', (c) => c.json(fleet.list()));
  app.get('/api/hubs/:id', async (c) => {
    const hub = hubOr404(c);
    if (!hub) return notFound(c, `hub "${c.req.param('id')}"`);
    return c.json({
      ...hub,
      speaker_states: await store.speakers(hub.base),
      audits: await store.audits(hub.base, 50),
    });
  });
  app.get('/api/hubs/:id/audits/:tx', async (c) => {
    const hub = hubOr404(c);
    if (!hub) return notFound(c, `hub "${c.req.param('id')}"`);
    const a = await store.audit(hub.base, c.req.param('tx'));
    return a ? c.json(a) : notFound(c, `audit "${c.req.param('tx')}"`);
  });
  app.get('/api/hubs/:id/speakers/:speaker', async (c) => {
    const hub = hubOr404(c);
    if (!hub) return notFound(c, `hub "${c.req.param('id')}"`);
    return c.json(await store.history(hub.base, c.req.param('speaker'), 500));
  });
  app.get('/api/stats', async (c) => {
    return c.json({
      mqtt_connected: link.client.connected,
      hubs_in_memory: fleet.hubs.size,
      ...(await store.counts()),
    });
  });

  app.get('/metrics', async (c) =>
    c.body(await metrics.registry.metrics(), 200, { 'content-type': metrics.registry.contentType }),
  );

  // Live fragments.
  const live = (
    c: Context,
    run: (stream: SSEStreamingApi) => { onChange: (ch: FleetChange) => void; stop: () => void },
  ) =>
    streamSSE(c, async (stream) => {
      const { onChange, stop } = run(stream);
      const onLink = () => onChange({ type: 'hub', base: '' });
      fleet.on('change', onChange);
      link.client.on('connect', onLink);
      link.client.on('close', onLink);
      let end: () => void = () => undefined;
      const ended = new Promise<void>((res) => (end = res));
      const unregister = d.onStream?.(end) ?? (() => undefined);
      stream.onAbort(end);
      const ping = setInterval(() => void stream.writeSSE({ event: 'ping', data: '' }).catch(end), PING_MS);
      await stream.writeSSE({ event: 'hello', data: '' });
      await ended;
      clearInterval(ping);
      stop();
      unregister();
      fleet.off('change', onChange);
      link.client.off('connect', onLink);
      link.client.off('close', onLink);
    });
  const replace = (stream: SSEStreamingApi, id: string, html: string, into?: string) =>
    stream.writeSSE({ event: 'replace', data: JSON.stringify({ id, html, into }) });

  app.get('/events', (c) =>
    live(c, (stream) => {
      const rows = coalescer<string>(async (bases) => {
        for (const b of bases) {
          const hub = fleet.hubs.get(b);
          if (hub) await replace(stream, domId('hub', b), hubRow(hub).toString(), 'hubs-body');
        }
        await replace(stream, 'fleet-summary', fleetSummary(fleet.list(), link.client.connected).toString());
      });
      return { onChange: (ch) => ch.type === 'hub' && rows.add(ch.base), stop: rows.stop };
    }),
  );

  app.get('/hubs/:id/events', (c) => {
    const base = c.req.param('id');
    return live(c, (stream) => {
      const status = coalescer<string>(async () => {
        const hub = fleet.hubs.get(base);
        if (hub)
          await replace(
            stream,
            'hub-status',
            hubStatus(hub, reports.forHub(hub.info?.attack?.id, hub.info?.model?.sha256)).toString(),
          );
      });
      const audits = coalescer<string>(async (txs) => {
        for (const tx of txs) {
          const a = await store.audit(base, tx);
          if (a) await replace(stream, domId('audit', base, tx), auditRow(base, a).toString(), 'audits-body');
        }
      });
      const verdicts = new Map<string, VerdictRow>();
      const speakers = coalescer<string>(async (ids) => {
        for (const s of ids) {
          const v = verdicts.get(s);
          verdicts.delete(s);
          if (!v) continue;
          await replace(stream, domId('speaker', base, s), speakerRow(base, v).toString(), 'speakers-body');
          await stream.writeSSE({
            event: 'point',
            data: JSON.stringify({ id: domId('chart', base, s), speaker: s, ...chartData([v])[s] }),
          });
        }
      });
      return {
        onChange: (ch) => {
          if (ch.type === 'hub' && (ch.base === base || ch.base === '')) status.add(base);
          else if (ch.base !== base) return;
          else if (ch.type === 'audit') audits.add(ch.transaction);
          else if (ch.type === 'verdict') {
            verdicts.set(ch.speaker, {
              id: 0,
              base,
              speaker: ch.speaker,
              transaction_id: null,
              received_at: '',
              ...ch.verdict,
              probability: ch.verdict.probability ?? null,
              threshold: ch.verdict.threshold ?? null,
              target_fpr: ch.verdict.target_fpr ?? null,
              p_value: ch.verdict.p_value ?? null,
              reason: ch.verdict.reason ?? null,
              voices: ch.verdict.voices ?? null,
              queries: ch.verdict.queries ?? null,
              model_sha256: ch.verdict.model_sha256 ?? null,
              attack_id: ch.verdict.attack_id ?? null,
            });
            speakers.add(ch.speaker);
          }
        },
        stop: () => {
          status.stop();
          audits.stop();
          speakers.stop();
        },
      };
    });
  });

  app.notFound((c) => notFound(c, `page ${c.req.path}`));
  return app;
}
