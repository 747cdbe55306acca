/** `slmia calibrate`: train an SLMIA-SR attack bundle on a shadow model. */
import { mkdir } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import type { Command } from 'commander';
import { speechoceanDir } from '../paths.js';
import { OptionError, openCache, parseNumberList, parsePositive, progressBar } from './lab-options.js';

interface CalibrateCliOptions {
  shadow: string;
  data?: string;
  split?: string;
  out: string;
  voices: string;
  ratios: string;
  chunkSeconds?: string;
  pad: string;
  attackModel: string;
  subsets: string;
  centre: boolean;
  targetFpr: string;
  features?: string;
  znorm?: boolean;
  referenceVoices: string;
  seed: string;
  cache: string | false;
  progress: boolean;
}

export function registerCalibrate(program: Command): void {
  program
    .command('calibrate')
    .description('calibrate SLMIA-SR attack models on a shadow speaker model and write the attack bundle')
    .requiredOption('--shadow <model.json>', 'shadow speaker model manifest')
    .option('--data <dir>', 'dataset folder (speechocean762 layout; default: $SLMIA_DATA_DIR/speechocean762)')
    .option('--split <split.tsv>', 'split file (default <data>/splits/five-way.tsv)')
    .requiredOption('--out <attack.json>', 'attack bundle to write')
    .option('--voices <list>', 'voice counts n, one attack model each', '2,3,5,10')
    .option('--ratios <list>', 'mixing ratios r of member training', '0,0.5,1')
    .option(
      '--chunk-seconds <s>',
      'voice chunk splitting length (seconds); default 2.0 = no split of ≤ 2 s clips',
      '2.0',
    )
    .option('--pad <none|wrap>', 'wrap-pad voices shorter than the chunk length (uniform batches)', 'wrap')
    .option('--attack-model <svm|logistic>', 'attack classifier', 'svm')
    .option('--subsets <k>', 'random voice subsets per shadow speaker and ratio', '4')
    .option(
      '--centre',
      'embedding centring: subtract the reference speakers\u2019 mean embedding (default)',
      true,
    )
    .option('--no-centre', 'no embedding centring')
    .option('--znorm', 'reference z-normalisation of the features (per model, from the reference speakers)')
    .option(
      '--features <prefixes>',
      'feature selection by name prefixes, e.g. intra,inter.refcentroid_centroid (default all)',
    )
    .option('--target-fpr <f>', 'FPR the decision threshold is chosen for', '0.01')
    .option('--reference-voices <m>', 'voices per reference speaker', '10')
    .option('--seed <k>', 'random seed', '1')
    .option('--cache <file>', 'embedding cache database (default .work/embedding-cache.sqlite)')
    .option('--no-cache', 'do not use the embedding cache')
    .option('--no-progress', 'no progress bar')
    .action(async (opts: CalibrateCliOptions) => {
      const data = opts.data ?? speechoceanDir();
      if (!data) throw new OptionError('--data', 'no dataset folder given and none under $SLMIA_DATA_DIR');
      if (opts.attackModel !== 'svm' && opts.attackModel !== 'logistic') {
        throw new OptionError('--attack-model', `expected svm or logistic, got "${opts.attackModel}"`);
      }
      if (opts.pad !== 'none' && opts.pad !== 'wrap')
        throw new OptionError('--pad', `expected none or wrap, got "${opts.pad}"`);
      const voices = parseNumberList(
        '--voices',
        opts.voices,
        (v) => Number.isInteger(v) && v >= 2,
        'integers ≥ 2',
      );
      const ratios = parseNumberList('--ratios', opts.ratios, (v) => v >= 0 && v <= 1, 'numbers in [0, 1]');
      const chunk =
        opts.chunkSeconds === 'none' ? undefined : parsePositive('--chunk-seconds', opts.chunkSeconds ?? '2');
      const [{ writeBundle }, { runCalibration }] = await Promise.all([
        import('../attack/bundle.js'),
        import('../audit/calibrate.js'),
      ]);
      const cache = await openCache(opts.cache);
      const bar = await progressBar(opts.progress);
      try {
        const r = await runCalibration({
          shadowModel: opts.shadow,
          dataset: data,
          split: opts.split,
          voiceCounts: voices,
          ratios,
          voice: { chunkSeconds: chunk, pad: chunk ? (opts.pad as 'none' | 'wrap') : 'none' },
          subsets: parsePositive('--subsets', opts.subsets),
          kind: opts.attackModel,
          targetFpr: parsePositive('--target-fpr', opts.targetFpr),
          centre: opts.centre,
          referenceVoices: parsePositive('--reference-voices', opts.referenceVoices),
          seed: Number(opts.seed),
          znorm: opts.znorm ?? false,
          featurePrefixes: opts.features?.split(',').map((p) => p.trim()),
          cache,
          commandLine: `slmia ${process.argv.slice(2).join(' ')}`,
          onProgress: bar.update,
        });
        bar.stop();
        r.bundle.notes = { ...r.bundle.notes, wall_seconds: Math.round(r.seconds * 10) / 10 };
        await mkdir(dirname(resolve(opts.out)), { recursive: true });
        const id = await writeBundle(opts.out, r.bundle);
        process.stdout.write(
          `wrote ${opts.out} (attack id ${id}) in ${r.seconds.toFixed(1)} s, ${r.queries} model queries\n`,
        );
        for (const m of r.bundle.models) {
          const c = m.calibration;
          const p =
            m.classifier.kind === 'svm'
              ? `C ${m.classifier.C}, gamma ${m.classifier.gamma.toFixed(5)}`
              : `l2 ${m.classifier.l2}`;
          process.stdout.write(
            `  n=${m.n}: ${c.members} member / ${c.nonmembers} non-member samples, ${p}; held-out AUROC r=1 ${c.oof_auroc_r1?.toFixed(3) ?? 'n/a'}, r=0 ${c.oof_auroc_r0?.toFixed(3) ?? 'n/a'}; threshold ${m.threshold.toFixed(3)} for FPR ${r.bundle.target_fpr}\n`,
          );
        }
      } finally {
        bar.stop();
        await cache?.close();
      }
    });
}
