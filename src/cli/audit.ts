/** `slmia audit`: one speaker's membership verdict from a few audio files. */
import type { Command } from 'commander';
import { dirname, resolve } from 'node:path';
import { defaultCachePath, openCache } from './lab-options.js';

interface AuditCliOptions {
  target?: string;
  attack?: string;
  speaker: string;
  data?: string;
  json?: boolean;
  cache: string | false;
}

export function registerAudit(program: Command): void {
  program
    .command('audit')
    .description("audit one speaker: was this speaker's voice used to train the target model?")
    .option(
      '--target <model.json>',
      "target speaker model manifest (default: the daemon's, models/tdnn-ce-target/model.json)",
    )
    .option(
      '--attack <attack.json>',
      "attack bundle (default: the daemon's, models/attack/tdnn-ce/attack.json)",
    )
    .requiredOption('--speaker <id>', 'speaker id (for the report)')
    .option(
      '--data <dir>',
      'dataset of the reference speakers when no exported references file is beside the bundle',
    )
    .option('--json', 'print the result as JSON')
    .option('--cache <file>', 'embedding cache database (default .work/embedding-cache.sqlite)')
    .option('--no-cache', 'do not use the embedding cache')
    .argument('<audio...>', 'audio files (WAV/FLAC) or folders of the speaker')
    .action(async (audio: string[], opts: AuditCliOptions) => {
      const [
        { expandAudioPaths },
        { auditFiles, openAuditContext },
        { DEFAULT_ATTACK, DEFAULT_MODEL, projectRoot },
      ] = await Promise.all([
        import('../audio/files.js'),
        import('../audit/audit-speaker.js'),
        import('../paths.js'),
      ]);
      const cache = await openCache(opts.cache);
      try {
        const ctx = await openAuditContext({
          modelPath: opts.target ?? resolve(projectRoot, DEFAULT_MODEL),
          attackPath: opts.attack ?? resolve(projectRoot, DEFAULT_ATTACK),
          cache,
          dataDir: opts.data,
          // The target-side null is computed at the first audit of a (bundle, target) and cached beside the cache.
          nullCacheDir: resolve(dirname(opts.cache || defaultCachePath()), 'nulls'),
        });
        try {
          const r = await auditFiles(ctx, opts.speaker, await expandAudioPaths(audio));
          if (opts.json) {
            const { features, quantized, ...rest } = r;
            process.stdout.write(
              `${JSON.stringify({
                ...rest,
                features: Array.from(features),
                quantized: Array.from(quantized),
                references: [ctx.target, ...ctx.referenceModels].map((m) => ({
                  model: m.model.manifest.name,
                  bank: m.source,
                })),
                null: ctx.nullSource,
              })}\n`,
            );
            return;
          }
          const q = Object.entries(r.queries_per_model)
            .map(([m, n]) => `${m} ${n}`)
            .join(', ');
          process.stdout.write(
            `${r.speaker}: ${r.verdict} (p-value ${formatP(r.p_value)} that a non-member scores this high; member at p ≤ ${r.target_fpr}; member probability ${r.probability.toFixed(3)}, threshold ${r.threshold.toFixed(3)})\n` +
              (r.reason ? `  inconclusive because: ${r.guard.detail}\n` : '') +
              `  ${r.voices} voices (attack model n=${r.model_n}, ${r.voice_sets} voice set(s)), ${r.queries} model queries (${q}), model ${r.model_sha256.slice(0, 12)}…, attack ${r.attack_id}\n` +
              `  speech (VAD): ${r.clips.reduce((a, c) => a + c.speech_seconds, 0).toFixed(2)} s in ${r.clips.length} clips, ${r.clips.reduce((a, c) => a + c.seconds, 0).toFixed(2)} s of audio kept after trimming\n` +
              duplicateLines(r.clips),
          );
        } finally {
          await ctx.close();
        }
      } finally {
        await cache?.close();
      }
    });
}

/** One line per clip that repeated an earlier one (audited once), or nothing. */
function duplicateLines(clips: { source: string; duplicate_of?: string }[]): string {
  return clips
    .filter((c) => c.duplicate_of !== undefined)
    .map((c) => `  ignored ${c.source}: the same samples as ${c.duplicate_of} (audited once)\n`)
    .join('');
}

/** A p-value for people: 3 significant digits, `< 1e-6` below. */
export function formatP(p: number): string {
  return p < 1e-6 ? '< 1e-6' : p.toPrecision(3);
}
