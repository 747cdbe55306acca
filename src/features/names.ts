/**
 * Stable names of the SLMIA-SR feature lists and of the 120 features (../shared/docs/slmia-sr-method.md):
 * 6 intra-similarity lists and 24 inter-dissimilarity lists, each summarised by [mean, std, max, min].
 */

/** The summary statistics of every list, in order. */
export const SUMMARY_STATS = ['mean', 'std', 'max', 'min'] as const;

/** The 6 intra-similarity lists (needs n ≥ 2 voices), in feature order. */
export const INTRA_LISTS = [
  'intra.to_centroid',
  'intra.pairs',
  'intra.pairs.by_voice.mean',
  'intra.pairs.by_voice.std',
  'intra.pairs.by_voice.max',
  'intra.pairs.by_voice.min',
] as const;

function reduced(base: string, axis: string): string[] {
  return SUMMARY_STATS.map((s) => `${base}.${axis}.${s}`);
}

/** The 24 inter-dissimilarity lists, in feature order. */
export const INTER_LISTS: readonly string[] = [
  'inter.refcentroid_centroid',
  'inter.refvoice_centroid',
  ...reduced('inter.refvoice_centroid', 'by_ref'),
  'inter.refcentroid_voice',
  ...reduced('inter.refcentroid_voice', 'by_voice'),
  ...reduced('inter.refcentroid_voice', 'by_ref'),
  'inter.refvoice_voice',
  ...reduced('inter.refvoice_voice', 'by_voice'),
  ...reduced('inter.refvoice_voice', 'by_refvoice'),
];

/** All 30 list names (intra then inter). */
export const LIST_NAMES: readonly string[] = [...INTRA_LISTS, ...INTER_LISTS];

/** Number of intra-similarity features (6 lists × 4). */
export const NUM_INTRA_FEATURES = INTRA_LISTS.length * SUMMARY_STATS.length;
/** Number of features (24 intra + 96 inter = 120). */
export const NUM_FEATURES = LIST_NAMES.length * SUMMARY_STATS.length;

/** The 120 feature names, e.g. `intra.pairs.mean`, `inter.refvoice_voice.by_voice.min.std`. */
export const FEATURE_NAMES: readonly string[] = LIST_NAMES.flatMap((l) =>
  SUMMARY_STATS.map((s) => `${l}.${s}`),
);

/**
 * Index of a feature by name.
 * @throws RangeError for an unknown name
 */
export function featureIndex(name: string): number {
  const i = FEATURE_NAMES.indexOf(name);
  if (i < 0) throw new RangeError(`unknown SLMIA-SR feature "${name}"`);
  return i;
}

/**
 * Feature selection by name prefixes (e.g. `intra`, `inter.refcentroid_centroid`, `all`).
 * @returns ascending feature indices
 * @throws RangeError when a prefix matches no feature
 */
export function featuresByPrefix(prefixes: string[]): number[] {
  const out = new Set<number>();
  for (const p of prefixes) {
    const hits = FEATURE_NAMES.flatMap((n, i) =>
      p === 'all' || n === p || n.startsWith(`${p}.`) ? [i] : [],
    );
    if (!hits.length) throw new RangeError(`feature selection: "${p}" matches no SLMIA-SR feature`);
    hits.forEach((i) => out.add(i));
  }
  return [...out].sort((a, b) => a - b);
}
