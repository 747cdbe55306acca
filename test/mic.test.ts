/** Microphone input through node-record-lpcm16 with a fake recorder program that streams a real utterance. */
import test from 'ava';
import { trimSilence } from '../src/audio/index.js';
import { AudioError } from '../src/errors.js';
import { recordUtterances } from '../src/daemon/microphone.js';
import { dataTest, utterancePath } from './helpers/data.js';
import { makeFakeRecorder } from './helpers/fake-recorder.js';

dataTest(
  'recorder streams s16le; each utterance is decoded, trimmed and matches the source samples',
  async (t) => {
    const fake = await makeFakeRecorder(utterancePath('SPEAKER0001', '000010011'), 'rec');
    const oldPath = process.env.PATH;
    process.env.PATH = fake.path;
    try {
      const started: number[] = [];
      const rec = await recordUtterances({
        recorder: 'rec',
        captureRate: 16000,
        sampleRate: 16000,
        utterances: 2,
        seconds: 1.0,
        trim: true,
        onUtterance: (i) => started.push(i),
      });
      t.deepEqual(started, [1, 2]);
      t.is(rec.length, 2);
      t.is(fake.calls().length, 2);
      t.regex(fake.calls()[0] as string, /-r 16000 -c 1 -e signed-integer -b 16 -t raw -/);
      // 1.0 s asked: exactly 16000 samples streamed, then trimmed like trimSilence does on the same samples.
      const first = fake.samples.subarray(0, 16000);
      for (const r of rec) {
        t.is(r.pcm.length, 32000);
        const expected = trimSilence(first, 16000);
        t.is(r.clip.samples.length, expected.length);
        t.deepEqual(Array.from(r.clip.samples.subarray(0, 50)), Array.from(expected.subarray(0, 50)));
        t.is(r.clip.sampleRate, 16000);
        t.true(r.clip.seconds > 0.5 && r.clip.seconds <= 1.0);
      }
      // Asking for more than the program streams keeps what it produced (the whole utterance).
      const [long] = await recordUtterances({
        recorder: 'rec',
        captureRate: 16000,
        sampleRate: 16000,
        utterances: 1,
        seconds: 5,
        trim: false,
      });
      t.is(long?.clip.samples.length, fake.samples.length);
      t.is(long?.clip.samples[1000], fake.samples[1000]);
    } finally {
      process.env.PATH = oldPath;
    }
  },
);

test('a missing recorder program is a clear AudioError, not a crash', async (t) => {
  const oldPath = process.env.PATH;
  process.env.PATH = '/nonexistent';
  try {
    const err = await t.throwsAsync(
      recordUtterances({
        recorder: 'arecord',
        captureRate: 16000,
        sampleRate: 16000,
        utterances: 1,
        seconds: 0.5,
        trim: true,
      }),
      { instanceOf: AudioError },
    );
    t.regex(err?.message ?? '', /microphone#1: cannot start recorder "arecord"/);
  } finally {
    process.env.PATH = oldPath;
  }
});
