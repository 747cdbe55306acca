/**
 * SQLite implementation of the embedding cache (table `embedding_cache`, migration 001): one row per
 * (model sha256, audio sha256, chunking) with the clip's voice embeddings as a little-endian float32 BLOB.
 * The `chunking` column holds `<voice spec label>|<preprocessing label>` (see {@link EmbeddingCacheKey}), so rows
 * written before the preprocessing label existed, or under other VAD/front-end settings, never match.
 */
import type { EmbeddingCache, EmbeddingCacheKey } from '../features/embedding-cache.js';
import { Db, StoreError } from './db.js';

/** The `chunking` column's value for a key. */
const specColumn = (key: EmbeddingCacheKey): string => `${key.chunking}|${key.preprocessing}`;

interface Row {
  dim: number;
  count: number;
  embeddings: Buffer;
}

/** {@link EmbeddingCache} over a {@link Db}. */
export class SqliteEmbeddingCache implements EmbeddingCache {
  /** Rows read / written since construction (for tests and logs). */
  hits = 0;
  misses = 0;
  writes = 0;
  constructor(private readonly db: Db) {}

  /**
   * Open (or create) a database file and wrap it.
   * @throws StoreError when the file cannot be opened
   */
  static async open(path: string): Promise<SqliteEmbeddingCache> {
    return new SqliteEmbeddingCache(await Db.open(path));
  }

  /** The underlying database (close it with {@link close}). */
  get database(): Db {
    return this.db;
  }

  async get(key: EmbeddingCacheKey): Promise<Float32Array[] | undefined> {
    const row = await this.db.get<Row>(
      'SELECT dim, count, embeddings FROM embedding_cache WHERE model_sha256 = ? AND audio_sha256 = ? AND chunking = ?',
      [key.modelSha256, key.audioSha256, specColumn(key)],
    );
    if (!row) {
      this.misses++;
      return undefined;
    }
    if (row.count === 0) {
      this.hits++;
      return []; // a clip without speech: no voices (sqlite may hand back an empty BLOB as null)
    }
    if (row.embeddings.length !== row.dim * row.count * 4) {
      throw new StoreError(
        `${this.db.path}: embedding_cache row for audio ${key.audioSha256} has ${row.embeddings.length} bytes, expected ${row.dim * row.count * 4}`,
        { fault: 'corrupt' },
      );
    }
    this.hits++;
    const all = new Float32Array(row.dim * row.count);
    const view = new DataView(row.embeddings.buffer, row.embeddings.byteOffset, row.embeddings.byteLength);
    for (let i = 0; i < all.length; i++) all[i] = view.getFloat32(i * 4, true);
    return [...Array(row.count).keys()].map((k) => all.subarray(k * row.dim, (k + 1) * row.dim));
  }

  async put(key: EmbeddingCacheKey, embeddings: Float32Array[]): Promise<void> {
    const dim = embeddings[0]?.length ?? 0;
    const buf = Buffer.alloc(dim * embeddings.length * 4);
    embeddings.forEach((e, k) => {
      if (e.length !== dim)
        throw new StoreError(`embedding_cache: voice ${k} has ${e.length} dims, expected ${dim}`);
      for (let d = 0; d < dim; d++) buf.writeFloatLE(e[d], (k * dim + d) * 4);
    });
    await this.db.run(
      `INSERT OR REPLACE INTO embedding_cache (model_sha256, audio_sha256, chunking, dim, count, embeddings, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?)`,
      [
        key.modelSha256,
        key.audioSha256,
        specColumn(key),
        dim,
        embeddings.length,
        buf,
        new Date().toISOString(),
      ],
    );
    this.writes++;
  }

  /** Number of cached clips for one model (all voice specs). */
  async count(modelSha256: string): Promise<number> {
    const r = await this.db.get<{ n: number }>(
      'SELECT COUNT(*) AS n FROM embedding_cache WHERE model_sha256 = ?',
      [modelSha256],
    );
    return r?.n ?? 0;
  }

  async close(): Promise<void> {
    await this.db.close();
  }
}
