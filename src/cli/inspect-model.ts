/** `slmia inspect-model <model.json>`: the validated manifest and the ONNX inputs/outputs found. */
import type { Command } from 'commander';
import type { ModelManifest, WindowPlan } from '../model/index.js';

/** One line describing a manifest's front-end. */
function describeFrontend(f: ModelManifest['frontend']): string {
  if (f.type === 'kaldi-fbank') return `kaldi-fbank ${f.num_mel_bins} mel bins, CMN ${f.cmn ? 'on' : 'off'}`;
  if (f.type === 'waveform') return `waveform, normalize ${f.normalize}`;
  const log = f.log.type === 'none' ? 'linear' : f.log.type === 'db' ? 'dB' : f.log.type;
  const post = [
    f.scale !== 1 || f.offset !== 0 ? `· ${f.scale} + ${f.offset}` : '',
    f.clip ? `clip [${f.clip.join(', ')}]` : '',
    f.quantize_bits ? `${f.quantize_bits}-bit` : '',
  ].filter(Boolean);
  return `log-mel ${f.num_mel_bins} ${f.mel_scale} mel bins ${f.low_freq}–${f.high_freq ?? 'Nyquist'} Hz, ${f.frame_length}/${f.frame_shift} ms ${f.window_type}, ${f.spectrum}, ${log}${post.length ? `, ${post.join(', ')}` : ''}`;
}

/** One line describing a fixed window. */
function describeWindow(m: ModelManifest, w: WindowPlan): string {
  const s = (n: number) => `${(n / m.sample_rate).toFixed(3)} s`;
  const len =
    w.frames !== undefined
      ? `${w.frames} frames (${w.samples} samples, ${s(w.samples)})`
      : `${w.samples} samples (${s(w.samples)})`;
  return `${len}, hop ${w.hopSamples} samples (${s(w.hopSamples)}), short voices ${w.pad}-padded`;
}

export function registerInspectModel(program: Command): void {
  program
    .command('inspect-model')
    .description('validate a model manifest against its ONNX file and print both')
    .argument('<model.json>', 'model manifest')
    .option('--json', 'machine-readable output')
    .action(async (manifestPath: string, opts: { json?: boolean }) => {
      const { loadSpeakerModel } = await import('../model/speaker-model.js');
      const model = await loadSpeakerModel(manifestPath, { threads: 1 });
      try {
        const report = {
          manifest: model.manifest,
          onnx: { path: model.onnxPath, inputs: model.inputs, outputs: model.outputs },
        };
        if (opts.json) {
          process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
          return;
        }
        const m = model.manifest;
        const lines = [
          `model        ${m.name}${m.architecture ? ` (${m.architecture})` : ''}${m.role ? `, role ${m.role}` : ''}`,
          `onnx         ${model.onnxPath}`,
          `sha256       ${m.sha256} (verified)`,
          `sample rate  ${m.sample_rate} Hz, clips ${m.min_seconds}–${m.max_seconds} s`,
          `front-end    ${describeFrontend(m.frontend)}`,
          `input        ${m.input.name} (${m.input.layout})`,
          ...(model.window
            ? [
                `window       ${describeWindow(model.manifest, model.window)}; voice embedding = mean of window embeddings${model.window.l2Normalize ? ' (each L2-normalised)' : ''}`,
              ]
            : []),
          `embedding    ${m.embedding_dim} dims, ${m.similarity}${m.l2_normalize ? ', L2-normalised' : ''}${m.output.quantization ? `, ${m.output.quantization.type} output` : ''}`,
          `max batch    ${m.max_batch} ${model.window ? 'windows' : 'clips'} per query`,
          'dummy query  ok (output shape [1, embedding_dim])',
          'ONNX inputs:',
          ...model.inputs.map((i) => `  ${i.name}  ${i.type} [${i.shape.join(', ')}]`),
          'ONNX outputs:',
          ...model.outputs.map((o) => `  ${o.name}  ${o.type} [${o.shape.join(', ')}]`),
        ];
        process.stdout.write(`${lines.join('\n')}\n`);
      } finally {
        await model.close();
      }
    });
}
