/**
 * The embedding-cache interface: reference-speaker (and lab) embeddings are computed once per
 * (model sha256, audio sha256, chunking, preprocessing) and reused. Defined here, low in the pipeline; the SQLite
 * implementation lives in src/store/embedding-cache.ts and is wired in by the CLI and the daemon.
 */

/** Key of one cached clip: the model pin, the audio file's SHA-256, the voice spec and preprocessing labels. */
export interface EmbeddingCacheKey {
  modelSha256: string;
  audioSha256: string;
  /** {@link voiceSpecLabel} of the voice spec, e.g. `chunk=2.000,pad=wrap`. */
  chunking: string;
  /**
   * `preprocessingLabel` (src/model/pipeline.ts) of the model and VAD settings (VAD, resolved front-end, code revision): embeddings
   * made with other settings are never served.
   */
  preprocessing: string;
}

/** A store of per-clip voice embeddings (`[voices][D] float32`). */
export interface EmbeddingCache {
  get(key: EmbeddingCacheKey): Promise<Float32Array[] | undefined>;
  put(key: EmbeddingCacheKey, embeddings: Float32Array[]): Promise<void>;
}

/** An in-memory cache (tests, one-off runs without a database). */
export class MemoryEmbeddingCache implements EmbeddingCache {
  private readonly map = new Map<string, Float32Array[]>();
  private id(k: EmbeddingCacheKey): string {
    return `${k.modelSha256}|${k.audioSha256}|${k.chunking}|${k.preprocessing}`;
  }
  async get(key: EmbeddingCacheKey): Promise<Float32Array[] | undefined> {
    return this.map.get(this.id(key));
  }
  async put(key: EmbeddingCacheKey, embeddings: Float32Array[]): Promise<void> {
    this.map.set(this.id(key), embeddings);
  }
}
