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

import { decodeAudioFile, prepareAudio, type Clip } from '../src/audio/index.js';
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

let t = performance.now();
const clips: Clip[] = [];
for (const u of utterances)
  clips.push(await prepareAudio(await decodeAudioFile(u.path), { sampleRate: rate }));
const decodeMs = performance.now() - t;

t = performance.now();
const batched = await model.embed(clips.map((c) => c.samples));
const batchedMs = performance.now() - t;

t = performance.now();
let singleQueries = 0;
let singleFrontend = 0;
let singleInference = 0;
for (const c of clips) {
  const r = await model.embed([c.samples]);
  singleQueries += r.queries;
  singleFrontend += r.timings.frontendMs;
  singleInference += r.timings.inferenceMs;
}
const singleMs = performance.now() - t;
await model.close();

const n = clips.length;
const seconds = clips.reduce((s, c) => s + c.seconds, 0);
const fmt = (x: number) => x.toFixed(1);
const lines = [
  `### bench/embed — ${model.manifest.name} (${model.manifest.architecture ?? 'n/a'}), ${n} clips (${fmt(seconds)} s of speech), ${cpus().length} CPUs, ${new Date().toISOString().slice(0, 10)}`,
  '',
  '| mode | queries | wall ms | clips/s | decode ms | front-end ms | inference ms |',
  '|---|---:|---:|---:|---:|---:|---:|',
  `| batched (max_batch ${model.manifest.max_batch}) | ${batched.queries} | ${fmt(batchedMs)} | ${fmt((n / batchedMs) * 1000)} | ${fmt(decodeMs)} | ${fmt(batched.timings.frontendMs)} | ${fmt(batched.timings.inferenceMs)} |`,
  `| one clip per query | ${singleQueries} | ${fmt(singleMs)} | ${fmt((n / singleMs) * 1000)} | ${fmt(decodeMs)} | ${fmt(singleFrontend)} | ${fmt(singleInference)} |`,
  '',
  `- batched throughput / unbatched: ${(singleMs / batchedMs).toFixed(2)}× (target ≥ 1.5×)`,
  `- (decode + front-end) / inference, batched: ${(((decodeMs + batched.timings.frontendMs) / batched.timings.inferenceMs) * 100).toFixed(1)}% (target ≤ 20%)`,
  `- clips of equal length batch together; these clips have ${new Set(clips.map((c) => c.samples.length)).size} distinct lengths, hence ${batched.queries} queries`,
];
console.log(lines.join('\n'));
