/**
 * A wrong manifest fails at load (`inspect-model`) with the field named, for each of the four lab families:
 * the committed target models with one field changed at a time. The x-vector, ResNet and LSTM models take
 * `[batch, frames, 80]` fbank of any length; the wake-word CNN takes fixed `[batch, 40, 40, 1]` log-mel windows.
 */
import test from 'ava';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ManifestError } from '../src/errors.js';
import { loadSpeakerModel } from '../src/model/index.js';
import { projectRoot } from '../src/paths.js';
import { manifestVariant, type RawManifest } from './helpers/manifest.js';

const dir = mkdtempSync(join(tmpdir(), 'slmia-families-'));

/** A changed copy of a committed target model's manifest. */
const variant = (family: string, name: string, patch: (m: RawManifest) => void): string =>
  manifestVariant(
    dir,
    resolve(projectRoot, 'models', `${family}-target`, 'model.json'),
    `${family}-${name}`,
    patch,
  );

const KALDI: [string, (m: RawManifest) => void, string][] = [
  ['dim', (m) => (m.embedding_dim += 1), 'embedding_dim'],
  ['mel', (m) => (m.frontend.num_mel_bins = 40), 'frontend.num_mel_bins'],
  ['transposed', (m) => (m.input.layout = 'batch,mel,frames'), 'input.layout'],
  ['channel', (m) => (m.input.layout = 'batch,frames,mel,1'), 'input.layout'],
  ['input', (m) => (m.input.name = 'logmel'), 'input.name'],
  ['output', (m) => (m.output.name = 'dvector'), 'output.name'],
  [
    'quantized',
    (m) => (m.output.quantization = { type: 'int8', scale: 0.01, zero_point: 0 }),
    'output.quantization.type',
  ],
];
const WAKEWORD: [string, (m: RawManifest) => void, string][] = [
  ['dim', (m) => (m.embedding_dim = 256), 'embedding_dim'],
  ['mel', (m) => (m.frontend.num_mel_bins = 64), 'frontend.num_mel_bins'],
  ['window-frames', (m) => (m.window!.frames = 49), 'window.frames'],
  ['no-window', (m) => delete m.window, 'window'],
  ['window-seconds', (m) => (m.window = { seconds: 1, hop_seconds: 0.5 }), 'window.seconds'],
  ['channel-first', (m) => (m.input.layout = 'batch,1,frames,mel'), 'input.layout'],
  ['rank', (m) => (m.input.layout = 'batch,frames,mel'), 'input.layout'],
  ['fft', (m) => (m.frontend.fft_size = 500), 'frontend.fft_size'],
  ['output', (m) => (m.output.name = 'dvector'), 'output.name'],
];

for (const family of ['tdnn-ce', 'resnet-aam', 'lstm-ge2e', 'cnn-dvector']) {
  test(`${family}: every wrong manifest fails at load with the field named`, async (t) => {
    const good = await loadSpeakerModel(resolve(projectRoot, 'models', `${family}-target`, 'model.json'), {
      threads: 1,
    });
    await good.close();
    for (const [name, patch, field] of family === 'cnn-dvector' ? WAKEWORD : KALDI) {
      const path = variant(family, name, patch);
      const err = await t.throwsAsync(loadSpeakerModel(path, { threads: 1 }), { instanceOf: ManifestError });
      t.is(err?.field, field, `${name}: ${err?.message}`);
      t.true(err?.message.includes(path), 'message names the file');
    }
  });
}
