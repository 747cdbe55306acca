/**
 * Test helper: a fake recorder program (`sox`, `rec` or `arecord`) on PATH that streams real utterances as
 * raw s16le mono PCM, the way node-record-lpcm16 expects, and logs the arguments it was called with.
 */
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { decodeAudioFile, resample } from '../../src/audio/index.js';

/** A folder holding the fake program; put {@link FakeRecorder.path} in the environment. */
export interface FakeRecorder {
  dir: string;
  /** The samples of the first utterance as float (what decoding its PCM gives back). */
  samples: Float32Array;
  /** PATH with the fake first. */
  path: string;
  /** Argument lines of every call so far. */
  calls(): string[];
}

/**
 * Write `<dir>/<program>` that ignores its options and cats the s16le version (at `rate` Hz) of
 * `audioPaths[k % n]` on its k-th call (so N recorded utterances are N different real utterances).
 */
export async function makeFakeRecorder(
  audioPaths: string | string[],
  program: 'sox' | 'rec' | 'arecord' = 'sox',
  rate = 16000,
): Promise<FakeRecorder> {
  const dir = mkdtempSync(join(tmpdir(), 'slmia-fakerec-'));
  const paths = Array.isArray(audioPaths) ? audioPaths : [audioPaths];
  let first: Float32Array | undefined;
  for (const [k, p] of paths.entries()) {
    const decoded = await decodeAudioFile(p);
    const samples = await resample(decoded.samples, decoded.sampleRate, rate);
    const pcm = Buffer.alloc(samples.length * 2);
    const back = new Float32Array(samples.length);
    for (let i = 0; i < samples.length; i++) {
      const v = Math.max(-32768, Math.min(32767, Math.round((samples[i] as number) * 32768)));
      pcm.writeInt16LE(v, i * 2);
      back[i] = v / 32768;
    }
    writeFileSync(join(dir, `utterance-${k}.s16le`), pcm);
    first ??= back;
  }
  const log = join(dir, 'calls.log');
  writeFileSync(log, '');
  const script = join(dir, program);
  writeFileSync(
    script,
    `#!/bin/sh\necho "$0 $*" >> '${log}'\nk=$(( $(wc -l < '${log}') - 1 ))\nexec cat "${dir}/utterance-$(( k % ${paths.length} )).s16le"\n`,
  );
  chmodSync(script, 0o755);
  return {
    dir,
    samples: first as Float32Array,
    path: `${dir}${delimiter}${process.env.PATH ?? ''}`,
    calls: () => readFileSync(log, 'utf8').split('\n').filter(Boolean),
  };
}
