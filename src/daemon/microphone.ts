/**
 * Microphone input via node-record-lpcm16: the configured recorder program (sox, rec or arecord) streams
 * raw s16le mono PCM at the model's rate; each utterance is S seconds, decoded, resampled if needed and
 * trimmed (energy based) into a {@link Clip}. Nothing is written to disk here.
 */
import recorder from 'node-record-lpcm16';
import { decodePcmS16le, prepareAudio, type Clip } from '../audio/index.js';
import { AudioError } from '../errors.js';

/** Options of {@link recordUtterances}. */
export interface RecordOptions {
  recorder: 'sox' | 'rec' | 'arecord';
  device?: string;
  /** Capture rate, Hz. */
  captureRate: number;
  /** Model rate, Hz (clips are resampled to it). */
  sampleRate: number;
  utterances: number;
  /** Length of each utterance, seconds. */
  seconds: number;
  trim: boolean;
  /** Shortest usable utterance after trimming, seconds. */
  minSeconds?: number;
  /** Called before each utterance starts (1-based). */
  onUtterance?: (index: number) => void;
}

/** One recorded utterance: the prepared clip and the raw PCM (kept only when audio is retained). */
export interface Recorded {
  clip: Clip;
  pcm: Buffer;
}

/**
 * Record `seconds` of s16le mono PCM with the recorder program.
 * @returns the bytes (possibly fewer when the program ends early)
 * @throws AudioError `not-found` when the program cannot be started, `empty` when it produced nothing
 */
export function recordPcm(
  o: Pick<RecordOptions, 'recorder' | 'device' | 'captureRate' | 'seconds'>,
  label: string,
): Promise<Buffer> {
  const want = Math.round(o.seconds * o.captureRate) * 2;
  return new Promise((resolvePcm, reject) => {
    const rec = recorder.record({
      sampleRate: o.captureRate,
      channels: 1,
      recorder: o.recorder,
      audioType: 'raw',
      threshold: 0,
      ...(o.device ? { device: o.device } : {}),
    });
    const chunks: Buffer[] = [];
    let stderr = '';
    rec.process.stderr?.on('data', (b: Buffer) => (stderr = (stderr + b.toString()).slice(-2000)));
    let got = 0;
    let done = false;
    const finish = (err?: Error): void => {
      if (done) return;
      done = true;
      clearTimeout(guard);
      try {
        rec.stop();
      } catch {
        // already exited
      }
      if (err) return reject(err);
      const pcm = Buffer.concat(chunks).subarray(0, want - (want % 2));
      const whole = pcm.subarray(0, pcm.length - (pcm.length % 2));
      if (whole.length === 0) {
        const why = stderr.trim().split('\n').slice(-2).join(' ').slice(0, 300);
        return reject(
          new AudioError(
            label,
            'empty',
            `recorder "${o.recorder}" produced no audio${why ? ` (${why})` : ''}`,
          ),
        );
      }
      resolvePcm(whole);
    };
    // Never wait more than the utterance plus a grace period.
    const guard = setTimeout(() => finish(), o.seconds * 1000 + 5000);
    rec.process.on('error', (err: Error) =>
      finish(
        new AudioError(
          label,
          'not-found',
          `cannot start recorder "${o.recorder}" (${err.message}); install it or set microphone.recorder`,
          { cause: err },
        ),
      ),
    );
    const stream = rec.stream();
    stream.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      got += chunk.length;
      if (got >= want) finish();
    });
    stream.on('error', () => finish()); // non-zero exit after we stopped it, or an early end: keep what we have
    stream.on('end', () => finish());
  });
}

/**
 * Record N utterances one after the other and prepare each as a model clip.
 * @throws AudioError when the recorder cannot run, produced nothing, or an utterance is too short after trimming
 */
export async function recordUtterances(o: RecordOptions): Promise<Recorded[]> {
  const out: Recorded[] = [];
  for (let i = 1; i <= o.utterances; i++) {
    o.onUtterance?.(i);
    const label = `microphone#${i}`;
    const pcm = await recordPcm(o, label);
    const decoded = decodePcmS16le(pcm, o.captureRate, 1, label);
    const clip = await prepareAudio(decoded, {
      sampleRate: o.sampleRate,
      trim: o.trim,
      ...(o.minSeconds !== undefined ? { minSeconds: o.minSeconds } : {}),
    });
    out.push({ clip, pcm });
  }
  return out;
}
