/**
 * Evaluation report rendering: report.md (tables), report.json (machine-readable) and roc.svg (ROC curves of
 * SLMIA-SR and the baselines, log-scale FPR axis, r = 1 and r = 0 side by side; hand-written SVG).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { EvaluationReport, ReportRow } from './evaluate.js';

const f3 = (v: number): string => (Number.isFinite(v) ? v.toFixed(3) : 'n/a');

const pct = (v: number): string => (Number.isFinite(v) ? `${(v * 100).toFixed(1)}%` : 'n/a');
const ci = (c: [number, number], f = f3): string => `[${f(c[0])}, ${f(c[1])}]`;
const reasons = (r: Record<string, number>): string =>
  Object.entries(r)
    .map(([k, v]) => `${k} ${pct(v)}`)
    .join(', ') || '—';

/** Markdown report. */
export function renderMarkdown(rep: EvaluationReport): string {
  const lines: string[] = [];
  const counts = [...new Set(rep.rows.map((r) => r.n))].sort((a, b) => b - a);
  const a = rep.attack;
  lines.push(`# SLMIA-SR evaluation: ${rep.target.name}`, '');
  lines.push(
    `Target model \`${rep.target.name}\` (${rep.target.architecture ?? 'unknown architecture'}, sha256 \`${rep.target.sha256.slice(0, 16)}…\`), ` +
      `attack bundle \`${a.path}\` (id \`${a.id}\`, ${a.attack_model}, calibrated on ${a.shadow_models.join(', ')}` +
      (a.calibration_references.length
        ? ` with shadow-side reference ${a.calibration_references.join(', ')}; target-side reference model(s): ${rep.references.map((r) => r.name).join(', ')}`
        : '; no reference models (plain attack)') +
      (a.pinned_target ? `; pinned to target ${a.pinned_target}` : '') +
      `; voices: ${a.voice}; embedding centring: ${a.centre ? 'yes' : 'no'}; feature normalisation: ${a.normalization}).`,
    '',
  );
  const any = rep.rows[0];
  lines.push(
    `Speakers: ${any?.n_members ?? 0} members, ${any?.n_nonmembers ?? 0} non-members of the target (non-members: ${rep.nonmembers}); ${rep.seeds.length} voice-set seeds (${rep.seeds.join(', ')}), one voice set per speaker and seed. ` +
      `Figures are means over seeds ± their standard deviation; 95% intervals are percentile bootstraps over speakers (1000 rounds) of the seed mean. ` +
      `With ${any?.n_nonmembers ?? 0} non-members the lowest FPR the count supports is ${(rep.lowest_supported_fpr * 100).toFixed(1)}%: ` +
      `TPR@1%FPR is therefore TPR at zero false positives. At r = 0 with n = 10 every member's voice set is its 10 heldout clips, so only the non-members' sets vary across seeds.`,
    '',
  );
  lines.push(
    `Target-side null: ${rep.null.speakers} reference speakers audited on this target against leave-one-out banks (${Object.entries(
      rep.null.sets_per_n,
    )
      .map(([n, c]) => `n=${n}: ${c} sets`)
      .join(
        ', ',
      )}); the verdict is \`member\` when the p-value on this null is ≤ the target FPR and the out-of-domain guard does not fire, \`inconclusive\` when it fires.`,
    '',
  );
  for (const n of counts) {
    lines.push(`## ${n} voices per speaker`, '');
    lines.push('| attack | r | AUROC (mean ± sd) | AUROC 95% CI | TPR@1%FPR | TPR@5%FPR | accuracy |');
    lines.push('|---|---|---|---|---|---|---|');
    const rs = [...new Set(rep.rows.filter((x) => x.n === n).map((x) => x.r))].sort((x, y) => y - x);
    for (const r of rs) {
      for (const row of rep.rows.filter((x) => x.n === n && x.r === r)) {
        lines.push(
          `| ${row.attack} | ${row.r} | ${f3(row.auroc)} ± ${f3(row.auroc_sd)} | ${ci(row.auroc_ci95)} | ${f3(row.tpr_at_1pct_fpr)} | ${f3(row.tpr_at_5pct_fpr)} | ${f3(row.accuracy)} |`,
        );
      }
    }
    lines.push('');
    lines.push(
      'Verdicts of SLMIA-SR as audits give them (threshold from the target-side null at the target FPR, guard on):',
      '',
    );
    lines.push(
      '| r | target FPR | TPR [95% CI] | realised FPR [95% CI] | inconclusive (all speakers) | reasons | quantized − float AUROC |',
    );
    lines.push('|---|---|---|---|---|---|---|');
    for (const row of rep.rows.filter((x) => x.n === n && x.attack === 'slmia-sr')) {
      for (const v of row.verdicts ?? []) {
        lines.push(
          `| ${row.r} | ${pct(v.target_fpr)} | ${f3(v.tpr)} ± ${f3(v.tpr_sd)} ${ci(v.tpr_ci95)} | ${f3(v.fpr)} ± ${f3(v.fpr_sd)} ${ci(v.fpr_ci95)} | ${pct(v.inconclusive)} | ${reasons(v.reasons)} | ${f3(row.auroc - (row.auroc_float ?? NaN))} |`,
        );
      }
    }
    lines.push('');
  }
  const av = rep.all_voices;
  if (av) {
    lines.push(
      `## All ${av.voices} voices per speaker (more than the largest attack model's n = ${av.n})`,
      '',
    );
    lines.push(
      `Members with all their clips (10 trained on, 10 not: r ≈ 0.5), non-members with all 20 heldout clips; each audit scores ${av.voice_sets} subsets of ${av.n} voices and averages them, on the null of the same averaging over the reference speakers. AUROC ${f3(av.auroc)} ${ci(av.auroc_ci95)} (${av.n_members} members, ${av.n_nonmembers} non-members).`,
      '',
    );
    lines.push('| target FPR | TPR | realised FPR | inconclusive |', '|---|---|---|---|');
    for (const v of av.verdicts)
      lines.push(`| ${pct(v.target_fpr)} | ${f3(v.tpr)} | ${f3(v.fpr)} | ${pct(v.inconclusive)} |`);
    lines.push('');
  }
  if (rep.ood.length) {
    lines.push('## Out-of-domain non-members', '');
    lines.push(
      '| set | speakers | voices | member @1% FPR | member @5% FPR | inconclusive | reasons | member @1% without the duration guard | member @1% without any guard |',
    );
    lines.push('|---|---|---|---|---|---|---|---|---|');
    for (const r of rep.ood) {
      lines.push(
        `| ${r.set} | ${r.speakers} | ${r.voices} | ${pct(r.member_at_1pct)} | ${pct(r.member_at_5pct)} | ${pct(r.inconclusive)} | ${reasons(r.reasons)} | ${pct(r.member_without_duration_guard_at_1pct)} | ${pct(r.unguarded_member_at_1pct)} |`,
      );
    }
    lines.push('');
  }
  lines.push('## Queries and time', '');
  const perSpeaker = rep.speaker_queries / Math.max(1, rep.speakers * (1 + rep.references.length));
  lines.push(
    `- Model queries: ${rep.queries} (${Object.entries(rep.queries_per_model)
      .map(([m, q]) => `${m} ${q}`)
      .join(
        ', ',
      )}); reference banks ${rep.reference_queries}, audited speakers ${rep.speaker_queries} for ${rep.speaker_clips} clips of ${rep.speakers} speakers per model = ${perSpeaker.toFixed(2)} per speaker and model (max_batch ${rep.max_batch}). 0 means everything came from the embedding cache. An audit of ≤ max_batch voices makes 1 query per model.`,
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
  'slmia-sr-plain': '#e59866',
  'encodermi-t': '#2471a3',
  'encodermi-t-calibrated': '#7d3c98',
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
