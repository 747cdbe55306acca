/**
 * Test helper: a fake recorder program (`sox`, `rec` or `arecord`) on PATH that streams a real utterance as
 * raw s16le mono PCM, the way node-record-lpcm16 expects, and logs the arguments it was called with.
 */
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { decodeAudioFile, resample } from '../../src/audio/index.js';

/** A folder holding the fake program; prepend {@link FakeRecorder.dir} to PATH. */
export interface FakeRecorder {
  dir: string;
  /** The PCM file it streams. */
  pcmPath: string;
  /** The streamed samples as float (what decoding the PCM gives back). */
  samples: Float32Array;
  /** PATH with the fake first. */
  path: string;
  /** Argument lines of every call so far. */
  calls(): string[];
}

/**
 * Write `<dir>/<program>` that ignores its options and cats the s16le version of `audioPath` (at `rate` Hz).
 */
export async function makeFakeRecorder(
  audioPath: string,
  program: 'sox' | 'rec' | 'arecord' = 'sox',
  rate = 16000,
): Promise<FakeRecorder> {
  const dir = mkdtempSync(join(tmpdir(), 'slmia-fakerec-'));
  const decoded = await decodeAudioFile(audioPath);
  const samples = await resample(decoded.samples, decoded.sampleRate, rate);
  const pcm = Buffer.alloc(samples.length * 2);
  const back = new Float32Array(samples.length);
  for (let i = 0; i < samples.length; i++) {
    const v = Math.max(-32768, Math.min(32767, Math.round((samples[i] as number) * 32768)));
    pcm.writeInt16LE(v, i * 2);
    back[i] = v / 32768;
  }
  const pcmPath = join(dir, 'utterance.s16le');
  writeFileSync(pcmPath, pcm);
  const log = join(dir, 'calls.log');
  writeFileSync(log, '');
  const script = join(dir, program);
  writeFileSync(script, `#!/bin/sh\necho "$0 $*" >> '${log}'\nexec cat '${pcmPath}'\n`);
  chmodSync(script, 0o755);
  return {
    dir,
    pcmPath,
    samples: back,
    path: `${dir}${delimiter}${process.env.PATH ?? ''}`,
    calls: () => readFileSync(log, 'utf8').split('\n').filter(Boolean),
  };
}
