/**
 * torch-vs-onnxruntime check of an exported speaker model, through the project's own TypeScript code.
 *
 * Usage: npx tsx models/train/check_onnx.mts <request.json> <result.json>
 *
 * request.json (written by train.py):
 *   manifest:   path of model.json (its ONNX file is pinned by sha256)
 *   clips:      [{ path, inputs: [flat model input] (torch front-end: one whole-clip fbank + CMN, or every
 *               window of a fixed-window model), dims: input shape without batch, rows: [torch output per input],
 *               torch: [dim] the clip's embedding (the mean of the rows for a fixed-window model) }]
 *   eval_files: audio files to embed with the full TS pipeline (decode → fbank → ONNX), optional
 *   eval_out:   where to write those embeddings, raw little-endian float32 `[files, dim]`
 * result.json:
 *   onnx_max_abs_diff:     max |ORT(input) - torch(input)| on the same model inputs
 *   pipeline_max_abs_diff: max |TS front-end + ORT - torchaudio front-end + torch| on the clip files
 */
import { readFileSync, writeFileSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import { embedFiles, loadSpeakerModel } from '../../src/model/index.js';

interface Request {
  manifest: string;
  clips: { path: string; inputs: number[][]; dims: number[]; rows: number[][]; torch: number[] }[];
  eval_files?: string[];
  eval_out?: string;
}

const [requestPath, resultPath] = process.argv.slice(2);
if (!requestPath || !resultPath) throw new Error('usage: check_onnx.mts <request.json> <result.json>');
const req = JSON.parse(readFileSync(requestPath, 'utf8')) as Request;

const model = await loadSpeakerModel(req.manifest, { threads: 2 });
const session = await ort.InferenceSession.create(model.onnxPath, { intraOpNumThreads: 2 });
const inputName = model.manifest.input.name;
const outputName = model.manifest.output.name;

let onnxDiff = 0;
for (const clip of req.clips) {
  for (const [k, input] of clip.inputs.entries()) {
    const out = await session.run({
      [inputName]: new ort.Tensor('float32', Float32Array.from(input), [1, ...clip.dims]),
    });
    const emb = out[outputName]!.data as Float32Array;
    clip.rows[k]!.forEach((v, i) => (onnxDiff = Math.max(onnxDiff, Math.abs(v - emb[i]!))));
  }
}
await session.release();

let pipelineDiff = 0;
const piped = await embedFiles(
  model,
  req.clips.map((c) => c.path),
);
piped.clips.forEach((c, k) => {
  const emb = c.embeddings[0]!;
  req.clips[k]!.torch.forEach((v, i) => (pipelineDiff = Math.max(pipelineDiff, Math.abs(v - emb[i]!))));
});

if (req.eval_files && req.eval_out) {
  const res = await embedFiles(model, req.eval_files);
  const dim = model.manifest.embedding_dim;
  const all = new Float32Array(res.clips.length * dim);
  res.clips.forEach((c, k) => all.set(c.embeddings[0]!, k * dim));
  writeFileSync(req.eval_out, Buffer.from(all.buffer));
}
await model.close();
writeFileSync(resultPath, JSON.stringify({ onnx_max_abs_diff: onnxDiff, pipeline_max_abs_diff: pipelineDiff }));
