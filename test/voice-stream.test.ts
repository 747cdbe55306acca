/**
 * Bounded-batch embedding (VoiceStream, src/features/embed-voices.ts) on the fixture model: clips handed over
 * one at a time are embedded as soon as `max_batch` voices of one length wait, so the audit of a long request
 * holds one batch, not the request; the queries and embeddings are those of embedding all clips at once.
 */
import test from 'ava';
import type { Clip } from '../src/audio/index.js';
import {
  clipToVoices,
  embedClipVoices,
  SharedVoiceInputs,
  VoiceStream,
  type VoiceSpec,
} from '../src/features/index.js';
import { loadSpeakerModel, type SpeakerModel } from '../src/model/index.js';
import { modelPath } from '../src/paths.js';
import { fixtureModel } from './helpers/data.js';

/** A deterministic test clip: two tones and a little noise, `seconds` long at 16 kHz. */
function tone(i: number, seconds: number): Clip {
  let s = 1000 + i;
  const samples = Float32Array.from({ length: Math.round(seconds * 16000) }, (_, k) => {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    const t = k / 16000;
    return (
      0.2 * Math.sin(2 * Math.PI * (120 + 7 * i) * t) +
      0.05 * Math.sin(2 * Math.PI * 900 * t) +
      0.02 * (s / 2 ** 31 - 0.5)
    );
  });
  return { source: `tone-${i}.wav`, samples, sampleRate: 16000, seconds, speechSeconds: seconds };
}

/** The model with its `embed` calls recorded: voices per call, and how many clips had been produced then. */
function recording(
  model: SpeakerModel,
  produced: { n: number },
): { model: SpeakerModel; calls: { voices: number; produced: number }[] } {
  const calls: { voices: number; produced: number }[] = [];
  const proxy = Object.create(model) as SpeakerModel;
  proxy.embed = (clips, labels) => {
    calls.push({ voices: clips.length, produced: produced.n });
    return model.embed(clips, labels);
  };
  return { model: proxy, calls };
}

const spec: VoiceSpec = { chunkSeconds: 2, pad: 'wrap' };

test('VoiceStream: 200 one-voice clips → embedded in full batches of 64 as they arrive (4 queries, as all at once), same embeddings', async (t) => {
  const model = await loadSpeakerModel(fixtureModel);
  try {
    t.is(model.manifest.max_batch, 64);
    const clips = Array.from({ length: 200 }, (_, i) => tone(i, 1 + (i % 5) * 0.2));
    const produced = { n: 0 };
    const rec = recording(model, produced);
    const stream = new VoiceStream(rec.model, spec, { minVoices: 2 });
    for (const c of clips) {
      produced.n++;
      await stream.add(c);
    }
    const got = await stream.finish();
    // Streamed: a batch as soon as 64 voices wait; the rest at the end.
    t.deepEqual(rec.calls, [
      { voices: 64, produced: 64 },
      { voices: 64, produced: 128 },
      { voices: 64, produced: 192 },
      { voices: 8, produced: 200 },
    ]);
    const all = await embedClipVoices(model, clips, spec);
    t.is(got.queries, 4);
    t.is(all.queries, 4, 'the same query count as one call over all clips');
    t.is(got.perClip.length, 200);
    let maxDiff = 0;
    got.perClip.forEach((voices, i) => {
      t.is(voices.length, 1);
      (voices[0] as Float32Array).forEach((v, d) => {
        maxDiff = Math.max(
          maxDiff,
          Math.abs(v - ((all.perClip[i] as Float32Array[])[0] as Float32Array)[d]!),
        );
      });
    });
    t.true(maxDiff < 1e-5, `embeddings as embedded all at once (max |Δ| ${maxDiff})`);
  } finally {
    await model.close();
  }
});

test('VoiceStream: ≤ max_batch voices → one model call at finish (one query), identical to embedding all at once', async (t) => {
  const model = await loadSpeakerModel(fixtureModel);
  try {
    // 20 clips of 1-5.5 s: 2 s chunks, wrap-padded → 2 s voices; 2-3 voices for the long clips.
    const clips = Array.from({ length: 20 }, (_, i) => tone(i, 1 + (i % 10) * 0.5));
    const produced = { n: 0 };
    const rec = recording(model, produced);
    const stream = new VoiceStream(rec.model, spec);
    for (const c of clips) {
      produced.n++;
      await stream.add(c);
    }
    const got = await stream.finish();
    const all = await embedClipVoices(model, clips, spec);
    t.is(rec.calls.length, 1);
    t.is(rec.calls[0]?.produced, 20);
    t.is(got.queries, 1);
    t.is(all.queries, 1);
    t.is(stream.voices, all.perClip.flat().length);
    t.deepEqual(
      got.perClip.map((v) => v.map((e) => Array.from(e))),
      all.perClip.map((v) => v.map((e) => Array.from(e))),
      'bit-identical: the same single call',
    );
  } finally {
    await model.close();
  }
});

test('VoiceStream: voices of many lengths that never fill a batch are embedded once maxHeldSamples wait', async (t) => {
  const model = await loadSpeakerModel(fixtureModel);
  try {
    const produced = { n: 0 };
    const rec = recording(model, produced);
    // No chunking: every clip is its own length; hold at most 10 s of samples.
    const stream = new VoiceStream(rec.model, {}, { maxHeldSamples: 10 * 16000 });
    for (let i = 0; i < 30; i++) {
      produced.n++;
      await stream.add(tone(i, 1 + i * 0.01));
    }
    const got = await stream.finish();
    t.true(rec.calls.length >= 3, `${rec.calls.length} calls`);
    for (const c of rec.calls) t.true(c.voices <= 10, `at most 10 one-second voices held (${c.voices})`);
    t.is(got.perClip.flat().length, 30);
  } finally {
    await model.close();
  }
});

test('VoiceStreams of a target and a reference model with the same front-end share voices and features', async (t) => {
  const target = await loadSpeakerModel(modelPath('tdnn-ce-target'), { threads: 1 });
  const reference = await loadSpeakerModel(modelPath('tdnn-ce-shadow'), { threads: 1 });
  try {
    const clips = Array.from({ length: 6 }, (_, i) => tone(i, 1.5 + (i % 3)));
    const shared = new SharedVoiceInputs();
    const streams = [target, reference].map((m) => new VoiceStream(m, spec, { shared }));
    for (const c of clips) for (const s of streams) await s.add(c);
    const [a, b] = await Promise.all(streams.map((s) => s.finish()));
    const voices = a!.perClip.flat().length;
    t.is(
      voices,
      clips.reduce((n, c) => n + clipToVoices(c.samples, 16000, spec).length, 0),
    );
    t.true(voices > clips.length); // some clips give two voices
    // The reference model's front-end ran for no voice: every input came from the target's.
    t.deepEqual([shared.frontend.misses, shared.frontend.hits], [voices, voices]);
    t.deepEqual(b!.perClip, (await embedClipVoices(reference, clips, spec)).perClip);
    t.deepEqual(a!.perClip, (await embedClipVoices(target, clips, spec)).perClip);
  } finally {
    await Promise.all([target.close(), reference.close()]);
  }
});
