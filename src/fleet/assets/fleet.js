/*
 * slmia fleet page script. The pages are complete without it; it adds live updates (Server-Sent Events that
 * carry server-rendered fragments, replaced by element id), the audit form without a page reload, and the
 * uPlot history charts. Served from the package; nothing is fetched from elsewhere.
 */
/* global uPlot */
(() => {
  'use strict';
  const body = document.body;
  const liveEl = document.getElementById('live');
  const result = document.getElementById('audit-result');
  const charts = new Map();

  const setLive = (text, ok) => {
    if (!liveEl) return;
    liveEl.textContent = text;
    liveEl.className = `live ${ok ? 'ok' : 'bad'}`;
  };

  /** Show the tracked audit the form just requested in the form's status line. */
  const followAudit = (row) => {
    if (!result || !result.dataset.transaction || row.dataset.transaction !== result.dataset.transaction)
      return;
    const cells = row.querySelectorAll('td');
    result.textContent = `Audit ${row.dataset.transaction}: ${cells[2]?.textContent ?? ''} · ${cells[3]?.textContent.trim() ?? ''}`;
    result.className = row.dataset.status === 'ok' ? 'ok' : row.dataset.status === 'pending' ? '' : 'error';
  };

  const replace = ({ id, html, into }) => {
    const tpl = document.createElement('template');
    tpl.innerHTML = html.trim();
    const node = tpl.content.firstElementChild;
    if (!node) return;
    const old = document.getElementById(id);
    if (old) old.replaceWith(node);
    else {
      const box = into && document.getElementById(into);
      if (!box) return;
      if (into === 'audits-body') box.prepend(node);
      else box.append(node);
      box.closest('section')?.querySelector('.empty')?.remove();
    }
    node.classList.add('flash');
    setTimeout(() => node.classList.remove('flash'), 1500);
    if (node.dataset.transaction) followAudit(node);
  };

  const width = (el) => Math.max(220, Math.floor(el.getBoundingClientRect().width) || 300);

  const makeChart = (fig, s) => {
    if (typeof uPlot === 'undefined') return;
    const plot = fig.querySelector('.plot');
    const data = series(s);
    const u = new uPlot(
      {
        width: width(plot),
        height: 150,
        legend: { show: false },
        scales: { y: { range: [0, 1] } },
        axes: [{ space: 60 }, { size: 40, values: (_u, ticks) => ticks.map((v) => v.toFixed(1)) }],
        series: [
          {},
          {
            label: 'probability',
            stroke: '#1f6feb',
            width: 2,
            spanGaps: true,
            points: { show: true, size: 6 },
          },
          {
            label: 'inconclusive',
            stroke: '#8b949e',
            paths: () => null,
            points: { show: true, size: 7, fill: '#fff' },
          },
          { label: 'threshold', stroke: '#999', dash: [4, 4], spanGaps: true, points: { show: false } },
        ],
      },
      data,
      plot,
    );
    charts.set(fig.id, { u, s, plot });
    fitOne(u, s.t);
  };

  /** uPlot data of a speaker's history, in time order: [t, conclusive p, inconclusive p, threshold]. */
  const series = (s) => {
    const order = s.t.map((_, i) => i).sort((a, b) => s.t[a] - s.t[b]);
    const pick = (xs) => order.map((i) => xs[i] ?? null);
    return [pick(s.t), pick(s.p), pick(s.inc), pick(s.thr)];
  };

  /** With one audit so far, show the day around it (uPlot's own span for a single point is years). */
  const fitOne = (u, t) => {
    if (t.length === 1) u.setScale('x', { min: t[0] - 43200, max: t[0] + 43200 });
  };

  const point = (m) => {
    let c = charts.get(m.id);
    if (!c) {
      const box = document.getElementById('charts');
      if (!box || typeof uPlot === 'undefined') return;
      const fig = document.createElement('figure');
      fig.className = 'chart';
      fig.id = m.id;
      const cap = document.createElement('figcaption');
      cap.textContent = m.speaker;
      const plot = document.createElement('div');
      plot.className = 'plot';
      fig.append(cap, plot);
      box.append(fig);
      makeChart(fig, { t: [], p: [], inc: [], thr: [] });
      c = charts.get(m.id);
      if (!c) return;
    }
    for (let i = 0; i < m.t.length; i++) {
      if (c.s.t.includes(m.t[i])) continue;
      c.s.t.push(m.t[i]);
      c.s.p.push(m.p[i] ?? null);
      c.s.inc.push(m.inc?.[i] ?? null);
      c.s.thr.push(m.thr?.[i] ?? null);
    }
    c.u.setData(series(c.s));
    fitOne(c.u, c.s.t);
  };

  const healthChart = () => {
    const fig = document.getElementById('health-chart');
    const el = document.getElementById('health-data');
    if (!fig || !el || typeof uPlot === 'undefined') return;
    const d = JSON.parse(el.textContent);
    if (d.t.length === 0) {
      fig.hidden = true;
      return;
    }
    const plot = fig.querySelector('.plot');
    const u = new uPlot(
      {
        width: width(plot),
        height: 150,
        scales: { mb: {}, q: { range: (_u, _min, max) => [0, Math.max(1, max)] } },
        axes: [{ space: 60 }, { scale: 'mb', size: 50 }, { scale: 'q', side: 1, size: 30 }],
        series: [
          {},
          { label: 'RSS (MB)', scale: 'mb', stroke: '#8250df', width: 2 },
          { label: 'queue', scale: 'q', stroke: '#bf8700', width: 1 },
        ],
      },
      [d.t, d.rss, d.queue],
      plot,
    );
    charts.set('health-chart', { u, plot });
  };

  const data = document.getElementById('history-data');
  if (data) {
    const series = JSON.parse(data.textContent);
    for (const fig of document.querySelectorAll('#charts figure.chart')) {
      const s = series[fig.dataset.speaker];
      if (s) makeChart(fig, s);
    }
  }
  healthChart();
  window.addEventListener('resize', () => {
    for (const c of charts.values()) c.u.setSize({ width: width(c.plot), height: 150 });
  });

  const form = document.getElementById('audit-form');
  if (form && result) {
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const button = form.querySelector('button[type=submit]');
      button.disabled = true;
      result.className = '';
      result.textContent = 'Sending the request…';
      try {
        const res = await fetch(form.action, {
          method: 'POST',
          body: new URLSearchParams(new FormData(form)),
          headers: { accept: 'application/json' },
        });
        const j = await res.json();
        if (!res.ok) {
          result.textContent = j.error ?? `HTTP ${res.status}`;
          result.className = 'error';
        } else {
          result.dataset.transaction = j.transaction;
          result.textContent = `Audit ${j.transaction}: requested`;
          const row = document.querySelector(
            `#audits-body tr[data-transaction="${CSS.escape(j.transaction)}"]`,
          );
          if (row) followAudit(row);
        }
      } catch (err) {
        result.textContent = `The request failed: ${err.message}`;
        result.className = 'error';
      } finally {
        button.disabled = false;
      }
    });
  }

  const url = body.dataset.events;
  if (url && 'EventSource' in window) {
    const es = new EventSource(url);
    es.addEventListener('hello', () => setLive('live', true));
    es.addEventListener('replace', (e) => replace(JSON.parse(e.data)));
    es.addEventListener('point', (e) => point(JSON.parse(e.data)));
    es.addEventListener('error', () => setLive('reconnecting…', false));
    window.addEventListener('pagehide', () => es.close());
  }
})();
