/**
 * The speech-activity stage (src/audio/vad.ts): WebRTC VAD trimming, digital-silence removal, seconds of
 * speech, and the `audio.no-speech` error of prepareAudio.
 */
import test from 'ava';
import { resolve } from 'node:path';
import { decodeAudioFile, detectSpeech, prepareAudio, VAD_DEFAULTS, vadLabel } from '../src/audio/index.js';
import { AudioError } from '../src/errors.js';
import { casesDir, casesTest } from './helpers/data.js';

const baseline = () => decodeAudioFile(resolve(casesDir, 'c00_baseline_pcm16.wav'));

/** `x` with `before` and `after` zero samples around it. */
function zeroPad(x: Float32Array, before: number, after: number): Float32Array {
  const y = new Float32Array(before + x.length + after);
  y.set(x, before);
  return y;
}

test('VAD label names every setting (embedding-cache key)', (t) => {
  t.is(vadLabel(VAD_DEFAULTS), 'fvad:m2,margin=0.100,drop-ds');
  t.is(vadLabel({ mode: 3, marginSeconds: 0.05, dropDigitalSilence: false }), 'fvad:m3,margin=0.050');
});

test('digital silence and low-level white noise have no speech', async (t) => {
  const zeros = await detectSpeech(new Float32Array(32000), 16000);
  t.is(zeros.speechSeconds, 0);
  t.is(zeros.samples.length, 0);
  let s = 7;
  const noise = Float32Array.from({ length: 32000 }, () => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return (s / 2 ** 32 - 0.5) * 0.004; // about -57 dBFS RMS
  });
  const hiss = await detectSpeech(noise, 16000);
  t.true(hiss.speechSeconds < 0.1, `${hiss.speechSeconds} s`); // a few 10 ms frames at most

  const err = await t.throwsAsync(
    prepareAudio(
      { source: 'hiss.wav', samples: noise, sampleRate: 16000, channels: 1, seconds: 2, format: 'wav' },
      { sampleRate: 16000, minSeconds: 0.3 },
    ),
    { instanceOf: AudioError },
  );
  t.is(err?.code, 'audio.no-speech');
  t.regex(err?.message ?? '', /^hiss\.wav: 0\.\d\d s of speech in 2\.00 s .*at least 0\.3 s of speech/);
});

casesTest('speech is kept; zero padding at the ends is cut to exactly the same samples', async (t) => {
  const clip = (await baseline()).samples;
  const plain = await detectSpeech(clip, 16000);
  t.true(plain.speechSeconds >= 1.2 && plain.speechSeconds <= 2, `speech ${plain.speechSeconds} s`);
  t.true(plain.keptSeconds >= plain.speechSeconds);
  // 0.25 s of zeros at each end (one case of the issue): same kept samples, same speech.
  const padded = await detectSpeech(zeroPad(clip, 4000, 4000), 16000);
  t.deepEqual(padded.samples, plain.samples);
  t.is(padded.speechSeconds, plain.speechSeconds);
  // Padding that is not a whole number of 10 ms frames: no zero run survives, speech within 30 ms.
  const odd = await detectSpeech(zeroPad(clip, 3333, 1717), 16000);
  t.true(Math.abs(odd.speechSeconds - plain.speechSeconds) <= 0.03, `${odd.speechSeconds}`);
  t.true(odd.keptSeconds <= plain.keptSeconds + 0.02, `${odd.keptSeconds} vs ${plain.keptSeconds}`);
});

casesTest('digital silence inside the speech is removed and reported', async (t) => {
  const clip = (await baseline()).samples;
  const plain = await detectSpeech(clip, 16000);
  const mid = plain.start + Math.round((plain.end - plain.start) / 2 / 160) * 160;
  const gapped = new Float32Array(clip.length + 4800);
  gapped.set(clip.subarray(0, mid), 0);
  gapped.set(clip.subarray(mid), mid + 4800); // 0.3 s of zeros in the middle
  const r = await detectSpeech(gapped, 16000);
  t.true(Math.abs(r.droppedSilenceSeconds - 0.3) < 0.011, `dropped ${r.droppedSilenceSeconds}`);
  t.true(Math.abs(r.keptSeconds - plain.keptSeconds) < 0.011);
  t.is(
    (await detectSpeech(gapped, 16000, { ...VAD_DEFAULTS, dropDigitalSilence: false })).droppedSilenceSeconds,
    0,
  );
});

casesTest('rates libfvad does not take are analysed on a 16 kHz copy', async (t) => {
  const { resample } = await import('../src/audio/index.js');
  const clip = (await baseline()).samples;
  const at22 = await resample(zeroPad(clip, 4000, 4000), 16000, 22050);
  const r = await detectSpeech(at22, 22050);
  const plain = await detectSpeech(clip, 16000);
  t.true(
    Math.abs(r.speechSeconds - plain.speechSeconds) <= 0.05,
    `${r.speechSeconds} vs ${plain.speechSeconds}`,
  );
  t.true(r.start >= 5000 && r.keptSeconds < (at22.length - 8000) / 22050 + 0.05, `start ${r.start}`);
});
