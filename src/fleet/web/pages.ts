/**
 * Server-rendered HTML of the fleet page (hono/html: every interpolated value is escaped). Pages are complete
 * and readable before any script runs; live updates replace the same fragments (table rows, the status panel)
 * by element id, rendered by these same functions and sent over Server-Sent Events.
 */
import { createHash } from 'node:crypto';
import { html, raw } from 'hono/html';
import type { HtmlEscapedString } from 'hono/utils/html';
import type { HubView } from '../fleet.js';
import type { Report } from '../reports.js';
import type { AuditRow, HealthSample, VerdictRow } from '../store.js';

type Html = HtmlEscapedString;
/** `html` without promises (no interpolated value here is a promise). */
const h = (s: TemplateStringsArray, ...v: unknown[]): Html => html(s, ...v) as Html;

/** A stable element id for a key of any characters (`prefix-<12 hex>`). */
export function domId(prefix: string, ...key: string[]): string {
  return `${prefix}-${createHash('sha1').update(key.join('\n')).digest('hex').slice(0, 12)}`;
}

/** Path of a hub's page. */
export const hubHref = (base: string): string => `/hubs/${encodeURIComponent(base)}`;

/** JSON for a `<script type="application/json">` block (no `</script>` break-out). */
export const jsonBlock = (v: unknown): Html => raw(JSON.stringify(v).replace(/</g, '\\u003c')) as Html;

function time(iso: string | null | undefined): Html | string {
  if (!iso) return '—';
  const d = new Date(iso);
  if (!Number.isFinite(d.getTime())) return iso;
  return h`<time datetime="${d.toISOString()}">${d.toISOString().slice(0, 19).replace('T', ' ')}Z</time>`;
}

function num(x: number | null | undefined, digits = 3): string {
  return x === null || x === undefined || !Number.isFinite(x) ? '—' : x.toFixed(digits);
}

/**
 * A p-value as the CLI prints it (src/cli/audit.ts `formatP`): 3 significant digits, `< 1e-6` below, `—` when
 * absent (audits stored before p-values existed). Fixed decimals would print a strong member's p = 3e-7 as 0.0000.
 */
export function pValue(x: number | null | undefined): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return '—';
  return x < 1e-6 ? '< 1e-6' : x.toPrecision(3);
}

function int(x: number | null | undefined): string {
  return x === null || x === undefined || !Number.isFinite(x) ? '—' : String(Math.round(x));
}

/** `93 s`, `12 min`, `5.2 h`, `3.1 d`. */
export function duration(s: number | null | undefined): string {
  if (s === null || s === undefined || !Number.isFinite(s)) return '—';
  if (s < 120) return `${Math.round(s)} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  if (s < 172_800) return `${(s / 3600).toFixed(1)} h`;
  return `${(s / 86_400).toFixed(1)} d`;
}

function verdictBadge(v: string | null | undefined): Html | string {
  if (!v) return '—';
  const known = ['member', 'non-member', 'inconclusive'].includes(v) ? v : 'other';
  return h`<span class="verdict verdict-${known}">${v}</span>`;
}

/** The hub's presence as the page shows it: online, offline, stale (online but no health for 3 periods). */
export function presence(hub: HubView, now = Date.now()): 'online' | 'offline' | 'stale' | 'unknown' {
  if (hub.state === 'offline') return 'offline';
  if (hub.state === null) return 'unknown';
  const period = hub.info?.config?.health_interval_s ?? 60;
  if (hub.health_at && now - Date.parse(hub.health_at) > (3 * period + 10) * 1000) return 'stale';
  return 'online';
}

/** The health status a hub reports when it is not `ok` (e.g. `degraded`), else undefined. */
function degradedOf(hub: HubView): string | undefined {
  const s = hub.health?.status ?? hub.health?.state;
  return s && s !== 'ok' && s !== 'online' ? s : undefined;
}

function presenceBadge(hub: HubView, now: number): Html {
  const p = presence(hub, now);
  const degraded = p === 'online' ? degradedOf(hub) : undefined;
  const codes = degraded ? (hub.health?.problems ?? []).map((x) => x.code).join(', ') : '';
  return h`<span class="state state-${degraded ? 'degraded' : p}">${degraded ?? p}</span>${
    codes ? h` <small class="error">${codes}</small>` : ''
  }${hub.state_at ? h` <small>since ${time(hub.state_at)}</small>` : ''}`;
}

function shortSha(sha: string | null | undefined): Html | string {
  return sha ? h`<code title="${sha}">${sha.slice(0, 12)}</code>` : '—';
}

function lastAudit(hub: HubView): Html | string {
  const la = hub.health?.last_audit;
  const at =
    la?.audited_at && (!hub.last_verdict_at || la.audited_at >= hub.last_verdict_at) ? la : undefined;
  if (at) return h`${time(at.audited_at)} <small>${at.speaker ?? ''} ${at.status ?? ''}</small>`;
  return time(hub.last_verdict_at);
}

/** Frame of every page. `events` is the Server-Sent Events URL the script listens to. */
export function layout(p: {
  title: string;
  body: Html;
  page: string;
  events?: string;
  charts?: boolean;
  refresh?: number;
}): Html {
  return h`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
${p.refresh ? h`<meta http-equiv="refresh" content="${p.refresh}">` : ''}
<title>${p.title} · slmia fleet</title>
<link rel="icon" href="/assets/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/assets/fleet.css">
${p.charts ? h`<link rel="stylesheet" href="/assets/vendor/uPlot.min.css">` : ''}
</head>
<body data-page="${p.page}"${p.events ? h` data-events="${p.events}"` : ''}>
<header class="top"><a class="brand" href="/">slmia fleet</a><span id="live" class="live" role="status" aria-live="polite"></span></header>
<main>
${p.body}
</main>
${p.charts ? h`<script src="/assets/vendor/uPlot.iife.min.js" defer></script>` : ''}
<script src="/assets/fleet.js" defer></script>
</body>
</html>`;
}

/** Counts line of the overview. */
export function fleetSummary(hubs: HubView[], broker: boolean, now = Date.now()): Html {
  const n = { online: 0, offline: 0, stale: 0, unknown: 0 };
  for (const hub of hubs) n[presence(hub, now)]++;
  return h`<p id="fleet-summary" class="summary">${hubs.length} ${hubs.length === 1 ? 'hub' : 'hubs'}: <strong>${n.online} online</strong>, ${n.offline} offline${
    n.stale ? h`, ${n.stale} stale` : ''
  }${n.unknown ? h`, ${n.unknown} unknown` : ''}. Broker: <span class="${broker ? 'ok' : 'bad'}">${
    broker ? 'connected' : 'disconnected'
  }</span>.</p>`;
}

/** One row of the hubs table. */
export function hubRow(hub: HubView, now = Date.now()): Html {
  const he = hub.health;
  const online = hub.state === 'online';
  return h`<tr id="${domId('hub', hub.base)}" data-hub="${hub.base}">
<th scope="row" data-label="Hub"><a href="${hubHref(hub.base)}">${hub.device_id ?? hub.base}</a><br><small>${hub.base}</small></th>
<td data-label="State">${presenceBadge(hub, now)}</td>
<td data-label="Model">${hub.info?.model?.name ?? '—'} <small>${hub.info?.model?.architecture ?? ''}</small><br>${shortSha(hub.info?.model?.sha256)}</td>
<td data-label="Attack bundle"><code>${hub.info?.attack?.id ?? '—'}</code></td>
<td data-label="Last audit">${lastAudit(hub)}</td>
<td data-label="Queue" class="n">${online ? int(he?.queue_depth) : '—'}</td>
<td data-label="Outbox" class="n">${online ? int(he?.outbox_size) : '—'}</td>
<td data-label="RSS" class="n">${online && he?.process?.rss_mb !== undefined ? `${num(he.process.rss_mb, 0)} MB` : '—'}</td>
<td data-label="Uptime" class="n">${online ? duration(he?.uptime_s) : '—'}</td>
<td data-label="Speakers" class="n">${hub.speakers}</td>
</tr>`;
}

/** The fleet overview. */
export function overviewPage(hubs: HubView[], broker: boolean, now = Date.now()): Html {
  return layout({
    title: 'Fleet',
    page: 'overview',
    events: '/events',
    body: h`<h1>Fleet</h1>
${fleetSummary(hubs, broker, now)}
<div class="scroll">
<table class="hubs" aria-label="Hubs">
<thead><tr><th scope="col">Hub</th><th scope="col">State</th><th scope="col">Model</th><th scope="col">Attack bundle</th><th scope="col">Last audit</th><th scope="col">Queue</th><th scope="col">Outbox</th><th scope="col">RSS</th><th scope="col">Uptime</th><th scope="col">Speakers</th></tr></thead>
<tbody id="hubs-body">
${hubs.map((hub) => hubRow(hub, now))}
</tbody>
</table>
</div>
${hubs.length === 0 ? h`<p class="empty">No hub seen yet. Hubs appear when their retained <code>bridge/info</code> or <code>bridge/state</code> arrives under the subscribed topics.</p>` : ''}`,
  });
}

/** The status panel of a hub page. */
export function hubStatus(
  hub: HubView,
  report: { report: Report; exact: boolean } | undefined,
  now = Date.now(),
): Html {
  const he = hub.health;
  const i = hub.info;
  const item = (k: string, v: Html | string): Html => h`<div><dt>${k}</dt><dd>${v}</dd></div>`;
  return h`<section id="hub-status" aria-label="Hub status" class="status">
<dl>
${item('State', presenceBadge(hub, now))}
${item('Base topic', h`<code>${hub.base}</code>`)}
${item('Version', i?.version ?? '—')}
${item('Model', h`${i?.model?.name ?? '—'} <small>${i?.model?.architecture ?? ''}</small>`)}
${item('Model sha256', shortSha(i?.model?.sha256))}
${item('Attack bundle', h`<code>${i?.attack?.id ?? '—'}</code>`)}
${item(
  'Evaluation report',
  report
    ? h`<a href="/reports/${encodeURIComponent(report.report.name)}">${report.report.name}</a>${report.exact ? '' : h` <small>(same bundle, another target model)</small>`}`
    : '—',
)}
${item('Last audit', lastAudit(hub))}
${item('Queue depth', hub.state === 'online' ? int(he?.queue_depth) : '—')}
${item('Outbox', hub.state === 'online' ? int(he?.outbox_size) : '—')}
${item('RSS', he?.process?.rss_mb !== undefined ? `${num(he.process.rss_mb, 0)} MB` : '—')}
${item('Uptime', hub.state === 'online' ? duration(he?.uptime_s) : '—')}
${item('Last health', time(hub.health_at))}
${
  hub.health?.problems?.length
    ? item(
        'Problems',
        h`${hub.health.problems.map((x) => h`<code>${x.code}</code> ${x.message ?? ''}${x.since ? h` <small>since ${time(x.since)}</small>` : ''}<br>`)}`,
      )
    : ''
}
${item('Pending requests', hub.state === 'online' ? int(he?.pending_requests) : '—')}
${item('Broker link (hub)', he?.mqtt ? `${he.mqtt.connected ? 'connected' : 'down'}, ${int(he.mqtt.reconnects)} reconnects` : '—')}
</dl>
</section>`;
}

/** One row of a hub's speakers table. */
export function speakerRow(base: string, v: VerdictRow): Html {
  return h`<tr id="${domId('speaker', base, v.speaker)}" data-speaker="${v.speaker}">
<th scope="row" data-label="Speaker"><a href="${hubHref(base)}/speakers/${encodeURIComponent(v.speaker)}">${v.speaker}</a></th>
<td data-label="Verdict">${verdictBadge(v.verdict)}${v.reason ? h`<br><small>${v.reason}</small>` : ''}</td>
<td data-label="Probability" class="n">${num(v.probability)}</td>
<td data-label="Threshold" class="n">${num(v.threshold)}</td>
<td data-label="Target FPR" class="n">${num(v.target_fpr, 3)}</td>
<td data-label="p-value" class="n">${pValue(v.p_value)}</td>
<td data-label="Voices" class="n">${int(v.voices)}</td>
<td data-label="Queries" class="n">${int(v.queries)}</td>
<td data-label="Audited at">${time(v.audited_at)}</td>
</tr>`;
}

function speakersTable(base: string, rows: VerdictRow[]): Html {
  return h`<div class="scroll">
<table class="speakers" aria-label="Speakers">
<thead><tr><th scope="col">Speaker</th><th scope="col">Verdict</th><th scope="col">Probability</th><th scope="col">Threshold</th><th scope="col">Target FPR</th><th scope="col">p-value</th><th scope="col">Voices</th><th scope="col">Queries</th><th scope="col">Audited at</th></tr></thead>
<tbody id="speakers-body">
${rows.map((v) => speakerRow(base, v))}
</tbody>
</table>
</div>`;
}

/** One row of a hub's audits table. */
export function auditRow(base: string, a: AuditRow): Html {
  const result =
    a.status === 'ok'
      ? h`${verdictBadge(a.verdict)} <small>probability ${num(a.probability)}${a.p_value !== null ? h`, p-value ${pValue(a.p_value)}` : ''}</small>`
      : a.status === 'error'
        ? h`<span class="error">${a.error_code ?? 'error'}</span> <small>${a.error ?? ''}</small>`
        : a.status === 'unanswered'
          ? h`<span class="error">no answer</span>`
          : h`<span class="pending">${a.stage}…</span>`;
  return h`<tr id="${domId('audit', base, a.transaction_id)}" data-transaction="${a.transaction_id}" data-status="${a.status}">
<td data-label="Transaction"><a href="${hubHref(base)}/audits/${encodeURIComponent(a.transaction_id)}"><code>${a.transaction_id}</code></a>${a.from_fleet ? h` <small>(this page)</small>` : ''}</td>
<td data-label="Speaker">${a.speaker ?? '—'}</td>
<td data-label="Stage">${a.stage}</td>
<td data-label="Result">${result}</td>
<td data-label="Updated">${time(a.updated_at)}</td>
</tr>`;
}

function auditsTable(base: string, rows: AuditRow[]): Html {
  return h`<div class="scroll">
<table class="audits" aria-label="Audits">
<thead><tr><th scope="col">Transaction</th><th scope="col">Speaker</th><th scope="col">Stage</th><th scope="col">Result</th><th scope="col">Updated</th></tr></thead>
<tbody id="audits-body">
${rows.map((a) => auditRow(base, a))}
</tbody>
</table>
</div>`;
}

function auditForm(
  base: string,
  online: boolean,
  limits?: { max_files?: number; max_seconds?: number },
): Html {
  return h`<form id="audit-form" class="audit-form" method="post" action="${hubHref(base)}/audits" aria-label="Request an audit">
<label>Speaker id <input name="speaker" required pattern="[A-Za-z0-9_.\\-]{1,64}" autocomplete="off" placeholder="SPEAKER0042"></label>
<label>Audio files on the hub <small>(one path per line; relative paths are under the hub's files.root${
    limits?.max_files !== undefined ? h`; at most ${limits.max_files} files` : ''
  }${limits?.max_seconds !== undefined ? h`, ${limits.max_seconds} s of audio` : ''})</small>
<textarea name="files" rows="3" placeholder="speechocean762/audio/SPEAKER0042"></textarea></label>
<fieldset><legend>…or record from the hub's microphone</legend>
<label>Utterances <input name="utterances" type="number" min="1" max="20" inputmode="numeric"></label>
<label>Seconds each <input name="seconds" type="number" min="0.5" max="10" step="0.5" inputmode="decimal"></label>
</fieldset>
<button type="submit">Request audit</button>${online ? '' : h` <small class="error">the hub is not online: the request waits on the broker only if the hub keeps a persistent session</small>`}
<p id="audit-result" role="status" aria-live="polite"></p>
</form>`;
}

/** One speaker's history for the page script's chart (one entry per audit, in time order). */
export interface ChartSeries {
  /** Audit times, unix seconds. */
  t: number[];
  /** Member probability of the conclusive audits (`member` / `non-member`); null where inconclusive. */
  p: (number | null)[];
  /** Member probability of the `inconclusive` audits (drawn as grey points, no line); null elsewhere. */
  inc: (number | null)[];
  /** The decision threshold of each audit (it depends on the number of voices: per-n null). */
  thr: (number | null)[];
}

/** Chart data for the page script, per speaker (see {@link ChartSeries}). */
export function chartData(rows: VerdictRow[]): Record<string, ChartSeries> {
  const out: Record<string, ChartSeries> = {};
  for (const v of rows) {
    const s = (out[v.speaker] ??= { t: [], p: [], inc: [], thr: [] });
    const inconclusive = v.verdict === 'inconclusive';
    s.t.push(Date.parse(v.audited_at) / 1000);
    s.p.push(inconclusive ? null : v.probability);
    s.inc.push(inconclusive ? v.probability : null);
    s.thr.push(v.threshold);
  }
  return out;
}

/** A hub's page. */
export function hubPage(d: {
  hub: HubView;
  speakers: VerdictRow[];
  histories: VerdictRow[];
  audits: AuditRow[];
  health: HealthSample[];
  report: { report: Report; exact: boolean } | undefined;
  now?: number;
}): Html {
  const { hub } = d;
  const charts = chartData(d.histories);
  const healthData = {
    t: d.health.map((s) => Date.parse(s.at) / 1000),
    rss: d.health.map((s) => s.rss_mb),
    queue: d.health.map((s) => s.queue_depth),
  };
  return layout({
    title: hub.device_id ?? hub.base,
    page: 'hub',
    events: `${hubHref(hub.base)}/events`,
    charts: true,
    body: h`<nav class="crumbs"><a href="/">Fleet</a> › ${hub.device_id ?? hub.base}</nav>
<h1>Hub ${hub.device_id ?? hub.base}</h1>
${hubStatus(hub, d.report, d.now)}
<section aria-labelledby="h-request"><h2 id="h-request">Request an audit</h2>
${auditForm(hub.base, hub.state === 'online', hub.info?.limits)}
</section>
<section aria-labelledby="h-audits"><h2 id="h-audits">Audits</h2>
${auditsTable(hub.base, d.audits)}
</section>
<section aria-labelledby="h-speakers"><h2 id="h-speakers">Speakers</h2>
${speakersTable(hub.base, d.speakers)}
${d.speakers.length === 0 ? h`<p class="empty">No verdict yet.</p>` : ''}
</section>
<section aria-labelledby="h-history"><h2 id="h-history">History</h2>
<p><small>Member probability of each audit (grey points: inconclusive); the dashed line is each audit's decision threshold (it depends on the number of voices).</small></p>
<div id="charts" class="charts">
${Object.keys(charts).map(
  (s) =>
    h`<figure class="chart" id="${domId('chart', hub.base, s)}" data-speaker="${s}"><figcaption>${s}</figcaption><div class="plot"></div></figure>`,
)}
</div>
<figure class="chart wide" id="health-chart"><figcaption>Health: RSS (MB) and queue depth</figcaption><div class="plot"></div></figure>
<script type="application/json" id="history-data">${jsonBlock(charts)}</script>
<script type="application/json" id="health-data">${jsonBlock(healthData)}</script>
</section>`,
  });
}

/** One speaker's verdict history (table; works without scripts). */
export function speakerPage(hub: HubView, speaker: string, rows: VerdictRow[]): Html {
  return layout({
    title: `${speaker} on ${hub.device_id ?? hub.base}`,
    page: 'speaker',
    charts: true,
    body: h`<nav class="crumbs"><a href="/">Fleet</a> › <a href="${hubHref(hub.base)}">${hub.device_id ?? hub.base}</a> › ${speaker}</nav>
<h1>Speaker ${speaker}</h1>
<div id="charts" class="charts"><figure class="chart wide" data-speaker="${speaker}"><figcaption>${speaker}</figcaption><div class="plot"></div></figure></div>
<script type="application/json" id="history-data">${jsonBlock(chartData(rows))}</script>
<div class="scroll">
<table aria-label="Verdict history">
<thead><tr><th scope="col">Audited at</th><th scope="col">Verdict</th><th scope="col">Probability</th><th scope="col">Threshold</th><th scope="col">p-value</th><th scope="col">Voices</th><th scope="col">Queries</th><th scope="col">Transaction</th></tr></thead>
<tbody>
${[...rows]
  .reverse()
  .map(
    (v) =>
      h`<tr><td>${time(v.audited_at)}</td><td>${verdictBadge(v.verdict)}</td><td class="n">${num(v.probability)}</td><td class="n">${num(v.threshold)}</td><td class="n">${pValue(v.p_value)}</td><td class="n">${int(v.voices)}</td><td class="n">${int(v.queries)}</td><td><code>${v.transaction_id ?? '—'}</code></td></tr>`,
  )}
</tbody>
</table>
</div>`,
  });
}

/** One tracked audit (reloads itself every 2 s while pending, so it works without scripts). */
export function auditPage(hub: HubView, a: AuditRow): Html {
  return layout({
    title: `Audit ${a.transaction_id}`,
    page: 'audit',
    events: `${hubHref(hub.base)}/events`,
    ...(a.status === 'pending' && { refresh: 2 }),
    body: h`<nav class="crumbs"><a href="/">Fleet</a> › <a href="${hubHref(hub.base)}">${hub.device_id ?? hub.base}</a> › audit</nav>
<h1>Audit <code>${a.transaction_id}</code></h1>
<div class="scroll"><table class="audits" aria-label="Audits"><thead><tr><th scope="col">Transaction</th><th scope="col">Speaker</th><th scope="col">Stage</th><th scope="col">Result</th><th scope="col">Updated</th></tr></thead>
<tbody id="audits-body">${auditRow(hub.base, a)}</tbody></table></div>
<p><a href="${hubHref(hub.base)}">Back to the hub</a></p>`,
  });
}

const REPORT_COLUMNS: [string, string, number][] = [
  ['attack', 'attack', -1],
  ['r', 'r', -1],
  ['n', 'voices', -1],
  ['accuracy', 'accuracy', 3],
  ['auroc', 'AUROC', 3],
  ['auroc_ci95', 'AUROC 95% CI', 3],
  ['tpr_at_1pct_fpr', 'TPR@1%FPR', 3],
  ['tpr_at_5pct_fpr', 'TPR@5%FPR', 3],
  ['n_members', 'members', -1],
  ['n_nonmembers', 'non-members', -1],
];

function cell(v: unknown, digits: number): string {
  if (Array.isArray(v)) return `[${v.map((x) => cell(x, digits)).join(', ')}]`;
  if (typeof v === 'number') return digits >= 0 ? v.toFixed(digits) : String(v);
  return v === undefined || v === null ? '—' : String(v);
}

/** An evaluation report: its table and ROC curves. */
export function reportPage(r: Report): Html {
  return layout({
    title: `Evaluation ${r.name}`,
    page: 'report',
    body: h`<nav class="crumbs"><a href="/">Fleet</a> › evaluation ${r.name}</nav>
<h1>Evaluation: ${r.name}</h1>
<p>Target model ${r.target.name ?? ''} <small>${r.target.architecture ?? ''}</small> ${shortSha(r.target.sha256)}; attack bundle <code>${r.attack.id}</code> ${r.attack.attack_model ?? ''}${r.created_at ? h`; evaluated ${time(r.created_at)}` : ''}.${
      r.lowest_supported_fpr !== undefined
        ? h` With this many non-members the lowest FPR the count supports is ${(r.lowest_supported_fpr * 100).toFixed(1)}%.`
        : ''
    }</p>
${r.roc ? h`<figure class="roc"><img src="/reports/${encodeURIComponent(r.name)}/roc.svg" alt="ROC curves of the evaluation ${r.name}"></figure>` : ''}
<div class="scroll">
<table aria-label="Evaluation results">
<thead><tr>${REPORT_COLUMNS.map(([, label]) => h`<th scope="col">${label}</th>`)}</tr></thead>
<tbody>
${r.rows.map((row) => h`<tr>${REPORT_COLUMNS.map(([k, , d]) => h`<td>${cell(row[k], d)}</td>`)}</tr>`)}
</tbody>
</table>
</div>`,
  });
}

/** An error page (404, 400…). */
export function errorPage(title: string, message: string): Html {
  return layout({
    title,
    page: 'error',
    body: h`<h1>${title}</h1><p>${message}</p><p><a href="/">Fleet overview</a></p>`,
  });
}
