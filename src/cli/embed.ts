/** `slmia embed`: audio files/dirs → speaker embeddings, batched, with the query count. */
import type { Command } from 'commander';
import { OptionError } from './lab-options.js';

interface EmbedOptions {
  model: string;
  chunkSeconds?: string;
  trim?: boolean;
  json?: boolean;
}

export function registerEmbed(program: Command): void {
  program
    .command('embed')
    .description('compute speaker embeddings of audio files (WAV/FLAC) or folders of them')
    .requiredOption('--model <model.json>', 'speaker model manifest')
    .option(
      '--chunk-seconds <s>',
      'voice chunk splitting: cut each clip into chunks of this length (seconds)',
    )
    .option('--trim', 'trim leading/trailing silence (energy based)')
    .option('--json', 'print JSON with the embeddings')
    .argument('<audio...>', 'audio files or directories')
    .action(async (audio: string[], opts: EmbedOptions) => {
      const chunkSeconds = opts.chunkSeconds === undefined ? undefined : Number(opts.chunkSeconds);
      if (chunkSeconds !== undefined && !(chunkSeconds > 0)) {
        throw new OptionError(
          '--chunk-seconds',
          `expected a positive number of seconds, got "${opts.chunkSeconds}"`,
        );
      }
      const [{ loadSpeakerModel }, { embedFiles }] = await Promise.all([
        import('../model/speaker-model.js'),
        import('../model/embed-files.js'),
      ]);
      const model = await loadSpeakerModel(opts.model);
      try {
        const result = await embedFiles(model, audio, { chunkSeconds, trim: opts.trim });
        const m = model.manifest;
        if (opts.json) {
          const out = {
            model: {
              name: m.name,
              sha256: model.sha256,
              architecture: m.architecture ?? null,
              embedding_dim: m.embedding_dim,
            },
            queries: result.queries,
            clips: result.clips.map((c) => ({
              path: c.path,
              seconds: c.seconds,
              speech_seconds: c.speechSeconds,
              chunks: c.embeddings.length,
              embedding: c.embeddings.map((e) => Array.from(e)),
            })),
          };
          process.stdout.write(`${JSON.stringify(out)}\n`);
          return;
        }
        process.stdout.write(
          `model ${m.name} (sha256 ${model.sha256.slice(0, 12)}…), ${m.embedding_dim}-dim embeddings\n`,
        );
        for (const c of result.clips) {
          const e = c.embeddings[0] as Float32Array;
          const head = Array.from(e.subarray(0, 4), (v) => v.toFixed(3)).join(', ');
          process.stdout.write(
            `${c.path}  ${c.seconds.toFixed(2)} s (${c.speechSeconds.toFixed(2)} s speech)  ${c.embeddings.length} chunk(s)  [${head}, …]\n`,
          );
        }
        process.stdout.write(`${result.clips.length} clips, ${result.queries} queries\n`);
      } finally {
        await model.close();
      }
    });
}
