/**
 * Benchmark: embedding throughput batched vs one clip per query, and the per-stage time split
 * (decode, front-end, inference) on 100 real speechocean762 clips.
 *
 *   node --import=tsx bench/embed.ts [model.json] [--clips 100]
 *
 * Default model: models/tdnn-ce-target/model.json when present, else the fixture. Prints a Markdown table
 * to paste into bench/RESULTS.md.
 */
import { existsSync } from 'node:fs';
import { cpus } from 'node:os';

import { decodeAudioFile, prepareAudio, splitVoiceChunks, type Clip } from '../src/audio/index.js';
import { readUtterances } from '../src/dataset/index.js';
import { loadSpeakerModel } from '../src/model/index.js';
import { modelPath, speechoceanDir } from '../src/paths.js';

const args = process.argv.slice(2);
const clipsArg = args.indexOf('--clips');
const numClips = clipsArg >= 0 ? Number(args[clipsArg + 1]) : 100;
const manifest =
  args.find((a) => a.endsWith('.json')) ??
  (existsSync(modelPath('tdnn-ce-target')) ? modelPath('tdnn-ce-target') : modelPath('fixture'));
const data = speechoceanDir();
if (!data) {
  console.error('bench/embed: speechocean762 not found (set SLMIA_DATA_DIR)');
  process.exit(1);
}

const utterances = [...(await readUtterances(data)).values()].slice(0, numClips);
const model = await loadSpeakerModel(manifest);
const rate = model.manifest.sample_rate;

// Warm-up (first session.run allocates).
const warm = await prepareAudio(await decodeAudioFile(utterances[0]!.path), { sampleRate: rate });
await model.embed([warm.samples]);

const t = performance.now();
const clips: Clip[] = [];
for (const u of utterances)
  clips.push(await prepareAudio(await decodeAudioFile(u.path), { sampleRate: rate }));
const decodeMs = performance.now() - t;

/** Embed `pieces` batched, then one per query; returns the two table rows and the figures. */
async function measure(pieces: Float32Array[], label: string) {
  let t0 = performance.now();
  const batched = await model.embed(pieces);
  const batchedMs = performance.now() - t0;
  t0 = performance.now();
  let queries = 0;
  let frontendMs = 0;
  let inferenceMs = 0;
  for (const p of pieces) {
    const r = await model.embed([p]);
    queries += r.queries;
    frontendMs += r.timings.frontendMs;
    inferenceMs += r.timings.inferenceMs;
  }
  const singleMs = performance.now() - t0;
  const k = pieces.length;
  const row = (mode: string, q: number, wall: number, fe: number, inf: number) =>
    `| ${label}, ${mode} | ${k} | ${q} | ${fmt(wall)} | ${fmt((k / wall) * 1000)} | ${fmt(fe)} | ${fmt(inf)} |`;
  return {
    rows: [
      row(
        `batched (max_batch ${model.manifest.max_batch})`,
        batched.queries,
        batchedMs,
        batched.timings.frontendMs,
        batched.timings.inferenceMs,
      ),
      row('one per query', queries, singleMs, frontendMs, inferenceMs),
    ],
    speedup: singleMs / batchedMs,
    frontendShare: batched.timings.frontendMs / batched.timings.inferenceMs,
    inferenceMs: batched.timings.inferenceMs,
    frontendMs: batched.timings.frontendMs,
  };
}

const fmt = (x: number) => x.toFixed(1);
const whole = await measure(
  clips.map((c) => c.samples),
  'whole clips',
);
const chunks = await measure(
  clips.flatMap((c) => splitVoiceChunks(c.samples, rate, 1.0)),
  '1.0 s chunks',
);
await model.close();

const n = clips.length;
const seconds = clips.reduce((s, c) => s + c.seconds, 0);
const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
const lines = [
  `### bench/embed — ${model.manifest.name} (${model.manifest.architecture ?? 'n/a'}), ${n} clips (${fmt(seconds)} s of speech), ${cpus().length} CPUs, ${new Date().toISOString().slice(0, 10)}`,
  '',
  `Decode (FLAC) + resample of the ${n} clips: ${fmt(decodeMs)} ms (${fmt(decodeMs / n)} ms per clip).`,
  '',
  '| input | inputs | queries | wall ms | inputs/s | front-end ms | inference ms |',
  '|---|---:|---:|---:|---:|---:|---:|',
  ...whole.rows,
  ...chunks.rows,
  '',
  `- batched / unbatched throughput: whole clips ${whole.speedup.toFixed(2)}× (${new Set(clips.map((c) => c.samples.length)).size} distinct lengths), 1.0 s chunks ${chunks.speedup.toFixed(2)}× (target ≥ 1.5×)`,
  `- front-end / inference (batched): whole clips ${pct(whole.frontendShare)}, chunks ${pct(chunks.frontendShare)}`,
  `- (decode + front-end) / inference (batched, whole clips): ${pct((decodeMs + whole.frontendMs) / whole.inferenceMs)} (target ≤ 20%)`,
];
console.log(lines.join('\n'));
