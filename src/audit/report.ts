/**
 * Evaluation report rendering: report.md (tables), report.json (machine-readable) and roc.svg (ROC curves of
 * SLMIA-SR and the baselines, log-scale FPR axis, r = 1 and r = 0 side by side; hand-written SVG).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { EvaluationReport, ReportRow } from './evaluate.js';

const f3 = (v: number): string => (Number.isFinite(v) ? v.toFixed(3) : 'n/a');

/** Markdown report. */
export function renderMarkdown(rep: EvaluationReport): string {
  const lines: string[] = [];
  const counts = [...new Set(rep.rows.map((r) => r.n))].sort((a, b) => b - a);
  lines.push(`# SLMIA-SR evaluation: ${rep.target.name}`, '');
  lines.push(
    `Target model \`${rep.target.name}\` (${rep.target.architecture ?? 'unknown architecture'}, sha256 \`${rep.target.sha256.slice(0, 16)}…\`), ` +
      `attack bundle \`${rep.attack.path}\` (id \`${rep.attack.id}\`, ${rep.attack.attack_model}, calibrated on ${rep.attack.shadow_models.join(', ')}; ` +
      `voices: ${rep.attack.voice}; embedding centring: ${rep.attack.centre ? 'yes' : 'no'}; feature normalisation: ${rep.attack.normalization}).`,
    '',
  );
  const any = rep.rows[0];
  lines.push(
    `Speakers: ${any?.n_members ?? 0} members, ${any?.n_nonmembers ?? 0} non-members of the target (one voice set per speaker; non-members: ${rep.nonmembers ?? 'target-nonmember group of the split'}). ` +
      `With ${any?.n_nonmembers ?? 0} non-members the lowest FPR the count supports is ${(rep.lowest_supported_fpr * 100).toFixed(1)}%: ` +
      `TPR@1%FPR is therefore TPR at zero false positives, and TPR@0.1%FPR is not reported (needs ≥ 1000 non-members).`,
    '',
  );
  lines.push(
    'Accuracy: threshold 0.5 on the member probability (SLMIA-SR, EncoderMI-V), the shadow-chosen threshold for EncoderMI-T. AUROC with a 95% bootstrap interval over speakers (1000 rounds).',
    '',
  );
  for (const n of counts) {
    lines.push(`## ${n} voices per speaker`, '');
    lines.push(
      '| attack | r | accuracy | AUROC | AUROC 95% CI | TPR@1%FPR | TPR@5%FPR | members | non-members |',
    );
    lines.push('|---|---|---|---|---|---|---|---|---|');
    for (const r of [1, 0]) {
      for (const row of rep.rows.filter((x) => x.n === n && x.r === r)) {
        lines.push(
          `| ${row.attack} | ${row.r} | ${f3(row.accuracy)} | ${f3(row.auroc)} | [${f3(row.auroc_ci95[0])}, ${f3(row.auroc_ci95[1])}] | ${f3(row.tpr_at_1pct_fpr)} | ${f3(row.tpr_at_5pct_fpr)} | ${row.n_members} | ${row.n_nonmembers} |`,
        );
      }
    }
    lines.push('');
    const sr = rep.rows.filter((x) => x.n === n && x.attack === 'slmia-sr');
    for (const row of sr) {
      const best = Math.max(
        ...rep.rows.filter((x) => x.n === n && x.r === row.r && x.attack !== 'slmia-sr').map((x) => x.auroc),
      );
      lines.push(
        `- r=${row.r}: quantized AUROC ${f3(row.auroc)} vs float ${f3(row.auroc_float ?? NaN)} (diff ${f3(Math.abs(row.auroc - (row.auroc_float ?? NaN)))}); ` +
          `margin over the best baseline ${f3(row.auroc - best)}; at the stored threshold (target FPR from shadow data): TPR ${f3(row.tpr_at_threshold ?? NaN)}, FPR ${f3(row.fpr_at_threshold ?? NaN)}.`,
      );
    }
    lines.push('');
  }
  lines.push('## Queries and time', '');
  const perSpeaker = rep.speaker_queries / Math.max(1, rep.speakers);
  lines.push(
    `- Model queries: ${rep.queries} (reference speakers ${rep.reference_queries}, audited speakers ${rep.speaker_queries} for ${rep.speaker_clips} clips of ${rep.speakers} speakers = ${perSpeaker.toFixed(2)} per speaker; max_batch ${rep.max_batch}, so ceil(clips/max_batch) per speaker is ${Math.ceil(rep.speaker_clips / Math.max(1, rep.speakers) / rep.max_batch)}). 0 means everything came from the embedding cache.`,
    `- Wall time: ${rep.wall_seconds.toFixed(1)} s.`,
    `- Command: \`${rep.command_line}\``,
    `- Created: ${rep.created_at}`,
    '',
    '![ROC curves](roc.svg)',
    '',
  );
  return lines.join('\n');
}

const COLORS: Record<string, string> = {
  'slmia-sr': '#c0392b',
  'encodermi-t': '#2471a3',
  'encodermi-v': '#229954',
};

/** ROC curves for the largest n, r = 1 and r = 0 panels, log-scale FPR axis. */
export function renderRocSvg(rep: EvaluationReport): string {
  const n = Math.max(...rep.roc.map((c) => c.n));
  const minFpr = Math.min(0.01, rep.lowest_supported_fpr / 2);
  const W = 360;
  const H = 320;
  const m = { l: 50, r: 15, t: 30, b: 45 };
  const pw = W - m.l - m.r;
  const ph = H - m.t - m.b;
  const lx = (fpr: number): number =>
    m.l + ((Math.log10(Math.max(fpr, minFpr)) - Math.log10(minFpr)) / -Math.log10(minFpr)) * pw;
  const ly = (tpr: number): number => m.t + (1 - tpr) * ph;
  const parts: string[] = [];
  [1, 0].forEach((r, panel) => {
    const g: string[] = [];
    g.push(`<g transform="translate(${panel * W},0)">`);
    g.push(
      `<text x="${m.l + pw / 2}" y="18" text-anchor="middle" font-size="13">r = ${r}, ${n} voices</text>`,
    );
    g.push(`<rect x="${m.l}" y="${m.t}" width="${pw}" height="${ph}" fill="none" stroke="#333"/>`);
    for (let e = Math.ceil(Math.log10(minFpr)); e <= 0; e++) {
      const x = lx(10 ** e);
      g.push(`<line x1="${x}" y1="${m.t}" x2="${x}" y2="${m.t + ph}" stroke="#ddd"/>`);
      g.push(`<text x="${x}" y="${m.t + ph + 15}" text-anchor="middle" font-size="10">${10 ** e}</text>`);
    }
    for (let t = 0; t <= 1.0001; t += 0.25) {
      g.push(`<line x1="${m.l}" y1="${ly(t)}" x2="${m.l + pw}" y2="${ly(t)}" stroke="#eee"/>`);
      g.push(`<text x="${m.l - 5}" y="${ly(t) + 3}" text-anchor="end" font-size="10">${t.toFixed(2)}</text>`);
    }
    // chance line on a log axis
    const chance = Array.from({ length: 50 }, (_, i) => minFpr * (1 / minFpr) ** (i / 49));
    g.push(
      `<polyline fill="none" stroke="#999" stroke-dasharray="4,3" points="${chance.map((f) => `${lx(f).toFixed(1)},${ly(f).toFixed(1)}`).join(' ')}"/>`,
    );
    for (const c of rep.roc.filter((x) => x.n === n && x.r === r)) {
      const pts: string[] = [];
      let prev = { fpr: 0, tpr: 0 };
      for (const p of c.points) {
        pts.push(`${lx(p.fpr).toFixed(1)},${ly(prev.tpr).toFixed(1)}`);
        pts.push(`${lx(p.fpr).toFixed(1)},${ly(p.tpr).toFixed(1)}`);
        prev = p;
      }
      g.push(
        `<polyline fill="none" stroke="${COLORS[c.attack] ?? '#000'}" stroke-width="1.8" points="${pts.join(' ')}"/>`,
      );
    }
    g.push(
      `<text x="${m.l + pw / 2}" y="${H - 8}" text-anchor="middle" font-size="11">false positive rate (log)</text>`,
    );
    g.push(
      `<text x="12" y="${m.t + ph / 2}" text-anchor="middle" font-size="11" transform="rotate(-90 12 ${m.t + ph / 2})">true positive rate</text>`,
    );
    g.push('</g>');
    parts.push(g.join('\n'));
  });
  const legend = Object.entries(COLORS)
    .map(([k, c], i) => {
      const row = rep.rows.find((x) => x.attack === k && x.n === n && x.r === 0);
      return `<g transform="translate(${m.l + 10},${m.t + ph - 50 + i * 14})"><line x1="0" y1="0" x2="18" y2="0" stroke="${c}" stroke-width="2"/><text x="22" y="4" font-size="10">${k}${row ? ` (r=0 AUROC ${f3(row.auroc)})` : ''}</text></g>`;
    })
    .join('\n');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${2 * W}" height="${H}" viewBox="0 0 ${2 * W} ${H}" font-family="sans-serif">\n<rect width="100%" height="100%" fill="white"/>\n${parts.join('\n')}\n<g transform="translate(${W},0)">${legend}</g>\n</svg>\n`;
}

/** report.json: the rows/queries schema of issue 4 plus context. ROC points are kept. */
export function reportJson(rep: EvaluationReport): string {
  return `${JSON.stringify(rep, (_k, v) => (v === Infinity ? 'Infinity' : v === -Infinity ? '-Infinity' : v), 1)}\n`;
}

/** Write report.md, report.json and roc.svg into `dir`. */
export async function writeReport(dir: string, rep: EvaluationReport): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const files = [resolve(dir, 'report.md'), resolve(dir, 'report.json'), resolve(dir, 'roc.svg')];
  await writeFile(files[0], renderMarkdown(rep));
  await writeFile(files[1], reportJson(rep));
  await writeFile(files[2], renderRocSvg(rep));
  return files;
}

export type { ReportRow };
