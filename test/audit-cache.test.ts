import test from 'ava';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { voiceSpecLabel, wrapPad, clipToVoices } from '../src/features/index.js';
import { SqliteEmbeddingCache } from '../src/store/embedding-cache.js';

test('SQLite embedding cache: exact float32 round trip per (model, audio, chunking, preprocessing), survives reopening', async (t) => {
  const path = join(mkdtempSync(join(tmpdir(), 'slmia-cache-')), 'cache.sqlite');
  const key = {
    modelSha256: 'a'.repeat(64),
    audioSha256: 'b'.repeat(64),
    chunking: 'chunk=2.000,pad=wrap',
    preprocessing: 'rev=2;vad=fvad:m2,margin=0.100,drop-ds;fe=0123456789ab;rate=16000',
  };
  const embs = [Float32Array.from([0.1, -2.5, 3e-8]), Float32Array.from([1 / 3, 7, -0])];
  let cache = await SqliteEmbeddingCache.open(path);
  t.is(await cache.get(key), undefined);
  await cache.put(key, embs);
  await cache.close();
  cache = await SqliteEmbeddingCache.open(path);
  const got = await cache.get(key);
  t.deepEqual(
    got?.map((e) => [...e]),
    embs.map((e) => [...e]),
  );
  t.is(await cache.get({ ...key, chunking: 'none' }), undefined);
  t.is(await cache.get({ ...key, modelSha256: 'c'.repeat(64) }), undefined);
  // Other VAD / front-end settings never get these embeddings.
  t.is(await cache.get({ ...key, preprocessing: key.preprocessing.replace('m2', 'm3') }), undefined);
  // A clip with no speech is cached as zero voices.
  const silent = { ...key, audioSha256: 'd'.repeat(64) };
  await cache.put(silent, []);
  t.deepEqual(await cache.get(silent), []);
  await cache.put(key, [embs[0]]);
  t.is((await cache.get(key))?.length, 1);
  t.is(await cache.count(key.modelSha256), 2);
  await cache.close();
});

test('voice spec: labels, wrap padding to the chunk length, chunk splitting of longer clips', (t) => {
  t.is(voiceSpecLabel({}), 'none');
  t.is(voiceSpecLabel({ chunkSeconds: 2, pad: 'wrap' }), 'chunk=2.000,pad=wrap');
  t.is(voiceSpecLabel({ chunkSeconds: 1 }), 'chunk=1.000');
  t.deepEqual([...wrapPad(Float32Array.from([1, 2, 3]), 7)], [1, 2, 3, 1, 2, 3, 1]);
  const rate = 10;
  const short = Float32Array.from({ length: 15 }, (_, i) => i);
  const v = clipToVoices(short, rate, { chunkSeconds: 2, pad: 'wrap' });
  t.is(v.length, 1);
  t.is(v[0].length, 20);
  t.is(v[0][15], 0);
  t.is(clipToVoices(short, rate, { chunkSeconds: 2, pad: 'none' })[0].length, 15);
  const long = Float32Array.from({ length: 50 }, (_, i) => i);
  const chunks = clipToVoices(long, rate, { chunkSeconds: 2, pad: 'wrap' });
  t.deepEqual(
    chunks.map((c) => c.length),
    [20, 20, 20],
  );
  t.is(chunks[2][19], 49); // remainder ≥ half a chunk: a last full chunk ending at the clip end
});

test('every committed reference bank carries its model’s current preprocessing label (not stale)', async (t) => {
  const { readdirSync } = await import('node:fs');
  const { resolve } = await import('node:path');
  const { projectRoot } = await import('../src/paths.js');
  const { readReferenceFile } = await import('../src/audit/index.js');
  const { preprocessingLabel, readManifest } = await import('../src/model/index.js');
  const attackRoot = resolve(projectRoot, 'models', 'attack');
  const models = readdirSync(resolve(projectRoot, 'models'));
  let checked = 0;
  for (const bundle of readdirSync(attackRoot)) {
    for (const file of readdirSync(resolve(attackRoot, bundle)).filter((f) => f.startsWith('references-'))) {
      const ref = await readReferenceFile(resolve(attackRoot, bundle, file));
      for (const m of models) {
        const path = resolve(projectRoot, 'models', m, 'model.json');
        let loaded;
        try {
          loaded = await readManifest(path);
        } catch {
          continue; // not a model folder
        }
        if (loaded.manifest.sha256 !== ref.modelSha256) continue;
        t.is(ref.preprocessing, preprocessingLabel(loaded.manifest), `${bundle}/${file} (${m})`);
        checked++;
      }
    }
  }
  t.true(checked >= 4, `${checked} banks checked`);
});
