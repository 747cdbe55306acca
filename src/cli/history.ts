/** `slmia history`: past audits from the daemon's SQLite store, newest first. */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { SlmiaError } from '../errors.js';

interface HistoryOptions {
  config?: string;
  db?: string;
  speaker?: string;
  transaction?: string;
  status?: 'ok' | 'error';
  limit: string;
  json?: boolean;
}

export function registerHistory(program: Command): void {
  program
    .command('history')
    .description('list past audits stored by the daemon (newest first)')
    .option('-c, --config <config.yaml>', 'daemon settings (for data_dir)')
    .option('--db <file>', 'SQLite file (default <data_dir>/slmia.db)')
    .option('--speaker <id>', 'only this speaker')
    .option('--transaction <id>', 'only this transaction')
    .option('--status <ok|error>', 'only successful or failed audits')
    .option('--limit <n>', 'at most n audits', '50')
    .option('--json', 'print JSON lines (one audit per line)')
    .action(async (opts: HistoryOptions) => {
      const [{ loadConfig }, { listAudits }, { Db }] = await Promise.all([
        import('../daemon/config.js'),
        import('../store/audits.js'),
        import('../store/db.js'),
      ]);
      const path = opts.db ?? join(loadConfig(opts.config).data_dir, 'slmia.db');
      if (!existsSync(path))
        throw new SlmiaError(
          'history.no-store',
          `${path}: no audit store yet (start \`slmia daemon\` first, or pass --db)`,
        );
      if (opts.status && opts.status !== 'ok' && opts.status !== 'error')
        throw new SlmiaError('history.option', `--status: expected ok or error, got "${opts.status}"`);
      const limit = Number(opts.limit);
      if (!Number.isInteger(limit) || limit < 1)
        throw new SlmiaError('history.option', `--limit: expected a positive integer, got "${opts.limit}"`);
      const db = await Db.open(path);
      try {
        const rows = await listAudits(db, {
          ...(opts.speaker && { speaker: opts.speaker }),
          ...(opts.transaction && { transaction: opts.transaction }),
          ...(opts.status && { status: opts.status }),
          limit,
        });
        if (opts.json) {
          for (const r of rows) {
            const { quantized, ...rest } = r;
            process.stdout.write(
              `${JSON.stringify({ ...rest, quantized_features: quantized ? quantized.length : null })}\n`,
            );
          }
          return;
        }
        if (rows.length === 0) {
          process.stdout.write('no audits\n');
          return;
        }
        for (const r of rows) {
          const what =
            r.status === 'ok'
              ? `${r.verdict}${r.reason ? ` (${r.reason})` : ''} p_value=${r.p_value === null ? 'n/a' : r.p_value.toPrecision(3)} probability=${r.probability?.toFixed(3)} thr=${r.threshold?.toFixed(3)} voices=${r.voices} queries=${r.queries}`
              : `ERROR ${r.error_code}: ${r.error}`;
          process.stdout.write(
            `${r.audited_at}  ${r.speaker ?? '-'}  ${r.source}  ${r.transaction}  ${what}\n`,
          );
        }
      } finally {
        await db.close();
      }
    });
}
