/**
 * The SLMIA-SR similarity features of one speaker (../shared/docs/slmia-sr-method.md; Chen et al., NDSS
 * 2024, Sec. IV): 24 intra-similarity features over the speaker's n voice embeddings and 96
 * inter-dissimilarity features against a bank of K reference (imposter) speakers with M voices in all.
 * Everything is float64 over flat typed arrays (row-major `[rows * dim]`), no per-pair objects.
 */
import { SlmiaError } from '../errors.js';
import { LIST_NAMES, NUM_FEATURES } from './names.js';
import { reduceGroups, summarizeInto } from './stats.js';

/** How embeddings are compared: cosine (dis = 1 − cos) or negative L2 distance (dis = ‖a − b‖₂). */
export type Similarity = 'cosine' | 'l2';

/** Too few voices (or an empty reference bank) for the features. */
export class FeatureError extends SlmiaError {
  constructor(detail: string) {
    super('features.invalid', detail);
  }
}

/** Options of {@link buildReferenceBank}. */
export interface ReferenceBankOptions {
  similarity: Similarity;
  /**
   * Embedding centring: subtract the mean of all reference voice embeddings from every embedding (reference
   * and audited) before the features. The mean is part of the bank, so it is fixed per model.
   */
  centre?: boolean;
  /** Use this vector as the reference mean (centring vector and norm origin) instead of the bank's own mean. */
  centreVector?: Float64Array;
}

/** A reference-speaker bank prepared for feature computation (see {@link buildReferenceBank}). */
export interface ReferenceBank {
  similarity: Similarity;
  /** Embedding dimension D. */
  dim: number;
  /** Reference speakers K. */
  speakers: number;
  /** Reference voices M (all speakers). */
  voices: number;
  /** `[K + 1]` start row of each speaker's voices in `voiceRows`. */
  offsets: Int32Array;
  /** `[M * D]` float64 prepared voice embeddings (centred; unit length for cosine). */
  voiceRows: Float64Array;
  /** `[K * D]` float64 reference centroids C_k (centred mean of raw voices; unit length for cosine). */
  centroidRows: Float64Array;
  /** `[D]` float64 centring vector (the reference mean), or undefined when not centring. */
  centre: Float64Array | undefined;
  /**
   * `[D]` float64 mean of the raw reference voice embeddings (the centring vector when given, else the bank's
   * own mean), always present: the embedding-norm statistics (src/features/calibrated.ts) are taken about it.
   */
  mean: Float64Array;
}

/** Copy `rows` into a flat `[rows * dim]` float64 matrix, minus `centre`. */
function toRows(
  rows: ArrayLike<number>[],
  dim: number,
  centre: Float64Array | undefined,
  what: string,
): Float64Array {
  const out = new Float64Array(rows.length * dim);
  rows.forEach((r, i) => {
    if (r.length !== dim) throw new FeatureError(`${what} ${i} has ${r.length} dimensions, expected ${dim}`);
    const o = i * dim;
    if (centre) for (let d = 0; d < dim; d++) out[o + d] = r[d] - centre[d];
    else for (let d = 0; d < dim; d++) out[o + d] = r[d];
  });
  return out;
}

/** Mean of rows [start, end) of a flat matrix into `out[o..o+dim)`. */
function meanRowsInto(
  m: Float64Array,
  dim: number,
  start: number,
  end: number,
  out: Float64Array,
  o: number,
): void {
  for (let d = 0; d < dim; d++) out[o + d] = 0;
  for (let r = start; r < end; r++) for (let d = 0; d < dim; d++) out[o + d] += m[r * dim + d];
  const n = end - start;
  for (let d = 0; d < dim; d++) out[o + d] /= n;
}

/** L2-normalise every row in place (a zero row stays zero). */
function normalizeRows(m: Float64Array, dim: number): void {
  for (let o = 0; o < m.length; o += dim) {
    let s = 0;
    for (let d = 0; d < dim; d++) s += m[o + d] * m[o + d];
    const inv = s > 0 ? 1 / Math.sqrt(s) : 0;
    for (let d = 0; d < dim; d++) m[o + d] *= inv;
  }
}

/**
 * `out[r * nb + c] = dis(a_r, b_c)` (or `sim` when `similarity` is true) for prepared rows.
 * Cosine rows are unit length: sim = a·b, dis = 1 − a·b. L2: sim = −‖a − b‖, dis = ‖a − b‖.
 */
function pairwise(
  a: Float64Array,
  na: number,
  b: Float64Array,
  nb: number,
  dim: number,
  kind: Similarity,
  similarity: boolean,
): Float64Array {
  const out = new Float64Array(na * nb);
  for (let r = 0; r < na; r++) {
    const ao = r * dim;
    for (let c = 0; c < nb; c++) {
      const bo = c * dim;
      let v = 0;
      if (kind === 'cosine') {
        for (let d = 0; d < dim; d++) v += a[ao + d] * b[bo + d];
        out[r * nb + c] = similarity ? v : 1 - v;
      } else {
        for (let d = 0; d < dim; d++) {
          const x = a[ao + d] - b[bo + d];
          v += x * x;
        }
        const dist = Math.sqrt(v);
        out[r * nb + c] = similarity ? -dist : dist;
      }
    }
  }
  return out;
}

/**
 * One row of {@link pairwise}: `out[c] = sim/dis(a_r, b_c)` for c in [from, nb), the same arithmetic in the same
 * order (so the values are bit-identical to the matrix's row r).
 */
function pairwiseInto(
  a: Float64Array,
  r: number,
  b: Float64Array,
  nb: number,
  dim: number,
  kind: Similarity,
  similarity: boolean,
  out: Float64Array,
  from = 0,
): void {
  const ao = r * dim;
  for (let c = from; c < nb; c++) {
    const bo = c * dim;
    let v = 0;
    if (kind === 'cosine') {
      for (let d = 0; d < dim; d++) v += a[ao + d] * b[bo + d];
      out[c] = similarity ? v : 1 - v;
    } else {
      for (let d = 0; d < dim; d++) {
        const x = a[ao + d] - b[bo + d];
        v += x * x;
      }
      const dist = Math.sqrt(v);
      out[c] = similarity ? -dist : dist;
    }
  }
}

/**
 * Prepare a reference bank: K reference speakers, each with ≥ 1 voice embedding (counts may differ, e.g.
 * after voice chunk splitting). Centroid C_k = mean of the speaker's raw (centred) voices, L2-normalised for
 * cosine.
 * @param speakers `[K][m_k][D]` embeddings
 * @throws FeatureError for no speakers, a speaker without voices, or mismatching dimensions
 */
export function buildReferenceBank(
  speakers: ArrayLike<number>[][],
  options: ReferenceBankOptions,
): ReferenceBank {
  if (speakers.length === 0) throw new FeatureError('reference bank: no reference speakers');
  const first = speakers[0][0];
  if (!first) throw new FeatureError('reference bank: reference speaker 0 has no voices');
  const dim = first.length;
  const offsets = new Int32Array(speakers.length + 1);
  speakers.forEach((s, k) => {
    if (s.length === 0) throw new FeatureError(`reference bank: reference speaker ${k} has no voices`);
    offsets[k + 1] = offsets[k] + s.length;
  });
  const all = speakers.flat();
  let mean = options.centreVector;
  if (!mean) {
    const raw = toRows(all, dim, undefined, 'reference voice');
    mean = new Float64Array(dim);
    meanRowsInto(raw, dim, 0, all.length, mean, 0);
  }
  const centre: Float64Array | undefined = options.centre ? mean : undefined;
  const voiceRows = toRows(all, dim, centre, 'reference voice');
  const centroidRows = new Float64Array(speakers.length * dim);
  for (let k = 0; k < speakers.length; k++)
    meanRowsInto(voiceRows, dim, offsets[k], offsets[k + 1], centroidRows, k * dim);
  if (options.similarity === 'cosine') {
    normalizeRows(voiceRows, dim);
    normalizeRows(centroidRows, dim);
  }
  return {
    similarity: options.similarity,
    dim,
    speakers: speakers.length,
    voices: all.length,
    offsets,
    voiceRows,
    centroidRows,
    centre,
    mean,
  };
}

/** Result of {@link computeFeatures}. */
export interface FeatureResult {
  /** `[120]` float64 in the order of FEATURE_NAMES. */
  features: Float64Array;
  /** The 30 lists before summarising (only with `lists: true`), keyed by LIST_NAMES. */
  lists?: Map<string, Float64Array>;
}

/**
 * Compute the 120 SLMIA-SR features of one speaker.
 * @param voices `[n][D]` voice embeddings of the audited speaker (n ≥ 2; chunks count as voices)
 * @param bank prepared reference bank (same model, same D)
 * @param options `lists: true` also returns the 30 intermediate lists (golden tests, debugging)
 * @throws FeatureError for n < 2 or a dimension mismatch
 */
export function computeFeatures(
  voices: ArrayLike<number>[],
  bank: ReferenceBank,
  options: { lists?: boolean } = {},
): FeatureResult {
  const n = voices.length;
  if (n < 2) throw new FeatureError(`intra-similarity features need at least 2 voices, got ${n}`);
  const { dim, similarity: kind } = bank;
  const K = bank.speakers;
  const M = bank.voices;
  const e = toRows(voices, dim, bank.centre, 'voice');
  const c = new Float64Array(dim);
  meanRowsInto(e, dim, 0, n, c, 0);
  if (kind === 'cosine') {
    normalizeRows(e, dim);
    normalizeRows(c, dim);
  }

  // Intra-similarity, one row of the n × n similarity matrix at a time (memory O(n), not O(n²): an audit of
  // thousands of voices must not hold their pair matrix). Same values, same summation order as summarising
  // the materialised lists: the pairs (i < j, row-major) are summed in a first pass and their squared
  // deviations in a second pass that recomputes the similarities.
  const toCentroid = pairwise(e, n, c, 1, dim, kind, true);
  const pairCount = (n * (n - 1)) / 2;
  const pairs = options.lists ? new Float64Array(pairCount) : undefined;
  const pairsByVoice: Float64Array[] = [0, 1, 2, 3].map(() => new Float64Array(n));
  const row = new Float64Array(n);
  const others = new Float64Array(n - 1); // row i: sim(e_i, e_j), j ≠ i
  const byVoice = new Float64Array(4);
  const pairSummary = new Float64Array(4);
  let pairSum = 0;
  let pairMax = -Infinity;
  let pairMin = Infinity;
  for (let i = 0, p = 0; i < n; i++) {
    pairwiseInto(e, i, e, n, dim, kind, true, row);
    for (let j = 0, o = 0; j < n; j++) if (j !== i) others[o++] = row[j];
    summarizeInto(others, 0, n - 1, 1, byVoice, 0);
    for (let k = 0; k < 4; k++) pairsByVoice[k][i] = byVoice[k];
    for (let j = i + 1; j < n; j++) {
      const v = row[j];
      if (pairs) pairs[p++] = v;
      pairSum += v;
      if (v > pairMax) pairMax = v;
      if (v < pairMin) pairMin = v;
    }
  }
  if (pairs) summarizeInto(pairs, 0, pairCount, 1, pairSummary, 0);
  else {
    const mean = pairSum / pairCount;
    let ss = 0;
    for (let i = 0; i < n - 1; i++) {
      pairwiseInto(e, i, e, n, dim, kind, true, row, i + 1);
      for (let j = i + 1; j < n; j++) {
        const d = row[j] - mean;
        ss += d * d;
      }
    }
    pairSummary.set([mean, Math.sqrt(ss / pairCount), pairMax, pairMin]);
  }

  // Inter-dissimilarity.
  const refcentroidCentroid = pairwise(bank.centroidRows, K, c, 1, dim, kind, false);
  const refvoiceCentroid = pairwise(bank.voiceRows, M, c, 1, dim, kind, false);
  const off = bank.offsets;
  const refvoiceCentroidByRef = reduceGroups(
    refvoiceCentroid,
    K,
    (k) => off[k],
    (k) => off[k + 1] - off[k],
    1,
  );
  const refcentroidVoice = pairwise(bank.centroidRows, K, e, n, dim, kind, false); // [K][n]
  const rcvByVoice = reduceGroups(
    refcentroidVoice,
    n,
    (i) => i,
    () => K,
    n,
  );
  const rcvByRef = reduceGroups(
    refcentroidVoice,
    K,
    (k) => k * n,
    () => n,
    1,
  );
  const refvoiceVoice = pairwise(bank.voiceRows, M, e, n, dim, kind, false); // [M][n]
  const rvvByVoice = reduceGroups(
    refvoiceVoice,
    n,
    (i) => i,
    () => M,
    n,
  );
  const rvvByRefvoice = reduceGroups(
    refvoiceVoice,
    M,
    (r) => r * n,
    () => n,
    1,
  );

  const lists: (Float64Array | undefined)[] = [
    toCentroid,
    pairs, // summarised above (pairSummary); only kept with `lists: true`
    ...pairsByVoice,
    refcentroidCentroid,
    refvoiceCentroid,
    ...refvoiceCentroidByRef,
    refcentroidVoice,
    ...rcvByVoice,
    ...rcvByRef,
    refvoiceVoice,
    ...rvvByVoice,
    ...rvvByRefvoice,
  ];
  const features = new Float64Array(NUM_FEATURES);
  lists.forEach((l, i) => {
    if (i === 1) features.set(pairSummary, 4);
    else summarizeInto(l as Float64Array, 0, (l as Float64Array).length, 1, features, i * 4);
  });
  if (!options.lists) return { features };
  return { features, lists: new Map(lists.map((l, i) => [LIST_NAMES[i], l as Float64Array])) };
}
