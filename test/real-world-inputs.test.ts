/**
 * Every file of ../shared/cases/real-world-inputs (README there) gives the right behaviour: decoding cases
 * decode to the baseline's samples or fail with a typed error naming the file; speaker folders keep the verdict
 * of their 16-bit originals through the default target model and attack bundle, or fail with a typed error.
 */
import test from 'ava';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import wavefile from 'wavefile';
import { decodeAudioFile } from '../src/audio/index.js';
import { auditFiles, openAuditContext, type AuditContext } from '../src/audit/index.js';
import { AudioError } from '../src/errors.js';
import { modelPath, projectRoot } from '../src/paths.js';
import { casesDir, casesTest, speechocean } from './helpers/data.js';

const speakerDir = (name: string) => resolve(casesDir, 'speaker', name);
const filesOf = (dir: string) =>
  readdirSync(dir)
    .filter((f) => /\.(wav|flac)$/.test(f))
    .sort()
    .map((f) => join(dir, f));

let ctx: AuditContext | undefined;
async function context(): Promise<AuditContext> {
  ctx ??= await openAuditContext({
    modelPath: modelPath('tdnn-ce-target'),
    attackPath: resolve(projectRoot, 'models', 'attack', 'tdnn-ce', 'attack.json'),
  });
  return ctx;
}
test.after.always(async () => ctx?.close());

const withData = speechocean ? casesTest : test.skip;

casesTest(
  'c11: an audit of 20 clips of digital silence is an audio.no-speech error naming a file',
  async (t) => {
    const files = filesOf(speakerDir('silence'));
    t.is(files.length, 20);
    const err = await t.throwsAsync(auditFiles(await context(), 'SILENCE', files), {
      instanceOf: AudioError,
    });
    t.is(err?.code, 'audio.no-speech');
    t.true(err?.message.startsWith(files[0] as string), err?.message);
    const one = await t.throwsAsync(
      auditFiles(await context(), 'C11', [resolve(casesDir, 'c11_silence_2s.wav')]),
      {
        instanceOf: AudioError,
      },
    );
    t.is(one?.code, 'audio.no-speech');
  },
);

casesTest('c05 / speaker/s8bit: 8-bit PCM of the target member SPEAKER1029 stays member', async (t) => {
  const r = await auditFiles(await context(), 'S8BIT', filesOf(speakerDir('s8bit')));
  t.is(r.verdict, 'member', `p ${r.probability}`);
  t.is(r.voices, 20);
  t.true(r.clips.every((c) => c.speech_seconds >= 0.3 && c.speech_seconds <= c.seconds));
});

withData(
  'SPEAKER1029 (16-bit FLAC) is member and SPEAKER0003 is non-member; zero padding changes neither',
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'slmia-pad-'));
    for (const [speaker, want] of [
      ['SPEAKER1029', 'member'],
      ['SPEAKER0003', 'non-member'],
    ] as const) {
      const flacs = filesOf(resolve(speechocean as string, 'audio', speaker));
      const plain = await auditFiles(await context(), speaker, flacs);
      t.is(plain.verdict, want, `${speaker} p ${plain.probability}`);
      // The same clips with 0.25 s of digital zeros at each end (16-bit WAV).
      const padded: string[] = [];
      for (const f of flacs) {
        const a = await decodeAudioFile(f);
        const pcm = new Int16Array(a.samples.length + 8000);
        a.samples.forEach((v, i) => (pcm[4000 + i] = Math.round(v * 32768)));
        const w = new wavefile.WaveFile();
        w.fromScratch(1, 16000, '16', pcm);
        const out = join(dir, `${speaker}-${f.slice(-14, -5)}.wav`);
        writeFileSync(out, w.toBuffer());
        padded.push(out);
      }
      const r = await auditFiles(await context(), `${speaker}-padded`, padded);
      t.is(r.verdict, want, `${speaker} zero-padded p ${r.probability}`);
      t.true(Math.abs(r.probability - plain.probability) < 0.02, `${r.probability} vs ${plain.probability}`);
    }
  },
);
