/** `slmia evaluate`: paper-style evaluation of an attack bundle on a target model (report.md/json, roc.svg). */
import type { Command } from 'commander';
import { resolve } from 'node:path';
import { dataDir, speechoceanDir } from '../paths.js';
import { OptionError, openCache, parseNumberList, progressBar } from './lab-options.js';

interface EvaluateCliOptions {
  target: string;
  attack: string;
  data?: string;
  split?: string;
  report: string;
  voices?: string;
  exportReferences?: boolean;
  seeds: string;
  ratios: string;
  ood?: string | false;
  oodExtra?: string[];
  nonmemberData?: string;
  cache: string | false;
  progress: boolean;
}

export function registerEvaluate(program: Command): void {
  program
    .command('evaluate')
    .description(
      'evaluate SLMIA-SR and the EncoderMI baselines on a target model; writes report.md, report.json, roc.svg',
    )
    .requiredOption('--target <model.json>', 'target speaker model manifest')
    .requiredOption('--attack <attack.json>', 'attack bundle from `slmia calibrate`')
    .option('--data <dir>', 'dataset folder (default: $SLMIA_DATA_DIR/speechocean762)')
    .option('--split <split.tsv>', 'split file (default <data>/splits/five-way.tsv)')
    .requiredOption('--report <dir>', 'output folder for report.md, report.json, roc.svg')
    .option('--voices <list>', 'voice counts to evaluate (default: every n of the bundle)')
    .option(
      '--export-references',
      "write the target's and the reference models' banks and the target null beside the bundle (hubs without the dataset)",
    )
    .option(
      '--nonmember-data <dir>',
      'non-members from another dataset folder (utterances.tsv; all speakers, every clip) instead of target-nonmember',
    )
    .option('--seeds <list>', 'voice-set seeds', '7,8,9,10,11')
    .option('--ratios <list>', 'mixing ratios of the member rows', '1,0.5,0')
    .option(
      '--ood <dir>',
      'out-of-domain corpus of non-members (default: $SLMIA_DATA_DIR/arabic-speech-commands when present)',
    )
    .option('--no-ood', 'no out-of-domain rows')
    .option(
      '--ood-extra <dir>',
      'a further out-of-domain corpus (repeatable; its rows are named after the folder)',
      (v: string, prev: string[] = []) => [...prev, v],
    )
    .option('--cache <file>', 'embedding cache database (default .work/embedding-cache.sqlite)')
    .option('--no-cache', 'do not use the embedding cache')
    .option('--no-progress', 'no progress bar')
    .action(async (opts: EvaluateCliOptions) => {
      const data = opts.data ?? speechoceanDir();
      if (!data) throw new OptionError('--data', 'no dataset folder given and none under $SLMIA_DATA_DIR');
      const voices = opts.voices
        ? parseNumberList('--voices', opts.voices, (v) => Number.isInteger(v) && v >= 2, 'integers ≥ 2')
        : undefined;
      const [{ runEvaluation }, { writeReport }] = await Promise.all([
        import('../audit/evaluate.js'),
        import('../audit/report.js'),
      ]);
      const cache = await openCache(opts.cache);
      const bar = await progressBar(opts.progress);
      try {
        const rep = await runEvaluation({
          targetModel: opts.target,
          attackPath: opts.attack,
          dataset: data,
          split: opts.split,
          voiceCounts: voices,
          cache,
          seeds: parseNumberList('--seeds', opts.seeds, Number.isInteger, 'integers'),
          ratios: parseNumberList('--ratios', opts.ratios, (v) => v >= 0 && v <= 1, 'numbers in [0, 1]'),
          oodDataset:
            opts.ood === false ? undefined : (opts.ood ?? resolve(dataDir(), 'arabic-speech-commands')),
          extraOodDatasets: opts.oodExtra,
          exportReferences: opts.exportReferences,
          nonmemberDataset: opts.nonmemberData,
          commandLine: `slmia ${process.argv.slice(2).join(' ')}`,
          onProgress: bar.update,
        });
        bar.stop();
        const files = await writeReport(opts.report, rep);
        const n = Math.max(...rep.rows.map((r) => r.n));
        const f = (v: number): string => v.toFixed(3);
        for (const row of rep.rows.filter((r) => r.n === n)) {
          const v = row.verdicts
            ?.map(
              (x) => `  @${x.target_fpr}: TPR ${f(x.tpr)} FPR ${f(x.fpr)} inconclusive ${f(x.inconclusive)}`,
            )
            .join('');
          process.stdout.write(
            `${row.attack.padEnd(22)} r=${row.r} n=${row.n}  AUROC ${f(row.auroc)} ± ${f(row.auroc_sd)} [${f(row.auroc_ci95[0])}, ${f(row.auroc_ci95[1])}]  TPR@1% ${f(row.tpr_at_1pct_fpr)}  TPR@5% ${f(row.tpr_at_5pct_fpr)}${row.auroc_float !== undefined ? `  (float ${f(row.auroc_float)})` : ''}${v ?? ''}\n`,
          );
        }
        for (const o of rep.ood) {
          process.stdout.write(
            `out-of-domain ${o.set}: ${o.speakers} speakers, member @1% ${f(o.member_at_1pct)} @5% ${f(o.member_at_5pct)}, inconclusive ${f(o.inconclusive)} (unguarded member @1% ${f(o.unguarded_member_at_1pct)})\n`,
          );
        }
        const q = Object.entries(rep.queries_per_model)
          .map(([m, c]) => `${m} ${c}`)
          .join(', ');
        process.stdout.write(
          `queries ${rep.queries} (${q}), ${rep.wall_seconds.toFixed(1)} s; wrote ${files.join(', ')}\n`,
        );
      } finally {
        bar.stop();
        await cache?.close();
      }
    });
}
