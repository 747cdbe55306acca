/**
 * The lab's evaluation reports (`slmia evaluate --report <dir>`: report.json + roc.svg, under
 * docs/evaluation/ by default), indexed by the attack bundle id and target model sha256 they evaluated, so a
 * hub's page can show the report of the bundle it runs. The folder is rescanned at most once a minute.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';

const ReportSchema = z.object({
  target: z.object({ name: z.string().optional(), sha256: z.string(), architecture: z.string().optional() }),
  attack: z.object({ id: z.string(), path: z.string().optional(), attack_model: z.string().optional() }),
  rows: z.array(z.record(z.string(), z.unknown())),
  lowest_supported_fpr: z.number().optional(),
  created_at: z.string().optional(),
});

/** One evaluation report folder. */
export interface Report {
  /** Folder name (URL segment). */
  name: string;
  dir: string;
  target: { name?: string; sha256: string; architecture?: string };
  attack: { id: string; path?: string; attack_model?: string };
  rows: Record<string, unknown>[];
  lowest_supported_fpr?: number;
  created_at?: string;
  /** Whether roc.svg exists. */
  roc: boolean;
}

const RESCAN_MS = 60_000;

/** The report index over one folder. */
export class Reports {
  private cache: { at: number; reports: Report[] } | undefined;

  constructor(readonly dir: string) {}

  /** Every readable report (folders whose report.json does not parse are skipped). */
  all(now = Date.now()): Report[] {
    if (this.cache && now - this.cache.at < RESCAN_MS) return this.cache.reports;
    const reports: Report[] = [];
    const entries = existsSync(this.dir) ? readdirSync(this.dir, { withFileTypes: true }) : [];
    for (const e of entries) {
      if (!e.isDirectory()) continue;
      const dir = join(this.dir, e.name);
      try {
        const r = ReportSchema.parse(JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8')));
        reports.push({ name: e.name, dir, ...r, roc: existsSync(join(dir, 'roc.svg')) });
      } catch {
        // not a report folder
      }
    }
    reports.sort((a, b) => a.name.localeCompare(b.name));
    this.cache = { at: now, reports };
    return reports;
  }

  /** A report by folder name. */
  get(name: string): Report | undefined {
    return this.all().find((r) => r.name === name);
  }

  /**
   * The report of `attackId` on the model `modelSha256` (exact), else of `attackId` on another target
   * (`exact: false`), else undefined.
   */
  forHub(attackId?: string, modelSha256?: string): { report: Report; exact: boolean } | undefined {
    if (!attackId) return undefined;
    const same = this.all().filter((r) => r.attack.id === attackId);
    const exact = same.find((r) => r.target.sha256 === modelSha256);
    if (exact) return { report: exact, exact: true };
    return same[0] ? { report: same[0], exact: false } : undefined;
  }
}
