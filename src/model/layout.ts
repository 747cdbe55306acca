/**
 * Input layouts: where the front-end's axes go in the model's input tensor. A layout names the axes in
 * order, e.g. `batch,frames,mel,1` (a `[N, 40, 40, 1]` TFLite-style image) or `batch,1,mel,frames` (a
 * PyTorch `[N, 1, 40, T]` image); `1` is a channel axis of size 1. See docs/model-manifest.md.
 */
import type { InputLayout } from './manifest.js';

/** Axis names of a layout, batch first: e.g. `['batch', 'frames', 'mel', '1']`. */
export function layoutAxes(layout: InputLayout): string[] {
  return layout.split(',');
}

/**
 * Model input shape of one item (without the batch axis) for a front-end output.
 * @param feShape front-end output shape: `[frames, mel]` or `[samples]`
 * @returns e.g. `[40, 40, 1]` for `batch,frames,mel,1` and `[40, 40]`
 */
export function itemShape(layout: InputLayout, feShape: readonly number[]): number[] {
  const size: Record<string, number> =
    feShape.length === 2
      ? { frames: feShape[0] as number, mel: feShape[1] as number, '1': 1 }
      : { samples: feShape[0] as number, '1': 1 };
  return layoutAxes(layout)
    .slice(1)
    .map((a) => {
      const s = size[a];
      if (s === undefined)
        throw new RangeError(`layout "${layout}" has axis "${a}" the front-end does not make`);
      return s;
    });
}

/**
 * Front-end output data in the layout's order: `[frames, mel]` row-major stays as it is when frames come
 * before mel, and is transposed to `[mel, frames]` when mel comes first (size-1 axes change nothing).
 * @param data `[frames, mel]` or `[samples]` row-major float32
 */
export function arrangeItem(
  layout: InputLayout,
  data: Float32Array,
  feShape: readonly number[],
): Float32Array {
  const axes = layoutAxes(layout);
  if (feShape.length !== 2 || axes.indexOf('frames') < axes.indexOf('mel')) return data;
  const [frames, mel] = feShape as [number, number];
  const out = new Float32Array(data.length);
  for (let f = 0; f < frames; f++)
    for (let b = 0; b < mel; b++) out[b * frames + f] = data[f * mel + b] as number;
  return out;
}
