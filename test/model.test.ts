import test from 'ava';
import { execFile } from 'node:child_process';
import { readFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { loadClip } from '../src/audio/index.js';
import { AudioError, ManifestError, ModelError } from '../src/errors.js';
import {
  embedFiles,
  FrontendCache,
  loadSpeakerModel,
  parseManifest,
  readManifest,
} from '../src/model/index.js';
import { modelPath, projectRoot } from '../src/paths.js';
import { dataTest, fixtureModel, speechocean, utterancePath } from './helpers/data.js';

const dir = mkdtempSync(join(tmpdir(), 'slmia-model-'));
const fixture = JSON.parse(readFileSync(fixtureModel, 'utf8')) as Record<string, unknown> & {
  sha256: string;
};
const fixtureOnnx = resolve(dirname(fixtureModel), fixture.onnx as string);

/** Write a variant of the fixture manifest (ONNX path made absolute) and return its path. */
function variant(name: string, patch: (m: Record<string, unknown>) => void): string {
  const m = structuredClone(fixture);
  m.onnx = fixtureOnnx;
  patch(m);
  const path = join(dir, `${name}.json`);
  writeFileSync(path, JSON.stringify(m));
  return path;
}

async function manifestError(t: import('ava').ExecutionContext, path: string, field: string): Promise<void> {
  const err = await t.throwsAsync(loadSpeakerModel(path, { threads: 1 }), { instanceOf: ManifestError });
  t.is(err?.field, field, err?.message);
  t.true(err?.message.includes(path), 'message names the file');
}

test('the fixture manifest validates against its ONNX session', async (t) => {
  const model = await loadSpeakerModel(fixtureModel, { threads: 1 });
  t.deepEqual(model.inputs, [{ name: 'fbank', type: 'float32', shape: ['batch', 'frames', 80] }]);
  t.deepEqual(model.outputs, [{ name: 'embedding', type: 'float32', shape: ['batch', 32] }]);
  t.is(model.sha256, fixture.sha256);
  await model.close();
});

test('manifest schema errors name the field', (t) => {
  const bad = structuredClone(fixture);
  delete bad.embedding_dim;
  t.is(t.throws(() => parseManifest(bad, 'x.json'), { instanceOf: ManifestError })?.field, 'embedding_dim');
  const badLayout = { ...structuredClone(fixture), input: { name: 'fbank', layout: 'batch,samples' } };
  t.is(
    t.throws(() => parseManifest(badLayout, 'x.json'), { instanceOf: ManifestError })?.field,
    'input.layout',
  );
  const badSha = { ...structuredClone(fixture), sha256: 'XYZ' };
  t.is(t.throws(() => parseManifest(badSha, 'x.json'), { instanceOf: ManifestError })?.field, 'sha256');
  const extra = { ...structuredClone(fixture), unknown_key: 1 };
  t.is(t.throws(() => parseManifest(extra, 'x.json'), { instanceOf: ManifestError })?.field, '(root)');
});

test('manifest/ONNX mismatches are rejected at load, naming the field', async (t) => {
  await manifestError(
    t,
    variant('wrong-sha', (m) => (m.sha256 = '0'.repeat(64))),
    'sha256',
  );
  await manifestError(
    t,
    variant('wrong-input', (m) => (m.input = { name: 'feats', layout: 'batch,frames,mel' })),
    'input.name',
  );
  await manifestError(
    t,
    variant('wrong-output', (m) => (m.output = { name: 'emb' })),
    'output.name',
  );
  await manifestError(
    t,
    variant('wrong-dim', (m) => (m.embedding_dim = 192)),
    'embedding_dim',
  );
  await manifestError(
    t,
    variant('wrong-mel', (m) => (m.frontend = { type: 'kaldi-fbank', num_mel_bins: 40, cmn: true })),
    'frontend.num_mel_bins',
  );
  await manifestError(
    t,
    variant(
      'wrong-quant',
      (m) => (m.output = { name: 'embedding', quantization: { type: 'int8', scale: 0.1, zero_point: 0 } }),
    ),
    'output.quantization.type',
  );
  const badZero = {
    ...structuredClone(fixture),
    output: { name: 'embedding', quantization: { type: 'int8', scale: 0.1, zero_point: 200 } },
  };
  t.is(
    t.throws(() => parseManifest(badZero, 'x.json'), { instanceOf: ManifestError })?.field,
    'output.quantization.zero_point',
  );
  const badMel = {
    ...structuredClone(fixture),
    frontend: { type: 'kaldi-fbank', low_freq: 20, high_freq: 9000 },
  };
  t.is(
    t.throws(() => parseManifest(badMel, 'x.json'), { instanceOf: ManifestError })?.field,
    'frontend.high_freq',
  );
  const missing = join(dir, 'nope.json');
  const err = await t.throwsAsync(readManifest(missing), { instanceOf: ManifestError });
  t.is(err?.field, '(file)');
});

/** Deterministic pseudo-speech: a few harmonics plus noise, different per seed. */
function synthClip(seed: number, seconds: number): Float32Array {
  const n = Math.round(seconds * 16000);
  let s = seed * 7919 + 1;
  const rand = () => ((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 2 - 1;
  const f0 = 100 + 20 * seed;
  return Float32Array.from({ length: n }, (_, i) => {
    const t = i / 16000;
    return 0.2 * Math.sin(2 * Math.PI * f0 * t) + 0.1 * Math.sin(2 * Math.PI * 3 * f0 * t) + 0.02 * rand();
  });
}

test('20 clips of equal length with max_batch 32 take one query', async (t) => {
  const model = await loadSpeakerModel(
    variant('batch32', (m) => (m.max_batch = 32)),
    { threads: 1 },
  );
  const clips = Array.from({ length: 20 }, (_, i) => synthClip(i, 1.0));
  const result = await model.embed(clips);
  t.is(result.queries, 1);
  t.is(result.embeddings.length, 20);
  t.true(result.embeddings.every((e) => e.length === 32));
  t.is(model.totalQueries, 1);
  await model.close();
});

test('batched and one-by-one embeddings agree within 1e-4; lengths are grouped, not padded', async (t) => {
  const model = await loadSpeakerModel(
    variant('batch4', (m) => (m.max_batch = 4)),
    { threads: 1 },
  );
  const clips = [0.5, 1.0, 0.5, 1.0, 0.5, 0.75, 0.5, 0.5, 0.5].map((sec, i) => synthClip(i, sec));
  const batched = await model.embed(clips);
  // 6 clips of 0.5 s → ceil(6/4) = 2 queries; 2 of 1.0 s → 1; 1 of 0.75 s → 1.
  t.is(batched.queries, 4);
  let worst = 0;
  for (const [i, clip] of clips.entries()) {
    const single = await model.embed([clip]);
    t.is(single.queries, 1);
    const a = batched.embeddings[i] as Float32Array;
    const b = single.embeddings[0] as Float32Array;
    for (let k = 0; k < a.length; k++) worst = Math.max(worst, Math.abs((a[k] as number) - (b[k] as number)));
  }
  t.true(worst < 1e-4, `max |batched - single| = ${worst}`);
  t.is(model.totalQueries, 4 + clips.length);
  await model.close();
});

test('L2 normalisation option gives unit-norm embeddings', async (t) => {
  const model = await loadSpeakerModel(
    variant('l2', (m) => (m.l2_normalize = true)),
    { threads: 1 },
  );
  const { embeddings } = await model.embed([synthClip(3, 0.6)]);
  const norm = Math.hypot(...(embeddings[0] as Float32Array));
  t.true(Math.abs(norm - 1) < 1e-6);
  await model.close();
});

test('a clip shorter than one frame is a typed model error naming the clip', async (t) => {
  const model = await loadSpeakerModel(fixtureModel, { threads: 1 });
  const err = await t.throwsAsync(model.embed([new Float32Array(100)], ['tiny.wav']), {
    instanceOf: ModelError,
  });
  t.regex(err?.message ?? '', /tiny\.wav/);
  const long = await t.throwsAsync(model.embed([new Float32Array(31 * 16000)], ['long.wav']), {
    instanceOf: AudioError,
  });
  t.is(long?.reason, 'too-long');
  t.regex(long?.message ?? '', /long\.wav: 31\.00 s/);
  await model.close();
});

dataTest('embedFiles with chunking: real speaker, 20 clips, ≤ 2 queries', async (t) => {
  const model = await loadSpeakerModel(fixtureModel, { threads: 1 });
  const result = await embedFiles(model, [resolve(speechocean as string, 'audio', 'SPEAKER0001')], {
    chunkSeconds: 1.0,
  });
  t.is(result.clips.length, 20);
  t.true(result.queries <= 2, `queries ${result.queries}`);
  const clip = await loadClip(utterancePath('SPEAKER0001', '000010035'), { sampleRate: 16000 });
  t.is(clip.seconds, 2);
  const entry = result.clips.find((c) => c.path.endsWith('000010035.flac'));
  t.is(entry?.embeddings.length, 2);
  await model.close();
});

const run = promisify(execFile);

dataTest('CLI embed --json prints model sha, queries and per-clip embeddings', async (t) => {
  const cli = resolve(projectRoot, 'dist', 'cli.js');
  const { stdout } = await run(process.execPath, [
    cli,
    'embed',
    '--model',
    fixtureModel,
    '--chunk-seconds',
    '1.0',
    '--json',
    resolve(speechocean as string, 'audio', 'SPEAKER0001'),
  ]);
  const out = JSON.parse(stdout) as {
    model: { sha256: string };
    queries: number;
    clips: { path: string; seconds: number; chunks: number; embedding: number[][] }[];
  };
  t.is(out.model.sha256, fixture.sha256);
  t.is(out.clips.length, 20);
  t.true(out.queries <= 2);
  t.true(
    out.clips.every((c) => c.embedding.length === c.chunks && c.embedding.every((e) => e.length === 32)),
  );
});

test('CLI reports bad input with exit code 2 and the file name', async (t) => {
  const cli = resolve(projectRoot, 'dist', 'cli.js');
  const bad = join(dir, 'bad.wav');
  writeFileSync(bad, 'nope');
  const err = await t.throwsAsync(run(process.execPath, [cli, 'embed', '--model', fixtureModel, bad]));
  const e = err as unknown as { code: number; stderr: string };
  t.is(e.code, 2);
  t.regex(e.stderr, /bad\.wav/);
  const usage = await t.throwsAsync(
    run(process.execPath, [cli, 'embed', '--model', fixtureModel, '--chunk-seconds', 'abc', bad]),
  );
  const u = usage as unknown as { code: number; stderr: string };
  t.is(u.code, 2);
  t.is(u.stderr.trim(), 'slmia: --chunk-seconds: expected a positive number of seconds, got "abc"');
});

test('models with the same front-end share one feature computation per clip (target and reference model)', async (t) => {
  // tdnn-ce-target and its shadow (the audit's reference model) have identical front-ends; the window model
  // cnn-dvector-target another one.
  const target = await loadSpeakerModel(modelPath('tdnn-ce-target'), { threads: 1 });
  const reference = await loadSpeakerModel(modelPath('tdnn-ce-shadow'), { threads: 1 });
  const other = await loadSpeakerModel(modelPath('cnn-dvector-target'), { threads: 1 });
  const clips = [0.8, 1.2, 0.8].map((sec, i) => synthClip(i, sec));
  const cache = new FrontendCache();
  await target.embed(clips, undefined, { frontendCache: cache });
  t.deepEqual([cache.hits, cache.misses], [0, 3]);
  const shared = await reference.embed(clips, undefined, { frontendCache: cache });
  t.deepEqual([cache.hits, cache.misses], [3, 3]); // no front-end run for the reference model
  t.deepEqual(shared.embeddings, (await reference.embed(clips)).embeddings);
  await other.embed(clips, undefined, { frontendCache: cache });
  t.deepEqual([cache.hits, cache.misses], [3, 6]);
  await Promise.all([target.close(), reference.close(), other.close()]);
});
