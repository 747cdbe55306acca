/**
 * Band-limited sample-rate conversion with libsamplerate (Secret Rabbit Code, compiled to wasm:
 * `@alexanderolsen/libsamplerate-js`), sinc "medium quality" converter (97 dB SNR, 90% bandwidth).
 */
import type libsamplerate from '@alexanderolsen/libsamplerate-js';

type Converter = Awaited<ReturnType<typeof libsamplerate.create>>;

/**
 * Resample mono audio.
 * @param samples `[numSamples] float32` in [-1, 1)
 * @param fromRate input rate, Hz
 * @param toRate output rate, Hz
 * @returns `[≈ numSamples * toRate / fromRate] float32`; the input itself when the rates are equal. Inputs over
 *   4 MB (≈ 1 M samples) go through libsamplerate's chunked path and may come back a few dozen samples short.
 * @throws Error when a rate is not a positive finite number
 */
export async function resample(
  samples: Float32Array,
  fromRate: number,
  toRate: number,
): Promise<Float32Array> {
  if (!(fromRate > 0) || !(toRate > 0) || !Number.isFinite(fromRate) || !Number.isFinite(toRate)) {
    throw new RangeError(`resample: sample rates must be positive, got ${fromRate} Hz -> ${toRate} Hz`);
  }
  if (fromRate === toRate) return samples;
  const key = `${fromRate}->${toRate}`;
  let converter = converters.get(key);
  if (!converter) {
    // imported on first use: the package is 2 MB of JavaScript (its wasm inlined as a string), ≈ 0.15 s of
    // parsing and compiling that a process whose audio is already at the model rate never needs
    converter = import('@alexanderolsen/libsamplerate-js').then((m) => {
      // the CommonJS exports: `default` under Node's ESM loader, the namespace itself under tsx
      const { ConverterType, create } = (m.default ?? m) as typeof libsamplerate;
      return create(1, fromRate, toRate, { converterType: ConverterType.SRC_SINC_MEDIUM_QUALITY });
    });
    converters.set(key, converter);
  }
  return (await converter).simple(samples);
}

/** One libsamplerate converter per rate pair, kept for the life of the process (`simple` keeps no state). */
const converters = new Map<string, Promise<Converter>>();
