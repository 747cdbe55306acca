/**
 * torch-vs-onnxruntime check of an exported speaker model, through the project's own TypeScript code.
 *
 * Usage: npx tsx models/train/check_onnx.mts <request.json> <result.json>
 *
 * request.json (written by train.py):
 *   manifest:   path of model.json (its ONNX file is pinned by sha256)
 *   clips:      [{ path, fbank: [frames][80] (Kaldi fbank + CMN, torchaudio), torch: [dim] }]
 *   eval_files: audio files to embed with the full TS pipeline (decode → fbank → ONNX), optional
 *   eval_out:   where to write those embeddings, raw little-endian float32 `[files, dim]`
 * result.json:
 *   onnx_max_abs_diff:     max |ORT(fbank) - torch(fbank)| on the same fbank input
 *   pipeline_max_abs_diff: max |TS front-end + ORT - torchaudio front-end + torch| on the clip files
 */
import { readFileSync, writeFileSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import { embedFiles, loadSpeakerModel } from '../../src/model/index.js';

interface Request {
  manifest: string;
  clips: { path: string; fbank: number[][]; torch: number[] }[];
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
  const frames = clip.fbank.length;
  const data = Float32Array.from(clip.fbank.flat());
  const out = await session.run({ [inputName]: new ort.Tensor('float32', data, [1, frames, data.length / frames]) });
  const emb = out[outputName]!.data as Float32Array;
  clip.torch.forEach((v, i) => (onnxDiff = Math.max(onnxDiff, Math.abs(v - emb[i]!))));
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
