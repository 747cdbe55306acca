/** `slmia inspect-model <model.json>`: the validated manifest and the ONNX inputs/outputs found. */
import type { Command } from 'commander';

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
          `front-end    ${m.frontend.type}${m.frontend.type === 'kaldi-fbank' ? ` ${m.frontend.num_mel_bins} mel bins, CMN ${m.frontend.cmn ? 'on' : 'off'}` : ` normalize ${m.frontend.normalize}`}`,
          `embedding    ${m.embedding_dim} dims, ${m.similarity}${m.l2_normalize ? ', L2-normalised' : ''}${m.output.quantization ? `, ${m.output.quantization.type} output` : ''}`,
          `max batch    ${m.max_batch} clips per query`,
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
