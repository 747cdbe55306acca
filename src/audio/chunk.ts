/**
 * Voice chunk splitting (SLMIA-SR enhancement 2, ../shared/docs/slmia-sr-method.md): cut one voice into
 * fixed-length chunks that the attack treats as separate voices.
 */

/**
 * Split a clip into chunks of `chunkSeconds`, hop `hopSeconds` (default: the chunk length).
 *
 * - A clip no longer than one chunk yields itself (one chunk, its own length).
 * - After the last whole chunk, a remainder shorter than half a chunk is dropped; a longer remainder is kept
 *   as one more chunk of full length that ends at the clip's end (so it overlaps the previous chunk).
 *   Every chunk of a clip longer than one chunk therefore has exactly `round(chunkSeconds * sampleRate)`
 *   samples, and chunks of many clips batch into one model query.
 *
 * @param samples `[numSamples] float32`
 * @param sampleRate Hz
 * @param chunkSeconds chunk length, seconds (> 0)
 * @param hopSeconds hop between chunk starts, seconds (> 0; default `chunkSeconds`)
 * @returns subarray views of `samples`
 * @throws RangeError for a non-positive chunk or hop length
 */
export function splitVoiceChunks(
  samples: Float32Array,
  sampleRate: number,
  chunkSeconds: number,
  hopSeconds: number = chunkSeconds,
): Float32Array[] {
  if (!(chunkSeconds > 0) || !(hopSeconds > 0)) {
    throw new RangeError(
      `voice chunk splitting: chunk ${chunkSeconds} s and hop ${hopSeconds} s must be > 0`,
    );
  }
  const len = Math.round(chunkSeconds * sampleRate);
  const hop = Math.max(1, Math.round(hopSeconds * sampleRate));
  if (samples.length <= len) return [samples];
  const chunks: Float32Array[] = [];
  let start = 0;
  for (; start + len <= samples.length; start += hop) chunks.push(samples.subarray(start, start + len));
  const covered = start - hop + len; // end of the last whole chunk
  const remainder = samples.length - covered;
  if (remainder * 2 >= len) chunks.push(samples.subarray(samples.length - len));
  return chunks;
}
