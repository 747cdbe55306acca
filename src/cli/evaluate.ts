/** `slmia evaluate`: paper-style evaluation of an attack bundle on a target model (report.md/json, roc.svg). */
import type { Command } from 'commander';
import { speechoceanDir } from '../paths.js';
import { OptionError, openCache, parseNumberList, progressBar } from './lab-options.js';

interface EvaluateCliOptions {
  target: string;
  attack: string;
  data?: string;
  split?: string;
  report: string;
  voices?: string;
  exportReferences?: boolean;
  nonmemberData?: string;
  seed: string;
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
      "write the target's reference bank beside the bundle (for hubs without the dataset)",
    )
    .option(
      '--nonmember-data <dir>',
      'non-members from another dataset folder (utterances.tsv; all speakers, every clip) instead of target-nonmember',
    )
    .option('--seed <k>', 'random seed of the voice sets', '7')
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
          seed: Number(opts.seed),
          exportReferences: opts.exportReferences,
          nonmemberDataset: opts.nonmemberData,
          commandLine: `slmia ${process.argv.slice(2).join(' ')}`,
          onProgress: bar.update,
        });
        bar.stop();
        const files = await writeReport(opts.report, rep);
        const n = Math.max(...rep.rows.map((r) => r.n));
        for (const row of rep.rows.filter((r) => r.n === n)) {
          process.stdout.write(
            `${row.attack.padEnd(12)} r=${row.r} n=${row.n}  acc ${row.accuracy.toFixed(3)}  AUROC ${row.auroc.toFixed(3)} [${row.auroc_ci95[0].toFixed(3)}, ${row.auroc_ci95[1].toFixed(3)}]  TPR@1% ${row.tpr_at_1pct_fpr.toFixed(3)}  TPR@5% ${row.tpr_at_5pct_fpr.toFixed(3)}${row.auroc_float !== undefined ? `  (float AUROC ${row.auroc_float.toFixed(3)})` : ''}\n`,
          );
        }
        process.stdout.write(
          `queries ${rep.queries} (reference ${rep.reference_queries}, speakers ${rep.speaker_queries}), ${rep.wall_seconds.toFixed(1)} s; wrote ${files.join(', ')}\n`,
        );
      } finally {
        bar.stop();
        await cache?.close();
      }
    });
}
