/** `slmia calibrate`: train an SLMIA-SR attack bundle on a shadow model (with difficulty-calibration references). */
import { mkdir } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import type { Command } from 'commander';
import { speechoceanDir } from '../paths.js';
import { OptionError, openCache, parseNumberList, parsePositive, progressBar } from './lab-options.js';

interface CalibrateCliOptions {
  shadow: string;
  target?: string;
  reference?: string[];
  calibrationReference?: string[];
  data?: string;
  split?: string;
  out: string;
  voices: string;
  ratios: string;
  chunkSeconds?: string;
  pad: string;
  attackModel?: string;
  subsets: string;
  centre: boolean;
  targetFpr: string;
  znorm?: boolean;
  referenceVoices: string;
  seed: string;
  cache: string | false;
  progress: boolean;
}

/** Collect a repeatable option. */
function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

export function registerCalibrate(program: Command): void {
  program
    .command('calibrate')
    .description('calibrate SLMIA-SR attack models on a shadow speaker model and write the attack bundle')
    .requiredOption('--shadow <model.json>', 'shadow speaker model manifest')
    .option(
      '--target <model.json>',
      'the target model the bundle is for: shadow speakers are its non-members, so it is the shadow-side reference and the shadow the target-side one (difficulty calibration); the bundle pins its sha256',
    )
    .option(
      '--reference <model.json>',
      'target-side reference model, queried at audit (repeatable; trained on the shadow population only)',
      collect,
      [],
    )
    .option(
      '--calibration-reference <model.json>',
      'shadow-side reference model paired with each --reference (repeatable; never trained on the shadow population)',
      collect,
      [],
    )
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
    .option(
      '--attack-model <spec>',
      'attack ensemble: +-separated kind:set, kind logistic|svm, set all|target|pairs|top<k>|compact (default with references: chosen by the shadow-only selection, docs/evaluation/README.md; logistic:all without)',
    )
    .option('--subsets <k>', 'random voice subsets per shadow speaker and ratio', '4')
    .option(
      '--centre',
      'embedding centring: subtract the reference speakers\u2019 mean embedding (default)',
      true,
    )
    .option('--no-centre', 'no embedding centring')
    .option('--znorm', 'reference z-normalisation of the features (per model, from the reference speakers)')
    .option('--target-fpr <f>', 'FPR the decision threshold is chosen for', '0.01')
    .option('--reference-voices <m>', 'voices per reference speaker', '10')
    .option('--seed <k>', 'random seed', '1')
    .option('--cache <file>', 'embedding cache database (default .work/embedding-cache.sqlite)')
    .option('--no-cache', 'do not use the embedding cache')
    .option('--no-progress', 'no progress bar')
    .action(async (opts: CalibrateCliOptions) => {
      const data = opts.data ?? speechoceanDir();
      if (!data) throw new OptionError('--data', 'no dataset folder given and none under $SLMIA_DATA_DIR');
      const [{ writeBundle }, { parseMembers, runCalibration }] = await Promise.all([
        import('../attack/bundle.js'),
        import('../audit/calibrate.js'),
      ]);
      const refs = opts.reference ?? [];
      const calRefs = opts.calibrationReference ?? [];
      if (opts.target && (refs.length || calRefs.length))
        throw new OptionError(
          '--target',
          'give either --target or --reference/--calibration-reference pairs',
        );
      if (refs.length !== calRefs.length) {
        throw new OptionError(
          '--reference',
          `${refs.length} --reference but ${calRefs.length} --calibration-reference: they come in pairs`,
        );
      }
      if (opts.attackModel) {
        try {
          parseMembers(opts.attackModel, Boolean(opts.target || refs.length));
        } catch (err) {
          throw new OptionError('--attack-model', (err as Error).message);
        }
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
      const cache = await openCache(opts.cache);
      const bar = await progressBar(opts.progress);
      try {
        const r = await runCalibration({
          shadowModel: opts.shadow,
          targetModel: opts.target,
          ...(refs.length && { references: refs, calibrationReferences: calRefs }),
          bundleDir: dirname(resolve(opts.out)),
          dataset: data,
          split: opts.split,
          voiceCounts: voices,
          ratios,
          voice: { chunkSeconds: chunk, pad: chunk ? (opts.pad as 'none' | 'wrap') : 'none' },
          subsets: parsePositive('--subsets', opts.subsets),
          members: opts.attackModel,
          targetFpr: parsePositive('--target-fpr', opts.targetFpr),
          centre: opts.centre,
          referenceVoices: parsePositive('--reference-voices', opts.referenceVoices),
          seed: Number(opts.seed),
          znorm: opts.znorm ?? false,
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
          const p = m.members
            .map((mem) =>
              mem.classifier.kind === 'svm'
                ? `svm(${mem.selected.length}) C ${mem.classifier.C}, gamma ${mem.classifier.gamma.toFixed(5)}`
                : `logistic(${mem.selected.length}) l2 ${mem.classifier.l2}`,
            )
            .join(' + ');
          const plain = r.bundle.plain_models.find((x) => x.n === m.n)?.calibration;
          process.stdout.write(
            `  n=${m.n}: ${c.members} member / ${c.nonmembers} non-member samples, ${p}; held-out AUROC r=1 ${c.oof_auroc_r1?.toFixed(3) ?? 'n/a'}, r=0 ${c.oof_auroc_r0?.toFixed(3) ?? 'n/a'} (plain attack r=0 ${plain?.oof_auroc_r0?.toFixed(3) ?? 'n/a'})\n`,
          );
        }
        const sel = r.bundle.notes?.selection as
          | {
              attack_model: string | { candidates: { name: string; mean: number }[]; chosen: string };
              quantization_margin: {
                chosen: number;
                candidates: { margin: number; oof_clamp_rate: number; null_clamp_rate: number }[];
              };
              guard_norm_quantile?: {
                chosen: number;
                candidates: { quantile: number; false_alarm_rate: number }[];
              };
            }
          | undefined;
        if (sel) {
          if (typeof sel.attack_model !== 'string') {
            for (const c of sel.attack_model.candidates)
              process.stdout.write(
                `  candidate ${c.name}: shadow out-of-fold AUROC (mean of r=0, r=1 over n) ${c.mean.toFixed(4)}\n`,
              );
            process.stdout.write(`  selected: ${sel.attack_model.chosen}\n`);
          }
          const qm = sel.quantization_margin;
          process.stdout.write(
            `  quantization margin ${qm.chosen} (${qm.candidates.map((c) => `${c.margin}: out-of-fold ${(c.oof_clamp_rate * 100).toFixed(2)}%, null ${(c.null_clamp_rate * 100).toFixed(2)}%`).join('; ')})\n`,
          );
          const g = sel.guard_norm_quantile;
          if (g)
            process.stdout.write(
              `  guard norm quantile ${g.chosen} (false alarms on shadow voice sets: ${g.candidates.map((c) => `${c.quantile}: ${(c.false_alarm_rate * 100).toFixed(1)}%`).join(', ')})\n`,
            );
        }
        if (r.bundle.target) {
          process.stdout.write(
            `  pinned to target ${r.bundle.target.name} (sha256 ${r.bundle.target.sha256.slice(0, 12)}…): audits of any other model with this bundle are refused\n`,
          );
        }
      } finally {
        bar.stop();
        await cache?.close();
      }
    });
}
