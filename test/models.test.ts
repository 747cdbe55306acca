/**
 * The committed lab models (models/<arch>-<role>/): every one loads through the TS adapter with its sha256
 * pin, its card records a real speaker model (EER, parameters, ONNX check), and on real speech clips of the
 * same non-member speaker embed closer than clips of different speakers.
 */
import test from 'ava';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { readSplit, readUtterances, speakersOfGroup } from '../src/dataset/index.js';
import { embedFiles, loadSpeakerModel, sha256Hex } from '../src/model/index.js';
import { projectRoot } from '../src/paths.js';
import { NO_DATA, speechocean } from './helpers/data.js';

interface Card {
  name: string;
  architecture: string;
  role: 'target' | 'shadow';
  parameters: number;
  embedding_dim: number;
  training_group: string;
  training_speakers: string[];
  split_sha256: string;
  seed: number;
  epochs: number;
  train_accuracy: number;
  verification: {
    trials_group: string;
    eer: number;
    eer_onnxruntime: number | null;
    same_speaker_trials: number;
  };
  onnx_sha256: string;
  onnx_bytes: number;
  torch_vs_onnxruntime_max_abs_diff: number | null;
  quantization?: { fp32_model: string; fp32_bytes: number; fp32_eer: number };
}

const modelsDir = resolve(projectRoot, 'models');
/** The eight lab models (4 architectures x target/shadow) and the int8 variants. */
const EXPECTED = [
  'tdnn-ce-target',
  'tdnn-ce-shadow',
  'resnet-aam-target',
  'resnet-aam-shadow',
  'lstm-ge2e-target',
  'lstm-ge2e-shadow',
  'cnn-dvector-target',
  'cnn-dvector-shadow',
  'tdnn-ce-target-int8',
  'cnn-dvector-target-int8',
];

/** The Kaldi fbank front-end of the three utterance-level families, with every default spelled out. */
const KALDI_FRONTEND = {
  type: 'kaldi-fbank',
  num_mel_bins: 80,
  frame_length: 25,
  frame_shift: 10,
  preemphasis_coefficient: 0.97,
  remove_dc_offset: true,
  window_type: 'povey',
  low_freq: 20,
  high_freq: 0,
  snip_edges: true,
  use_power: true,
  use_log_fbank: true,
  round_to_power_of_two: true,
  dither: 0,
  input_scale: 32768,
  cmn: true,
  noise_floor: 1, // the product's mel floor (docs/model-manifest.md); training used torchaudio's dither 0
};

/** The wake-word family: device log-mel (models/train/wakeword.py) on fixed 40-frame windows. */
const WAKEWORD_FRONTEND = {
  type: 'log-mel',
  frame_length: 32,
  frame_shift: 24,
  fft_size: 512,
  window_type: 'hamming',
  center: false,
  pad_mode: 'reflect',
  spectrum: 'magnitude',
  num_mel_bins: 40,
  low_freq: 0,
  high_freq: 8000,
  mel_scale: 'htk',
  mel_norm: 'none',
  filter_domain: 'hz',
  log: { type: 'db', floor: 1e-5, floor_mode: 'clamp' },
  input_scale: 1,
  cmn: false,
  scale: 1 / 120,
  offset: 80 / 120,
  clip: [0, 1],
  quantize_bits: 8,
};
const committed = readdirSync(modelsDir).filter(
  (d) =>
    d !== 'fixture' &&
    existsSync(resolve(modelsDir, d, 'model.json')) &&
    existsSync(resolve(modelsDir, d, 'card.json')),
);
const readCard = (name: string): Card =>
  JSON.parse(readFileSync(resolve(modelsDir, name, 'card.json'), 'utf8')) as Card;

test('the eight lab models and the int8 variants are committed', (t) => {
  t.deepEqual([...committed].sort(), [...EXPECTED].sort());
});

/** Three non-member speakers with three heldout clips each (real speech). */
async function probeClips(group: string): Promise<{ speaker: string; path: string }[]> {
  const dir = speechocean as string;
  const split = await readSplit(resolve(dir, 'splits', 'five-way.tsv'));
  const speakers = speakersOfGroup(split, await readUtterances(dir), group).slice(0, 3);
  return speakers.flatMap((s) => s.heldout.slice(0, 3).map((u) => ({ speaker: s.speaker, path: u.path })));
}

function cosine(a: Float32Array, b: Float32Array): number {
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += a[i]! * b[i]!;
    aa += a[i]! * a[i]!;
    bb += b[i]! * b[i]!;
  }
  return ab / Math.sqrt(aa * bb);
}

for (const name of committed) {
  test(`${name}: manifest, sha256 pin and card describe a real speaker model`, async (t) => {
    const card = readCard(name);
    const model = await loadSpeakerModel(resolve(modelsDir, name, 'model.json'), { threads: 1 });
    try {
      const m = model.manifest;
      t.is(m.name, name);
      t.is(card.name, name);
      t.is(m.role, card.role);
      t.is(m.architecture, card.architecture);
      t.true(['target', 'shadow'].includes(card.role));
      t.is(m.card, 'card.json');
      if (card.architecture === 'cnn-dvector') {
        t.deepEqual(m.frontend, WAKEWORD_FRONTEND);
        t.deepEqual(m.input, { name: 'logmel', layout: 'batch,frames,mel,1' });
        t.deepEqual(m.window, { frames: 40, hop: 20, pool: 'mean', l2_normalize: false, pad: 'wrap' });
        t.deepEqual(model.inputs[0]?.shape, ['batch', 40, 40, 1]);
        // 32 voices of 2 s = 96 windows: one query
        t.true(m.max_batch >= 96);
      } else {
        t.deepEqual(m.frontend, KALDI_FRONTEND);
        t.is(m.window, undefined);
      }
      t.is(m.sample_rate, 16000);
      t.is(m.similarity, 'cosine');
      t.is(m.embedding_dim, card.embedding_dim);
      t.deepEqual(model.outputs[0]?.shape.slice(1), [m.embedding_dim]);
      // sha256 pin: manifest = card = actual bytes
      const bytes = readFileSync(model.onnxPath);
      t.is(sha256Hex(bytes), m.sha256);
      t.is(card.onnx_sha256, m.sha256);
      t.is(card.onnx_bytes, statSync(model.onnxPath).size);
      t.true(card.onnx_bytes <= 20 * 1024 * 1024, `${card.onnx_bytes} bytes > 20 MB`);
      t.true(card.parameters > 100_000 && card.parameters <= 5_000_000, `${card.parameters} parameters`);
      const memberGroup = card.role === 'target' ? 'target-member' : 'shadow-member';
      t.is(card.training_group, memberGroup);
      t.is(card.training_speakers.length, 50);
      t.is(card.verification.trials_group, card.role === 'target' ? 'target-nonmember' : 'shadow-nonmember');
      t.is(card.verification.same_speaker_trials, 50 * 190);
      t.true(card.verification.eer > 0 && card.verification.eer <= 0.2, `EER ${card.verification.eer}`);
      t.true(card.train_accuracy > 0.5 && card.train_accuracy <= 1);
      t.true(Number.isInteger(card.seed) && card.epochs > 0);
      if (card.quantization) {
        t.true(card.onnx_bytes <= 0.35 * card.quantization.fp32_bytes, 'int8 model > 35% of fp32 size');
        t.true(Math.abs((card.verification.eer_onnxruntime ?? 1) - card.quantization.fp32_eer) <= 0.02);
      } else {
        t.true(
          card.torch_vs_onnxruntime_max_abs_diff !== null && card.torch_vs_onnxruntime_max_abs_diff < 1e-4,
        );
        t.true(Math.abs((card.verification.eer_onnxruntime ?? 1) - card.verification.eer) < 0.005);
      }
      if (speechocean) {
        const splitBytes = readFileSync(resolve(speechocean, 'splits', 'five-way.tsv'));
        t.is(card.split_sha256, sha256Hex(splitBytes));
        const split = await readSplit(resolve(speechocean, 'splits', 'five-way.tsv'));
        const members = [
          ...new Set(split.filter((e) => e.group === memberGroup).map((e) => e.speaker)),
        ].sort();
        t.deepEqual(card.training_speakers, members);
      }
    } finally {
      await model.close();
    }
  });

  test(`${name}: same-speaker clips embed closer than different-speaker clips`, async (t) => {
    if (!speechocean) {
      t.log(NO_DATA);
      t.pass();
      return;
    }
    const card = readCard(name);
    const clips = await probeClips(card.verification.trials_group);
    const model = await loadSpeakerModel(resolve(modelsDir, name, 'model.json'), { threads: 1 });
    try {
      const res = await embedFiles(
        model,
        clips.map((c) => c.path),
      );
      // whole clips batch by length; windows all have one shape
      t.is(res.queries, model.window ? 1 : new Set(res.clips.map((c) => Math.round(c.seconds * 16000))).size);
      const emb = res.clips.map((c) => c.embeddings[0]!);
      t.true(emb.every((e) => e.length === card.embedding_dim && e.every(Number.isFinite)));
      let same = 0;
      let nSame = 0;
      let diff = 0;
      let nDiff = 0;
      for (let i = 0; i < clips.length; i++) {
        for (let j = i + 1; j < clips.length; j++) {
          const s = cosine(emb[i]!, emb[j]!);
          if (clips[i]!.speaker === clips[j]!.speaker) {
            same += s;
            nSame++;
          } else {
            diff += s;
            nDiff++;
          }
        }
      }
      t.is(nSame, 9);
      t.is(nDiff, 27);
      t.true(same / nSame > diff / nDiff + 0.1, `mean same ${same / nSame} vs different ${diff / nDiff}`);
    } finally {
      await model.close();
    }
  });
}
